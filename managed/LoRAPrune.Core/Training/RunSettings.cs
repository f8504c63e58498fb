// RunSettings.cs — what every training command (finetune, pretrain, prune) is asked to do the same way:
// training and held-out data, step budget, batch split, learning-rate schedule, clipping, seed, checkpoints,
// resume and backend. Declared once so the commands cannot drift apart; each command adds its own settings.
using System.Text.Json.Nodes;

namespace LoRAPrune.Core.Training;

/// <summary>Where a run's samples come from: <see cref="Kind"/> "text" (files or split names such as sotu:train,
/// joined and cut into blocks), "tokens" (one pre-tokenized file) or "alpaca" (one instruction JSONL file).</summary>
public sealed record DataSpec(string Kind, IReadOnlyList<string> Sources)
{
    public const string Text = "text", Tokens = "tokens", Alpaca = "alpaca";

    public static readonly IReadOnlyList<string> Kinds = [Text, Tokens, Alpaca];

    /// <summary>True when the data has to be tokenized (text or Alpaca records).</summary>
    public bool NeedsTokenizer => Kind != Tokens;

    /// <summary>Throws <see cref="TrainingSetupException"/> for an unknown kind, no source, or several sources of a one-file kind.</summary>
    public void Validate()
    {
        if (!Kinds.Contains(Kind)) throw new TrainingSetupException($"unknown data kind '{Kind}' (expected {string.Join(", ", Kinds)})");
        if (Sources.Count == 0) throw new TrainingSetupException("no training data: give --data FILE|SPLIT..., --tokens FILE or --alpaca FILE");
        if (Kind != Text && Sources.Count != 1) throw new TrainingSetupException($"--{Kind} takes one file, got {Sources.Count}");
    }
}

public sealed record RunSettings
{
    /// <summary>The run's folder: checkpoint.safetensors, metrics.jsonl and what the command writes at the end.</summary>
    public required string OutputFolder { get; init; }

    public required DataSpec Data { get; init; }

    /// <summary>Held-out data of the same kind as <see cref="Data"/> (a file, or a split name for text); its loss is
    /// measured every <see cref="EvalEvery"/> steps and at the end.</summary>
    public string? EvalData { get; init; }
    public int EvalEvery { get; init; }

    /// <summary>The corpus cache holding the named splits (null: LORAPRUNE_CACHE, else ~/.cache/loraprune).</summary>
    public string? CacheFolder { get; init; }

    /// <summary>Optimizer steps; when null, <see cref="Epochs"/> passes over the data (rounded up to whole steps).</summary>
    public long? Steps { get; init; }
    public double? Epochs { get; init; }
    public int Batch { get; init; } = 16;
    public int MicroBatch { get; init; } = 4;
    public int Seq { get; init; } = 256;
    public double LearningRate { get; init; } = 1e-4;
    public long WarmupSteps { get; init; }
    public double MaxGradNorm { get; init; } = 1.0;
    public ulong Seed { get; init; } = 42;

    /// <summary>The dtype of the stored activations (f32 or bf16); null for the backend's default (LlamaGraph.DefaultActivations:
    /// bf16 on the CUDA backends, f32 on cpu). Not part of the run's identity: a run may resume with another.</summary>
    public Native.LpDType? Activations { get; init; }

    /// <summary>Checkpoint every this many steps (0: only on interrupt and at the end).</summary>
    public int SaveEvery { get; init; }

    /// <summary>Continue the run whose checkpoint is in <see cref="OutputFolder"/>.</summary>
    public bool Resume { get; init; }

    /// <summary>Name of the backend the run uses (informational: resuming on another backend is allowed but not bit-exact).</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>The command line of this session as typed ("loraprune prune ..."), kept in recipes and reports.</summary>
    public string CommandLine { get; init; } = "";

    public string CheckpointPath => Path.Combine(OutputFolder, TrainingCheckpoint.FileName);

