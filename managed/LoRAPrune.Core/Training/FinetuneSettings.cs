// FinetuneSettings.cs — everything `loraprune finetune` was asked to do, and the run identity derived
// from it: the settings that decide the numbers (model, data content, batch, schedule, LoRA, seed) as
// a JSON object stored in every checkpoint, so a resume is refused when any of them differs.
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Training;

public sealed record FinetuneSettings
{
    public required string ModelFolder { get; init; }
    public required string OutputFolder { get; init; }

    /// <summary>"text", "tokens" or "alpaca": how the data files are read (for the run identity).</summary>
    public string DataKind { get; init; } = "tokens";
    public IReadOnlyList<string> DataFiles { get; init; } = [];

    /// <summary>Held-out data of the same kind; its loss is measured every EvalEvery steps and at the end.</summary>
    public string? EvalDataFile { get; init; }
    public int EvalEvery { get; init; }

    /// <summary>Storage of the frozen base linears (F32 or BF16).</summary>
    public LpDType BaseDType { get; init; } = LpDType.F32;

    /// <summary>Optimizer steps; when null, Epochs passes over the data (rounded up to whole steps).</summary>
    public long? Steps { get; init; }
    public double? Epochs { get; init; }
    public int Batch { get; init; } = 16;
    public int MicroBatch { get; init; } = 4;
    public int Seq { get; init; } = 256;
    public double LearningRate { get; init; } = 1e-4;
    public long WarmupSteps { get; init; }
    public double MaxGradNorm { get; init; } = 1.0;
    public LoraOptions Lora { get; init; } = new();

    /// <summary>A PEFT adapter folder to start from instead of fresh adapters (its rank, alpha and targets apply).</summary>
    public string? InitAdapter { get; init; }
    public ulong Seed { get; init; } = 42;

    /// <summary>Checkpoint every this many steps (0: only on interrupt and at the end).</summary>
    public int SaveEvery { get; init; }

    /// <summary>Continue from the checkpoint in ResumeFolder (or OutputFolder when null).</summary>
    public bool Resume { get; init; }
    public string? ResumeFolder { get; init; }

    /// <summary>Name of the backend the run uses (informational: resuming on another backend is allowed but not bit-exact).</summary>
    public string Device { get; init; } = "cpu";

    public string CheckpointPath => Path.Combine(Resume && ResumeFolder is not null ? ResumeFolder : OutputFolder, TrainingCheckpoint.FileName);

    /// <summary>Checks the settings that need no files; throws <see cref="TrainingSetupException"/>.</summary>
    public void Validate()
    {
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
        if (BaseDType is not (LpDType.F32 or LpDType.BF16)) throw new TrainingSetupException($"--dtype must be f32 or bf16, got {BaseDType}");
        if (DataFiles.Count == 0) throw new TrainingSetupException("no training data: give --data, --tokens or --alpaca");
        try
        {
            Lora.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new TrainingSetupException(ex.Message);
        }
    }

    /// <summary>Optimizer steps of the run for a data set of <paramref name="samples"/> samples.</summary>
    public long TotalSteps(int samples) => Steps ?? Math.Max(1, (long)Math.Ceiling((Epochs ?? 1.0) * samples / Batch));

    /// <summary>The optimizer-loop settings for a data set of <paramref name="samples"/> samples.</summary>
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

    /// <summary>SHA-256 (hex) of the model's config.json as this project writes it (formatting-independent).</summary>
    public static string ConfigHash(LlamaConfig config) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(LlamaConfigWriter.ToJson(config))));

    /// <summary>The settings that decide the result, as stored in a checkpoint's metadata and compared on resume.</summary>
    public JsonObject Identity(LlamaConfig model, LoraOptions lora, string dataHash, int samples, TrainerOptions trainer) => new()
    {
        ["model"] = Path.GetFullPath(ModelFolder),
        ["model_config_sha256"] = ConfigHash(model),
        ["base_dtype"] = BaseDType == LpDType.BF16 ? "bf16" : "f32",
        ["data_kind"] = DataKind,
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
        ["lora_rank"] = lora.Rank,
        ["lora_alpha"] = lora.Alpha,
        ["lora_dropout"] = lora.Dropout,
        ["lora_targets"] = new JsonArray(lora.Targets.Distinct().Order().Select(t => (JsonNode)t.ModuleName()).ToArray()),
        ["init_adapter"] = InitAdapter is null ? null : Path.GetFullPath(InitAdapter),
        ["seed"] = Seed,
    };

    /// <summary>Settings that may change between sessions of one run (stored for the record only).</summary>
    public JsonObject Session(string dataDescription) => new()
    {
        ["data"] = dataDescription,
        ["data_files"] = new JsonArray(DataFiles.Select(f => (JsonNode)Path.GetFullPath(f)).ToArray()),
        ["device"] = Device,
        ["out"] = Path.GetFullPath(OutputFolder),
        ["save_every"] = SaveEvery,
        ["eval_data"] = EvalDataFile is null ? null : Path.GetFullPath(EvalDataFile),
        ["eval_every"] = EvalEvery,
    };
}
