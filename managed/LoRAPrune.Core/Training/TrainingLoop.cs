// TrainingLoop.cs — what every training run (finetune, pretrain) does the same way around its Trainer:
// refuse to overwrite another run's output folder or to resume a different run, note a resume on another
// backend, and the step loop with metrics.jsonl, held-out loss, periodic checkpoints and stop requests.
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoRAPrune.Core.Training;

public static class TrainingLoop
{
    /// <summary>Checkpoint metadata key of the run identity (JSON), compared on resume.</summary>
    public const string RunMetadataKey = "loraprune.run";

    /// <summary>Checkpoint metadata key of the session record (JSON: device, files, output), informational.</summary>
    public const string SessionMetadataKey = "loraprune.session";

    /// <summary>How one session of the loop ended.</summary>
    /// <param name="Completed">All steps done (the final checkpoint is written); false when stopped early (checkpoint written).</param>
    /// <param name="LastStep">The report of the last step of this session, if it ran one.</param>
    /// <param name="EvalLoss">The last held-out loss measured, if any (always measured at the end of a completed run).</param>
    /// <param name="Tokens">Tokens fed during this session.</param>
    /// <param name="StepSeconds">Time spent inside optimizer steps during this session.</param>
    /// <param name="Seconds">Wall time of this session's loop.</param>
    public sealed record Result(bool Completed, StepReport? LastStep, double? EvalLoss, long Tokens, double StepSeconds, double Seconds)
    {
        /// <summary>Tokens fed per second of step time.</summary>
        public double TokensPerSecond => StepSeconds > 0 ? Tokens / StepSeconds : 0;
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

    /// <summary>Runs steps until the trainer completes or <paramref name="stop"/> is signalled (checked after each
    /// step, which is finished first). Appends metrics.jsonl in <paramref name="outputFolder"/>, measures the held-out
    /// loss every <paramref name="evalEvery"/> steps and at the end, and calls <paramref name="saveCheckpoint"/> every
    /// <paramref name="saveEvery"/> steps, on a stop and once at the end.</summary>
    public static Result Run(Trainer trainer, string outputFolder, Func<double>? measureEval, int evalEvery, int saveEvery, Action saveCheckpoint,
                             Action<StepReport, double?>? onStep, CancellationToken stop)
    {
        Directory.CreateDirectory(outputFolder);
        using MetricsLog metrics = MetricsLog.Open(Path.Combine(outputFolder, MetricsLog.FileName), trainer.Step);
        var clock = Stopwatch.StartNew();
        StepReport? last = null;
        double? evalLoss = null;
        long evalStep = -1, tokens = 0;
        double stepSeconds = 0;
        while (!trainer.IsComplete)
        {
            StepReport report = trainer.RunStep();
            last = report;
            tokens += report.Tokens;
            stepSeconds += report.Seconds;
            double? eval = null;
            if (measureEval is not null && evalEvery > 0 && report.Step % evalEvery == 0)
            {
                eval = evalLoss = measureEval();
                evalStep = report.Step;
            }
            metrics.Append(report, clock.Elapsed.TotalSeconds, eval);
            onStep?.Invoke(report, eval);
            if (stop.IsCancellationRequested && !trainer.IsComplete)
            {
                saveCheckpoint();
                return new Result(false, last, evalLoss, tokens, stepSeconds, clock.Elapsed.TotalSeconds);
            }
            if (saveEvery > 0 && report.Step % saveEvery == 0 && !trainer.IsComplete) saveCheckpoint();
        }
        if (measureEval is not null && evalStep != trainer.Step) evalLoss = measureEval();
        saveCheckpoint();
        return new Result(true, last, evalLoss, tokens, stepSeconds, clock.Elapsed.TotalSeconds);
    }
}
