// RopeFrequencies.cs — RoPE inverse frequencies as Hugging Face transformers computes them on the CPU,
// the same float32 operations in the same order: inv_freq = 1 / theta^(arange(0, D, 2) / D), then linear
// scaling (inv_freq / factor) or Llama 3.1 scaling (_compute_llama3_parameters). Python scalars enter each
// float32 operation as float32 and "scalar / tensor" is tensor.reciprocal() * scalar, as in torch; only
// pow() comes from a different math library and may differ from torch's in the last bit.
namespace LoRAPrune.Core.IO;

/// <summary>Computes the D/2 RoPE inverse frequencies of one head.</summary>
public static class RopeFrequencies
{
    /// <summary>Inverse frequencies for head size <paramref name="headDim"/> (even), base <paramref name="theta"/>.</summary>
    public static float[] Compute(int headDim, double theta, RopeScaling? scaling)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "head_dim must be positive and even");
        float[] invFreq = Default(headDim, theta);
        return scaling?.RopeType switch
        {
            null => invFreq,
            "linear" => Linear(invFreq, scaling.Factor),
            "llama3" => Llama3(invFreq, scaling),
            _ => throw new ArgumentException($"rope scaling type '{scaling.RopeType}' is not supported", nameof(scaling)),
        };
    }

    /// <summary>inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)).</summary>
    private static float[] Default(int dim, double theta)
    {
        var invFreq = new float[dim / 2];
        float baseF = (float)theta;
        for (int i = 0; i < invFreq.Length; i++)
        {
            float exponent = (float)(2 * i) / dim;
            invFreq[i] = 1.0f / MathF.Pow(baseF, exponent);
        }
        return invFreq;
    }

    /// <summary>inv_freq /= factor.</summary>
    private static float[] Linear(float[] invFreq, double factor)
    {
        float f = (float)factor;
        for (int i = 0; i < invFreq.Length; i++) invFreq[i] /= f;
        return invFreq;
    }

    /// <summary>
    /// transformers' _compute_llama3_parameters:
    /// wavelen = 2*pi / inv_freq; keep where wavelen &lt; old_len / high; divide by factor where
    /// wavelen &gt; old_len / low; in between blend with smooth = (old_len / wavelen - low) / (high - low):
    /// (1 - smooth) * inv_freq / factor + smooth * inv_freq.
    /// </summary>
    private static float[] Llama3(float[] invFreq, RopeScaling s)
    {
        float factor = (float)s.Factor;
        float low = (float)s.LowFreqFactor;
        float oldContext = s.OriginalMaxPositionEmbeddings;
        float lowFreqWavelen = (float)(s.OriginalMaxPositionEmbeddings / s.LowFreqFactor);
        float highFreqWavelen = (float)(s.OriginalMaxPositionEmbeddings / s.HighFreqFactor);
        float highMinusLow = (float)(s.HighFreqFactor - s.LowFreqFactor);
        float twoPi = (float)(2 * Math.PI);

        var result = new float[invFreq.Length];
        for (int i = 0; i < invFreq.Length; i++)
        {
            float inv = invFreq[i];
            float wavelen = (1.0f / inv) * twoPi;
            float invLlama = wavelen > lowFreqWavelen ? inv / factor : inv;
            float smooth = ((1.0f / wavelen) * oldContext - low) / highMinusLow;
            float smoothed = (1.0f - smooth) * invLlama / factor + smooth * invLlama;
            bool isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
            result[i] = isMedium ? smoothed : invLlama;
        }
        return result;
    }
}
