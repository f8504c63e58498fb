// TrainingRun.cs — what every training run (finetune, pretrain, prune) does the same way around its Trainer:
// refuse to overwrite another run's output folder or to resume a different run, note a resume on another
// backend, then the step loop with metrics.jsonl, held-out loss, periodic checkpoints and stop requests, and
// one outcome record. A command supplies its model, its identity and what it writes when the run completes.
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;

namespace LoRAPrune.Core.Training;

/// <summary>How a run (or one session of it) ended.</summary>
/// <param name="Completed">All steps done and the final output written; false when stopped early (checkpoint written).</param>
/// <param name="StartStep">Completed steps when this session began (non-zero after a resume).</param>
/// <param name="Step">Completed steps now.</param>
/// <param name="LastStep">The report of the last step of this session, if it ran one.</param>
/// <param name="EvalLoss">The last held-out loss measured, if any (at the final weights when completed).</param>
/// <param name="TokensPerSecond">Tokens fed per second of step time over this session.</param>
/// <param name="Seconds">Wall time of this session's loop.</param>
/// <param name="OutputPath">What the completed run wrote (adapter or model folder); null when stopped early.</param>
public sealed record TrainingOutcome(bool Completed, long StartStep, long Step, long TotalSteps, StepReport? LastStep, double? EvalLoss,
    double TokensPerSecond, double Seconds, string CheckpointPath, string? OutputPath);

public abstract class TrainingRun : IDisposable
{
    /// <summary>Checkpoint metadata key of the run identity (JSON), compared on resume.</summary>
    public const string RunMetadataKey = "loraprune.run";

    /// <summary>Checkpoint metadata key of the session record (JSON: device, files, output), informational.</summary>
    public const string SessionMetadataKey = "loraprune.session";

    private readonly List<IDisposable> _owned = new();
    private readonly List<string> _warnings = new();
    private Trainer? _trainer;

    /// <summary>Checks the output folder (nothing is written before the whole run is set up).</summary>
    protected TrainingRun(RunSettings settings, ISampleSource? eval)
    {
        settings.Validate();
        if (eval is { Count: 0 }) throw new TrainingSetupException($"{eval.Description}: the evaluation data has no samples");
        CheckOutputFolder(settings.OutputFolder, settings.Resume, settings.CheckpointPath);
        Settings = settings;
        EvalData = eval;
    }

    public RunSettings Settings { get; }
    protected ISampleSource? EvalData { get; }

    /// <summary>The optimizer loop; set by the command once its model is built (prune replaces it after a compaction).</summary>
    public Trainer Trainer
    {
        get => _trainer ?? throw new InvalidOperationException("the run has no trainer yet");
        protected set => _trainer = value;
    }

    /// <summary>The trainer, or null before one is set (for disposal on a failed setup).</summary>
    protected Trainer? TrainerOrNull => _trainer;

    /// <summary>The graph the held-out loss is measured with (no dropout at evaluation).</summary>
    protected abstract LlamaGraph Graph { get; }

    /// <summary>The run identity (see RunSettings.Identity), stored in every checkpoint.</summary>
    protected JsonObject Identity { get; set; } = new();

    public string TrainDescription => Trainer.Data.Description;
    public string? EvalDescription => EvalData?.Description;

    public long StartStep { get; private set; }
    public long TotalSteps => Trainer.Options.MaxSteps;
    public string CheckpointPath => Settings.CheckpointPath;

    /// <summary>Things the user should know that do not stop the run (e.g. resuming on another backend).</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    protected T Own<T>(T item) where T : IDisposable
    {
        _owned.Add(item);
        return item;
    }

