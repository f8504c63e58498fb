// PretrainSettings.cs — what `loraprune pretrain` is asked to do: the shared run settings plus the architecture
// (a config.json or a model folder to continue), tokenizer, weight decay, initialisation and the saved dtype; and
// the run identity derived from them, stored in every checkpoint so a resume is refused when any of them differs.
using System.Text.Json.Nodes;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Core.Training;

public sealed record PretrainSettings
{
    /// <summary>Adam's moment decays and epsilon for pretraining (the LLaMA recipe: beta2 0.95, not HF's 0.999).</summary>
    public const double Beta1 = 0.9, Beta2 = 0.95, Epsilon = 1e-8;

    public required RunSettings Run { get; init; }

    /// <summary>A Hugging Face config.json to build a randomly initialised model from (exclusive with InitModel).</summary>
    public string? ConfigFile { get; init; }

    /// <summary>A model folder whose weights the run starts from (exclusive with ConfigFile).</summary>
    public string? InitModel { get; init; }

    /// <summary>"llama2" (the embedded LLaMA-2 tokenizer), a model folder, or a tokenizer.json / tokenizer.model file;
    /// null: the init model's tokenizer, else the embedded LLaMA-2 one for a 32,000-id vocabulary.</summary>
    public string? Tokenizer { get; init; }

    /// <summary>AdamW weight decay of the 2-D weights (projections, embedding, lm_head); 1-D tensors (RMSNorm weights, biases) get none.</summary>
    public double WeightDecay { get; init; } = 0.1;

    /// <summary>Standard deviation of the normal initialisation of a model built from a config (HF initializer_range).</summary>
    public double InitStd { get; init; } = 0.02;

    /// <summary>Recompute layer activations in backward (less memory, same numbers).</summary>
    public bool Recompute { get; init; }

    /// <summary>How the final model folder stores its weights: F16 (default), BF16 or F32.</summary>
    public SafetensorsDType SaveDType { get; init; } = SafetensorsDType.F16;

    /// <summary>Checks the settings that need no files; throws <see cref="TrainingSetupException"/>.</summary>
    public void Validate()
    {
        Run.Validate();
        if ((ConfigFile is null) == (InitModel is null)) throw new TrainingSetupException("give exactly one of --config FILE or --init-model DIR");
        if (Run.Data.Kind == DataSpec.Alpaca) throw new TrainingSetupException("pretrain takes text or token data, not --alpaca");
        if (!(WeightDecay >= 0 && double.IsFinite(WeightDecay))) throw new TrainingSetupException($"--weight-decay must be a finite number >= 0, got {WeightDecay}");
        if (!(InitStd > 0 && double.IsFinite(InitStd))) throw new TrainingSetupException($"the initialisation std must be positive, got {InitStd}");
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

    /// <summary>The optimizer-loop settings: the run's, with the LLaMA AdamW recipe and this run's weight decay.</summary>
    public TrainerOptions TrainerOptions(int samples) => Run.TrainerOptions(samples) with
    {
        Beta1 = Beta1,
        Beta2 = Beta2,
        Epsilon = Epsilon,
        WeightDecay = WeightDecay,
    };

    /// <summary>The seed of the normal initialisation (LlamaWeights.Random takes an int).</summary>
    public int InitSeed => unchecked((int)(Run.Seed ^ (Run.Seed >> 32)));

    /// <summary>The settings that decide the result, as stored in a checkpoint's metadata and compared on resume.</summary>
    public JsonObject Identity(LlamaConfig model, string dataHash, int samples, TrainerOptions trainer) =>
        Run.Identity("pretrain", dataHash, samples, trainer, new JsonObject
        {
            ["model_config_sha256"] = LoraModelSettings.ConfigHash(model),
            ["init"] = InitModel is null ? "random" : "model",
            ["init_model"] = InitModel is null ? null : Path.GetFullPath(InitModel),
            ["init_std"] = InitModel is null ? InitStd : null,
            ["lr_schedule"] = "linear warm-up, then linear decay to 0",
            ["weight_decay_applies_to"] = "2-D weights (projections, embedding, lm_head), not 1-D tensors (RMSNorm weights, biases)",
        });

    /// <summary>Settings that may change between sessions of one run (stored for the record only).</summary>
    public JsonObject Session(string dataDescription) => Run.Session(dataDescription, new JsonObject
    {
        ["recompute"] = Recompute,
        ["save_dtype"] = SaveDType.HeaderName(),
    });
}
