// RopeScaling.cs — the rope_scaling block of a LLaMA-family config.json. Two kinds are supported:
// "linear" (position interpolation: every inverse frequency divided by factor) and "llama3"
// (Llama 3.1's smooth per-frequency scaling); anything else is rejected when the config is read.
namespace LoRAPrune.Core.IO;

/// <summary>RoPE scaling parameters; <see cref="LowFreqFactor"/> and the fields after it are used by "llama3" only.</summary>
public sealed record RopeScaling
{
    /// <summary>"linear" or "llama3" (config.json's rope_type, or type in older files).</summary>
    public required string RopeType { get; init; }

    /// <summary>Scaling factor (8 for Llama 3.1).</summary>
    public required double Factor { get; init; }

    /// <summary>llama3: wavelengths above original_max_position_embeddings / low_freq_factor are divided by factor.</summary>
    public double LowFreqFactor { get; init; }

    /// <summary>llama3: wavelengths below original_max_position_embeddings / high_freq_factor are kept.</summary>
    public double HighFreqFactor { get; init; }

    /// <summary>llama3: the context length the model was pre-trained with (8192 for Llama 3.1).</summary>
    public int OriginalMaxPositionEmbeddings { get; init; }

    /// <summary>Linear (position interpolation) scaling.</summary>
    public static RopeScaling Linear(double factor) => new() { RopeType = "linear", Factor = factor };

    /// <summary>Llama 3.1 scaling.</summary>
    public static RopeScaling Llama3(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings) => new()
    {
        RopeType = "llama3",
        Factor = factor,
        LowFreqFactor = lowFreqFactor,
        HighFreqFactor = highFreqFactor,
        OriginalMaxPositionEmbeddings = originalMaxPositionEmbeddings,
    };

    /// <summary>Throws a <see cref="ModelFormatException"/> naming <paramref name="file"/> unless the parameters are usable.</summary>
    public void Validate(string file)
    {
        if (RopeType is not ("linear" or "llama3"))
            throw new ModelFormatException(file, $"rope_scaling type {ModelFormatException.Quote(RopeType)} is not supported (supported: linear, llama3)");
        if (!(double.IsFinite(Factor) && Factor > 0))
            throw new ModelFormatException(file, $"rope_scaling.factor={Factor} must be a positive number");
        if (RopeType != "llama3") return;
        if (!(double.IsFinite(LowFreqFactor) && LowFreqFactor > 0))
            throw new ModelFormatException(file, $"rope_scaling.low_freq_factor={LowFreqFactor} must be a positive number");
        if (!(double.IsFinite(HighFreqFactor) && HighFreqFactor > LowFreqFactor))
            throw new ModelFormatException(file, $"rope_scaling.high_freq_factor={HighFreqFactor} must be larger than low_freq_factor={LowFreqFactor}");
        if (OriginalMaxPositionEmbeddings <= 0)
            throw new ModelFormatException(file, $"rope_scaling.original_max_position_embeddings={OriginalMaxPositionEmbeddings} must be a positive integer");
    }
}
