// LoraWeights.cs — the two LoRA matrices of one adapted projection, in PEFT's orientation:
// A is (R, IN) and B is (OUT, R), row-major float32, so W' = W + (alpha / r) * B·A.
namespace LoRAPrune.Core.IO;

/// <summary>LoRA factors of one projection: <see cref="A"/> (R, IN) and <see cref="B"/> (OUT, R), row-major.</summary>
public sealed record LoraWeights
{
    /// <summary>Wraps the two matrices after checking their lengths against R, IN and OUT.</summary>
    public LoraWeights(int rank, int inFeatures, int outFeatures, float[] a, float[] b)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rank);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outFeatures);
        if (a.LongLength != (long)rank * inFeatures)
            throw new ArgumentException($"A holds {a.LongLength} values, expected R*IN = {rank}*{inFeatures}", nameof(a));
        if (b.LongLength != (long)outFeatures * rank)
            throw new ArgumentException($"B holds {b.LongLength} values, expected OUT*R = {outFeatures}*{rank}", nameof(b));
        Rank = rank;
        In = inFeatures;
        Out = outFeatures;
        A = a;
        B = b;
    }

    /// <summary>R, the LoRA rank.</summary>
    public int Rank { get; }

    /// <summary>IN, input features of the projection.</summary>
    public int In { get; }

    /// <summary>OUT, output features of the projection.</summary>
    public int Out { get; }

    /// <summary>(R, IN) down-projection.</summary>
    public float[] A { get; }

    /// <summary>(OUT, R) up-projection.</summary>
    public float[] B { get; }
}
