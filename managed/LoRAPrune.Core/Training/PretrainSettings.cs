// PretrainSettings.cs — everything `loraprune pretrain` was asked to do, and the run identity derived from
// it: the settings that decide the numbers (architecture, initialisation, data content, batch, schedule,
// AdamW, seed) as a JSON object stored in every checkpoint, so a resume is refused when any of them differs.
using System.Text.Json.Nodes;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Core.Training;

public sealed record PretrainSettings
{
    /// <summary>Adam's moment decays and epsilon for pretraining (the LLaMA recipe: beta2 0.95, not HF's 0.999).</summary>
    public const double Beta1 = 0.9, Beta2 = 0.95, Epsilon = 1e-8;

    /// <summary>A Hugging Face config.json to build a randomly initialised model from (exclusive with InitModel).</summary>
    public string? ConfigFile { get; init; }

    /// <summary>A model folder whose weights the run starts from (exclusive with ConfigFile).</summary>
    public string? InitModel { get; init; }

    public required string OutputFolder { get; init; }

    /// <summary>"text" (files or named splits, tokenized) or "tokens" (one pre-tokenized file).</summary>
    public string DataKind { get; init; } = "text";

    /// <summary>Text files or split names ("sotu:train") for "text"; one token file for "tokens".</summary>
    public IReadOnlyList<string> Data { get; init; } = [];

    /// <summary>Held-out data of the same kind (a file or a split name); its loss is measured every EvalEvery steps and at the end.</summary>
    public string? EvalData { get; init; }
    public int EvalEvery { get; init; }

    /// <summary>"llama2" (the embedded LLaMA-2 tokenizer), a model folder, or a tokenizer.json / tokenizer.model file;
    /// null: the init model's tokenizer, else the embedded LLaMA-2 one for a 32,000-id vocabulary.</summary>
    public string? Tokenizer { get; init; }

    /// <summary>The corpus cache holding the named splits (null: LORAPRUNE_CACHE, else ~/.cache/loraprune).</summary>
    public string? CacheFolder { get; init; }

    /// <summary>Optimizer steps; when null, Epochs passes over the data (rounded up to whole steps).</summary>
    public long? Steps { get; init; }
    public double? Epochs { get; init; }
    public int Batch { get; init; } = 16;
    public int MicroBatch { get; init; } = 4;
    public int Seq { get; init; } = 256;
    public double LearningRate { get; init; } = 3e-4;
    public long WarmupSteps { get; init; }

    /// <summary>AdamW weight decay of the 2-D weights (projections, embedding, lm_head); 1-D tensors (RMSNorm weights, biases) get none.</summary>
    public double WeightDecay { get; init; } = 0.1;
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>Standard deviation of the normal initialisation of a model built from a config (HF initializer_range).</summary>
    public double InitStd { get; init; } = 0.02;
    public ulong Seed { get; init; } = 42;

    /// <summary>Checkpoint every this many steps (0: only on interrupt and at the end).</summary>
    public int SaveEvery { get; init; }

    /// <summary>Continue the run whose checkpoint is in OutputFolder.</summary>
    public bool Resume { get; init; }

    /// <summary>Recompute layer activations in backward (less memory, same numbers).</summary>
    public bool Recompute { get; init; }

    /// <summary>How the final model folder stores its weights: F16 (default), BF16 or F32.</summary>
    public SafetensorsDType SaveDType { get; init; } = SafetensorsDType.F16;

    /// <summary>Name of the backend the run uses (informational: resuming on another backend is allowed but not bit-exact).</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>The command line of this session as typed ("loraprune pretrain ..."), kept in the recipe.</summary>
    public string CommandLine { get; init; } = "";

    public string CheckpointPath => Path.Combine(OutputFolder, TrainingCheckpoint.FileName);

