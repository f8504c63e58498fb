// ConfigLayout.cs — how a (possibly pruned) LlamaConfig is written to config.json: with per-layer
// widths, or as a plain uniform config that stock Hugging Face LlamaForCausalLM loads unchanged.
namespace LoRAPrune.Core.IO;

/// <summary>The form config.json is written in.</summary>
public enum ConfigLayout
{
    /// <summary>Uniform when every layer has the same widths, per-layer otherwise.</summary>
    Auto,

    /// <summary>Plain Hugging Face fields only; every layer must have the same widths.</summary>
    Uniform,

    /// <summary>Plain fields of the original model plus the loraprune_* per-layer width lists.</summary>
    PerLayer,
}