    /// <summary>Checks the settings that need no files; throws <see cref="TrainingSetupException"/>.</summary>
    public void Validate()
    {
        Data.Validate();
        if (Steps is < 1) throw new TrainingSetupException($"--steps must be at least 1, got {Steps}");
        if (Epochs is { } e && !(e > 0 && double.IsFinite(e))) throw new TrainingSetupException($"--epochs must be a positive number, got {e}");
        if (Steps is not null && Epochs is not null) throw new TrainingSetupException("give --steps or --epochs, not both");
        if (MicroBatch < 1) throw new TrainingSetupException($"--micro-batch must be at least 1, got {MicroBatch}");
        if (Batch < 1 || Batch % MicroBatch != 0)
            throw new TrainingSetupException($"--batch {Batch} must be a positive multiple of --micro-batch {MicroBatch}");
        if (Seq < 2) throw new TrainingSetupException($"--seq must be at least 2, got {Seq}");
        if (!(LearningRate >= 0 && double.IsFinite(LearningRate))) throw new TrainingSetupException($"--lr must be a finite number >= 0, got {LearningRate}");
        if (WarmupSteps < 0) throw new TrainingSetupException($"--warmup-steps must not be negative, got {WarmupSteps}");
        if (!(MaxGradNorm >= 0)) throw new TrainingSetupException($"--max-grad-norm must be >= 0 (0 turns clipping off), got {MaxGradNorm}");
        if (SaveEvery < 0) throw new TrainingSetupException($"--save-every must not be negative, got {SaveEvery}");
        if (EvalEvery < 0) throw new TrainingSetupException($"--eval-every must not be negative, got {EvalEvery}");
    }

    /// <summary>Optimizer steps of the run for a data set of <paramref name="samples"/> samples.</summary>
    public long TotalSteps(int samples) => Steps ?? Math.Max(1, (long)Math.Ceiling((Epochs ?? 1.0) * samples / Batch));

    /// <summary>The optimizer-loop settings for a data set of <paramref name="samples"/> samples, with Hugging Face
    /// Trainer's AdamW defaults (betas 0.9/0.999, eps 1e-8, no weight decay); a command overrides what it changes.</summary>
    public TrainerOptions TrainerOptions(int samples) => new()
    {
        MicroBatch = MicroBatch,
        GradAccum = Batch / MicroBatch,
        MaxSteps = TotalSteps(samples),
        LearningRate = LearningRate,
        WarmupSteps = WarmupSteps,
        MaxGradNorm = MaxGradNorm,
        Seed = Seed,
    };

    /// <summary>The run identity: the settings that decide the numbers, stored in every checkpoint and compared on resume.
    /// <paramref name="kind"/> names the command; <paramref name="specific"/> adds the command's own settings.</summary>
    public JsonObject Identity(string kind, string dataHash, int samples, TrainerOptions trainer, JsonObject specific)
    {
        var identity = new JsonObject
        {
            ["kind"] = kind,
            ["data_kind"] = Data.Kind,
            ["data_sha256"] = dataHash,
            ["samples"] = samples,
            ["seq"] = Seq,
            ["steps"] = trainer.MaxSteps,
            ["batch"] = Batch,
            ["micro_batch"] = MicroBatch,
            ["lr"] = trainer.LearningRate,
            ["warmup_steps"] = trainer.WarmupSteps,
            ["max_grad_norm"] = trainer.MaxGradNorm,
            ["adam_betas"] = new JsonArray(trainer.Beta1, trainer.Beta2),
            ["adam_eps"] = trainer.Epsilon,
            ["weight_decay"] = trainer.WeightDecay,
            ["seed"] = Seed,
        };
        foreach ((string key, JsonNode? value) in specific) identity[key] = value?.DeepClone();
        return identity;
    }

    /// <summary>Settings that may change between sessions of one run (stored for the record only).</summary>
    public JsonObject Session(string dataDescription, JsonObject? specific = null)
    {
        var session = new JsonObject
        {
            ["data"] = dataDescription,
            ["data_specs"] = new JsonArray(Data.Sources.Select(d => (JsonNode)d).ToArray()),
            ["device"] = Device,
            ["out"] = Path.GetFullPath(OutputFolder),
            ["save_every"] = SaveEvery,
            ["eval_data"] = EvalData,
            ["eval_every"] = EvalEvery,
            ["command"] = CommandLine,
        };
        foreach ((string key, JsonNode? value) in specific ?? []) session[key] = value?.DeepClone();
        return session;
    }
}