    /// <summary>Checks the settings that need no files; throws <see cref="TrainingSetupException"/>.</summary>
    public void Validate()
    {
        if ((ConfigFile is null) == (InitModel is null)) throw new TrainingSetupException("give exactly one of --config FILE or --init-model DIR");
        if (DataKind is not ("text" or "tokens")) throw new TrainingSetupException($"unknown data kind '{DataKind}' (expected text or tokens)");
        if (Data.Count == 0) throw new TrainingSetupException("no training data: give --data FILE|SPLIT... or --tokens FILE");
        if (DataKind == "tokens" && Data.Count != 1) throw new TrainingSetupException($"--tokens takes one file, got {Data.Count}");
        if (Steps is < 1) throw new TrainingSetupException($"--steps must be at least 1, got {Steps}");
        if (Epochs is { } e && !(e > 0 && double.IsFinite(e))) throw new TrainingSetupException($"--epochs must be a positive number, got {e}");
        if (Steps is not null && Epochs is not null) throw new TrainingSetupException("give --steps or --epochs, not both");
        if (MicroBatch < 1) throw new TrainingSetupException($"--micro-batch must be at least 1, got {MicroBatch}");
        if (Batch < 1 || Batch % MicroBatch != 0)
            throw new TrainingSetupException($"--batch {Batch} must be a positive multiple of --micro-batch {MicroBatch}");
        if (Seq < 2) throw new TrainingSetupException($"--seq must be at least 2, got {Seq}");
        if (!(LearningRate >= 0 && double.IsFinite(LearningRate))) throw new TrainingSetupException($"--lr must be a finite number >= 0, got {LearningRate}");
        if (WarmupSteps < 0) throw new TrainingSetupException($"--warmup-steps must not be negative, got {WarmupSteps}");
        if (!(WeightDecay >= 0 && double.IsFinite(WeightDecay))) throw new TrainingSetupException($"--weight-decay must be a finite number >= 0, got {WeightDecay}");
        if (!(MaxGradNorm >= 0)) throw new TrainingSetupException($"--max-grad-norm must be >= 0 (0 turns clipping off), got {MaxGradNorm}");
        if (!(InitStd > 0 && double.IsFinite(InitStd))) throw new TrainingSetupException($"the initialisation std must be positive, got {InitStd}");
        if (SaveEvery < 0) throw new TrainingSetupException($"--save-every must not be negative, got {SaveEvery}");
        if (EvalEvery < 0) throw new TrainingSetupException($"--eval-every must not be negative, got {EvalEvery}");
        if (SaveDType is not (SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.F32))
            throw new TrainingSetupException($"--save-dtype must be f16, bf16 or f32, got {SaveDType.HeaderName()}");
    }

    /// <summary>The model's architecture: --config, or the config.json of --init-model. Throws
    /// <see cref="TrainingSetupException"/> for a missing file or folder, <see cref="ModelFormatException"/> for a bad config.</summary>
    public LlamaConfig LoadConfig()
    {
        if (ConfigFile is not null)
        {
            if (!File.Exists(ConfigFile)) throw new TrainingSetupException($"--config: file {ConfigFile} does not exist");
            return LlamaConfig.Load(ConfigFile);
        }
        if (!Directory.Exists(InitModel)) throw new TrainingSetupException($"--init-model: folder {InitModel} does not exist");
        return LlamaConfig.Load(Path.Combine(InitModel!, LlamaCheckpoint.ConfigFileName));
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
        Beta1 = Beta1,
        Beta2 = Beta2,
        Epsilon = Epsilon,
        WeightDecay = WeightDecay,
        Seed = Seed,
    };

    /// <summary>The seed of the normal initialisation (LlamaWeights.Random takes an int).</summary>
    public int InitSeed => unchecked((int)(Seed ^ (Seed >> 32)));

    /// <summary>The settings that decide the result, as stored in a checkpoint's metadata and compared on resume.</summary>
    public JsonObject Identity(LlamaConfig model, string dataHash, int samples, TrainerOptions trainer) => new()
    {
        ["kind"] = "pretrain",
        ["model_config_sha256"] = FinetuneSettings.ConfigHash(model),
        ["init"] = InitModel is null ? "random" : "model",
        ["init_model"] = InitModel is null ? null : Path.GetFullPath(InitModel),
        ["init_std"] = InitModel is null ? InitStd : null,
        ["data_kind"] = DataKind,
        ["data_sha256"] = dataHash,
        ["samples"] = samples,
        ["seq"] = Seq,
        ["steps"] = trainer.MaxSteps,
        ["batch"] = Batch,
        ["micro_batch"] = MicroBatch,
        ["lr"] = trainer.LearningRate,
        ["lr_schedule"] = "linear warm-up, then linear decay to 0",
        ["warmup_steps"] = trainer.WarmupSteps,
        ["max_grad_norm"] = trainer.MaxGradNorm,
        ["adam_betas"] = new JsonArray(trainer.Beta1, trainer.Beta2),
        ["adam_eps"] = trainer.Epsilon,
        ["weight_decay"] = trainer.WeightDecay,
        ["weight_decay_applies_to"] = "2-D weights (projections, embedding, lm_head), not 1-D tensors (RMSNorm weights, biases)",
        ["seed"] = Seed,
    };

    /// <summary>Settings that may change between sessions of one run (stored for the record only).</summary>
    public JsonObject Session(string dataDescription) => new()
    {
        ["data"] = dataDescription,
        ["data_specs"] = new JsonArray(Data.Select(d => (JsonNode)d).ToArray()),
        ["device"] = Device,
        ["out"] = Path.GetFullPath(OutputFolder),
        ["save_every"] = SaveEvery,
        ["eval_data"] = EvalData,
        ["eval_every"] = EvalEvery,
        ["recompute"] = Recompute,
        ["save_dtype"] = SaveDType.HeaderName(),
        ["command"] = CommandLine,
    };
}
