// FinetuneSettings.cs — what `loraprune finetune` is asked to do: the shared run settings, the frozen model with
// its LoRA adapters (shared with prune), and an optional adapter to start from; plus the run identity derived
// from them, stored in every checkpoint so a resume is refused when anything that decides the numbers differs.
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Training;

/// <summary>A frozen model and the LoRA adapters trained on it (finetune and prune).</summary>
public sealed record LoraModelSettings
{
    public required string ModelFolder { get; init; }

    /// <summary>Storage of the frozen base linears on the device (F32 or BF16).</summary>
    public LpDType BaseDType { get; init; } = LpDType.F32;
    public LoraOptions Lora { get; init; } = new();

    /// <summary>Checks the settings that need no files; throws <see cref="TrainingSetupException"/>.</summary>
    public void Validate()
    {
        if (BaseDType is not (LpDType.F32 or LpDType.BF16)) throw new TrainingSetupException($"--dtype must be f32 or bf16, got {BaseDType}");
        try
        {
            Lora.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new TrainingSetupException(ex.Message);
        }
    }

    /// <summary>The model and LoRA part of a run identity.</summary>
    public JsonObject Identity(LlamaConfig model, LoraOptions lora) => new()
    {
        ["model"] = Path.GetFullPath(ModelFolder),
        ["model_config_sha256"] = ConfigHash(model),
        ["base_dtype"] = BaseDType == LpDType.BF16 ? "bf16" : "f32",
        ["lora_rank"] = lora.Rank,
        ["lora_alpha"] = lora.Alpha,
        ["lora_dropout"] = lora.Dropout,
        ["lora_targets"] = new JsonArray(lora.Targets.Distinct().Order().Select(t => (JsonNode)t.ModuleName()).ToArray()),
    };

    /// <summary>SHA-256 (hex) of a model's config.json as this project writes it (formatting-independent).</summary>
    public static string ConfigHash(LlamaConfig config) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(LlamaConfigWriter.ToJson(config))));
}

public sealed record FinetuneSettings
{
    public required RunSettings Run { get; init; }
    public required LoraModelSettings Model { get; init; }

    /// <summary>A PEFT adapter folder to start from instead of fresh adapters (its rank, alpha and targets apply).</summary>
    public string? InitAdapter { get; init; }

    /// <summary>Checks the settings that need no files; throws <see cref="TrainingSetupException"/>.</summary>
    public void Validate()
    {
        Run.Validate();
        Model.Validate();
    }

    /// <summary>The settings that decide the result, as stored in a checkpoint's metadata and compared on resume.</summary>
    public JsonObject Identity(LlamaConfig model, LoraOptions lora, string dataHash, int samples, TrainerOptions trainer)
    {
        JsonObject specific = Model.Identity(model, lora);
        specific["init_adapter"] = InitAdapter is null ? null : Path.GetFullPath(InitAdapter);
        return Run.Identity("finetune", dataHash, samples, trainer, specific);
    }
}