    /// <summary>For a resume: the checkpoint in the output folder, checked to belong to a run with <see cref="Identity"/>
    /// (the caller disposes it); null for a fresh run.</summary>
    protected TrainingCheckpoint? OpenCheckpoint()
    {
        if (!Settings.Resume) return null;
        TrainingCheckpoint checkpoint = TrainingCheckpoint.Open(Settings.CheckpointPath);
        try
        {
            CheckSameRun(Settings.CheckpointPath, checkpoint.Metadata.GetValueOrDefault(RunMetadataKey), Identity);
            if (DeviceChangeWarning(checkpoint, Settings.Device) is { } warning) _warnings.Add(warning);
            return checkpoint;
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>Reports the work after the last step ("stage", fraction done) to the console; may be null.</summary>
    public Action<string, double>? StageProgress { get; set; }

    /// <summary>Marks the trainer's current step as where this session starts.</summary>
    protected void Started() => StartStep = Trainer.Step;

    /// <summary>Runs one optimizer step (prune adds its pruning work around it).</summary>
    protected virtual StepReport Step() => Trainer.RunStep();

    /// <summary>Extra fields of a step's metrics.jsonl line (prune: sparsity, prune events).</summary>
    protected virtual JsonObject? StepMetrics(StepReport report) => null;

    /// <summary>The session record stored in checkpoints (informational).</summary>
    protected abstract JsonObject Session();

    /// <summary>Checkpoint metadata beyond the identity and session (pretrain: the command history).</summary>
    protected virtual IEnumerable<KeyValuePair<string, string>> ExtraMetadata() => [];

    /// <summary>State beyond the trainer's arenas that a checkpoint must hold (prune: importance, kept indices).</summary>
    protected virtual void AddCheckpointState(SafetensorsWriter writer) { }

    /// <summary>Writes what the completed run produces and returns its path.</summary>
    protected abstract string Complete(RunResult result);

    /// <summary>What the step loop measured over this session.</summary>
    public sealed record RunResult(StepReport? LastStep, double? EvalLoss, long Tokens, double StepSeconds, double Seconds)
    {
        public double TokensPerSecond => StepSeconds > 0 ? Tokens / StepSeconds : 0;
    }

    /// <summary>Mean token NLL over the held-out data (no dropout).</summary>
    public double MeasureEval() =>
        EvalData is null ? throw new InvalidOperationException("this run has no evaluation data") : HeldOutLoss.Measure(Graph, EvalData).Mean;

    /// <summary>Runs steps until the trainer completes or <paramref name="stop"/> is signalled (checked after each
    /// step, which is finished first). Appends metrics.jsonl, measures the held-out loss every EvalEvery steps and at
    /// the end, checkpoints every SaveEvery steps, on a stop and at the end, then writes the run's output.</summary>
    public TrainingOutcome Run(Action<StepReport, double?>? onStep, CancellationToken stop)
    {
        Directory.CreateDirectory(Settings.OutputFolder);
        var clock = Stopwatch.StartNew();
        StepReport? last = null;
        double? evalLoss = null;
        long evalStep = -1, tokens = 0;
        double stepSeconds = 0;
        using (MetricsLog metrics = MetricsLog.Open(Path.Combine(Settings.OutputFolder, MetricsLog.FileName), Trainer.Step))
        {
            while (!Trainer.IsComplete)
            {
                StepReport report = Step();
                last = report;
                tokens += report.Tokens;
                stepSeconds += report.Seconds;
                double? eval = null;
                if (EvalData is not null && Settings.EvalEvery > 0 && report.Step % Settings.EvalEvery == 0)
                {
                    eval = evalLoss = MeasureEval();
                    evalStep = report.Step;
                }
                metrics.Append(report, clock.Elapsed.TotalSeconds, eval, StepMetrics(report));
                onStep?.Invoke(report, eval);
                if (stop.IsCancellationRequested && !Trainer.IsComplete)
                {
                    SaveCheckpoint();
                    return Outcome(false, new RunResult(last, evalLoss, tokens, stepSeconds, clock.Elapsed.TotalSeconds), null);
                }
                if (Settings.SaveEvery > 0 && report.Step % Settings.SaveEvery == 0 && !Trainer.IsComplete) SaveCheckpoint();
            }
        }
        if (EvalData is not null && evalStep != Trainer.Step) evalLoss = MeasureEval();
        SaveCheckpoint();
        var result = new RunResult(last, evalLoss, tokens, stepSeconds, clock.Elapsed.TotalSeconds);
        return Outcome(true, result, Complete(result));
    }

    private TrainingOutcome Outcome(bool completed, RunResult r, string? output) =>
        new(completed, StartStep, Trainer.Step, TotalSteps, r.LastStep, r.EvalLoss, r.TokensPerSecond, r.Seconds, CheckpointPath, output);

    /// <summary>Writes checkpoint.safetensors in the output folder atomically (replacing the previous one).</summary>
    public void SaveCheckpoint()
    {
        Directory.CreateDirectory(Settings.OutputFolder);
        var metadata = new Dictionary<string, string>
        {
            [RunMetadataKey] = Identity.ToJsonString(),
            [SessionMetadataKey] = Session().ToJsonString(),
        };
        foreach ((string key, string value) in ExtraMetadata()) metadata[key] = value;
        TrainingCheckpoint.Save(CheckpointPath, Trainer, metadata, AddCheckpointState);
    }

    /// <summary>Refuses to resume without a checkpoint, and to start a new run in a folder that already holds one.</summary>
    public static void CheckOutputFolder(string outputFolder, bool resume, string checkpointPath)
    {
        if (resume && !File.Exists(checkpointPath))
            throw new TrainingSetupException($"--resume: no {TrainingCheckpoint.FileName} in {Path.GetDirectoryName(Path.GetFullPath(checkpointPath))} (nothing to resume)");
        string outCheckpoint = Path.Combine(outputFolder, TrainingCheckpoint.FileName);
        bool resumesHere = resume && Path.GetFullPath(checkpointPath) == Path.GetFullPath(outCheckpoint);
        if (!resumesHere && (File.Exists(outCheckpoint) || File.Exists(Path.Combine(outputFolder, MetricsLog.FileName))))
            throw new TrainingSetupException($"--out: {outputFolder} already holds a run ({TrainingCheckpoint.FileName} or {MetricsLog.FileName}); pass --resume to continue it, or choose another --out");
    }

    /// <summary>Throws naming the first identity field whose stored value differs from this run's.</summary>
    public static void CheckSameRun(string checkpointPath, string? storedJson, JsonObject current)
    {
        if (storedJson is null)
            throw new TrainingSetupException($"{checkpointPath}: the checkpoint does not record its run settings; it cannot be resumed safely");
        JsonObject stored;
        try
        {
            stored = JsonNode.Parse(storedJson) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException ex)
        {
            throw new TrainingSetupException($"{checkpointPath}: the recorded run settings are not valid JSON ({ex.Message})");
        }
        foreach ((string key, JsonNode? value) in current)
        {
            string now = value?.ToJsonString() ?? "null";
            string then = stored.TryGetPropertyValue(key, out JsonNode? old) ? old?.ToJsonString() ?? "null" : "(not recorded)";
            if (now != then)
                throw new TrainingSetupException($"--resume: the checkpoint in {Path.GetDirectoryName(Path.GetFullPath(checkpointPath))} was made with {key} = {then}, this run has {key} = {now}");
        }
    }

    /// <summary>A warning when the checkpoint's session ran on another backend than <paramref name="device"/>, else null.</summary>
    public static string? DeviceChangeWarning(TrainingCheckpoint checkpoint, string device)
    {
        string? before = null;
        try
        {
            if (checkpoint.Metadata.GetValueOrDefault(SessionMetadataKey) is { } json && JsonNode.Parse(json) is JsonObject session &&
                session["device"] is JsonValue value) value.TryGetValue(out before);
        }
        catch (JsonException)
        {
            return null; // the session record is informational only
        }
        return before is not null && before != device
            ? $"the checkpoint was written on {before}, this session runs on {device}: the result will be close to, not bit-identical with, an uninterrupted run"
            : null;
    }

    public virtual void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
        GC.SuppressFinalize(this);
    }
}
