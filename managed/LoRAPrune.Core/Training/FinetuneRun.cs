// FinetuneRun.cs — one `loraprune finetune` run: frozen base + LoRA (the only gradients allocated), the
// Trainer loop, metrics.jsonl, atomic checkpoints and the final PEFT adapter. The constructor checks and
// loads everything before a file is written, so bad input leaves the output folder untouched.
using System.Text.Json.Nodes;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Training;

/// <summary>How a run (or one session of it) ended.</summary>
/// <param name="Completed">All steps done and the adapter written; false when stopped early (checkpoint written).</param>
/// <param name="StartStep">Completed steps when this session began (non-zero after a resume).</param>
/// <param name="Step">Completed steps now.</param>
/// <param name="LastStep">The report of the last step of this session, if it ran one.</param>
/// <param name="EvalLoss">The last held-out loss measured, if any.</param>
/// <param name="TokensPerSecond">Tokens fed per second of step time over this session.</param>
public sealed record FinetuneOutcome(bool Completed, long StartStep, long Step, long TotalSteps, StepReport? LastStep, double? EvalLoss,
    double TokensPerSecond, double Seconds, string CheckpointPath, string? AdapterFolder);

public sealed class FinetuneRun : IDisposable
{
    public const string AdapterFolderName = "adapter";
    public const string RunMetadataKey = TrainingLoop.RunMetadataKey;
    public const string SessionMetadataKey = TrainingLoop.SessionMetadataKey;

    private readonly FinetuneSettings _settings;
    private readonly ISampleSource? _eval;
    private readonly JsonObject _identity;
    private readonly string _dataDescription;
    private readonly List<IDisposable> _owned = new();
    private readonly LoraAdapters _lora;
    private readonly LlamaGraph _graph;
    private readonly Trainer _trainer;
    private readonly List<string> _warnings = new();

    public FinetuneRun(Context context, FinetuneSettings settings, ISampleSource train, ISampleSource? eval)
    {
        settings.Validate();
        if (train.SequenceLength != settings.Seq)
            throw new TrainingSetupException($"{train.Description}: samples hold {train.SequenceLength} tokens, --seq is {settings.Seq}");
        if (eval is not null && eval.SequenceLength != settings.Seq)
            throw new TrainingSetupException($"{eval.Description}: samples hold {eval.SequenceLength} tokens, --seq is {settings.Seq}");
        if (eval is { Count: 0 }) throw new TrainingSetupException($"{eval.Description}: the evaluation data has no samples");
        if (!Directory.Exists(settings.ModelFolder))
            throw new TrainingSetupException($"--model: folder {settings.ModelFolder} does not exist");
        TrainingLoop.CheckOutputFolder(settings.OutputFolder, settings.Resume, settings.CheckpointPath);
        _settings = settings;
        _eval = eval;

        using LlamaCheckpoint model = LlamaCheckpoint.Open(settings.ModelFolder);
        Config = model.Config;
        PeftAdapter? init = LoadInitAdapter(settings, Config);
        LoraOptions lora = init is null
            ? settings.Lora
            : new LoraOptions { Rank = init.Config.Rank, Alpha = init.Config.Alpha, Dropout = settings.Lora.Dropout, Targets = init.Config.TargetModules };
        TrainerOptions options = settings.TrainerOptions(train.Count);
        _identity = settings.Identity(Config, lora, FinetuneData.ContentHash(train), train.Count, options);
        _dataDescription = train.Description;

        TrainingCheckpoint? checkpoint = null;
        try
        {
            if (settings.Resume)
            {
                checkpoint = TrainingCheckpoint.Open(settings.CheckpointPath);
                TrainingLoop.CheckSameRun(settings.CheckpointPath, checkpoint.Metadata.GetValueOrDefault(RunMetadataKey), _identity);
                if (TrainingLoop.DeviceChangeWarning(checkpoint, settings.Device) is { } warning) _warnings.Add(warning);
            }
            var weights = Own(LlamaWeights.Load(context, model, settings.BaseDType));
            _lora = Own(init is null
                ? LoraAdapters.Create(context, Config, lora, LoraSeed(settings.Seed))
                : LoraAdapters.FromPeft(context, Config, init, init.Config with { Dropout = lora.Dropout }));
            _graph = Own(new LlamaGraph(weights, _lora, null, settings.MicroBatch, settings.Seq));
            _trainer = Own(new Trainer(_graph, [new TrainableArena(_lora.Params, _lora.Grads)], train, new DataCursor(train.Count, settings.Seed), options));
            checkpoint?.Restore(_trainer);
        }
        catch
        {
            Dispose();
            throw;
        }
        finally
        {
            checkpoint?.Dispose();
        }
        StartStep = _trainer.Step;
    }

    public LlamaConfig Config { get; }
    public long StartStep { get; }
    public long TotalSteps => _trainer.Options.MaxSteps;
    public Trainer Trainer => _trainer;
    public LoraAdapters Lora => _lora;

    /// <summary>Things the user should know that do not stop the run (e.g. resuming on another backend).</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    public string CheckpointPath => Path.Combine(_settings.OutputFolder, TrainingCheckpoint.FileName);
    public string AdapterFolder => Path.Combine(_settings.OutputFolder, AdapterFolderName);

    private T Own<T>(T item) where T : IDisposable
    {
        _owned.Add(item);
        return item;
    }

    private static int LoraSeed(ulong seed) => unchecked((int)(seed ^ (seed >> 32)));

    private static PeftAdapter? LoadInitAdapter(FinetuneSettings s, LlamaConfig config)
    {
        if (s.InitAdapter is null) return null;
        if (!Directory.Exists(s.InitAdapter)) throw new TrainingSetupException($"--init-adapter: folder {s.InitAdapter} does not exist");
        return PeftAdapter.Load(s.InitAdapter, config);
    }

    /// <summary>Trains until the last step or until <paramref name="stop"/> is signalled (checked after each step,
    /// which is finished first); writes metrics per step, checkpoints, and at the end the PEFT adapter.</summary>
    public FinetuneOutcome Run(Action<StepReport, double?>? onStep, CancellationToken stop)
    {
        TrainingLoop.Result result = TrainingLoop.Run(_trainer, _settings.OutputFolder, _eval is null ? null : MeasureEval, _settings.EvalEvery,
            _settings.SaveEvery, SaveCheckpoint, onStep, stop);
        if (result.Completed) _lora.ToPeft(Path.GetFullPath(_settings.ModelFolder)).Save(AdapterFolder);
        return new FinetuneOutcome(result.Completed, StartStep, _trainer.Step, TotalSteps, result.LastStep, result.EvalLoss, result.TokensPerSecond,
            result.Seconds, CheckpointPath, result.Completed ? AdapterFolder : null);
    }

    /// <summary>Mean token NLL over the held-out data (no dropout).</summary>
    public double MeasureEval() =>
        _eval is null ? throw new InvalidOperationException("this run has no evaluation data") : HeldOutLoss.Measure(_graph, _eval).Mean;

    /// <summary>Writes checkpoint.safetensors in the output folder atomically (replacing the previous one).</summary>
    public void SaveCheckpoint()
    {
        Directory.CreateDirectory(_settings.OutputFolder);
        TrainingCheckpoint.Save(CheckpointPath, _trainer, new Dictionary<string, string>
        {
            [RunMetadataKey] = _identity.ToJsonString(),
            [SessionMetadataKey] = _settings.Session(_dataDescription).ToJsonString(),
        });
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }
}
