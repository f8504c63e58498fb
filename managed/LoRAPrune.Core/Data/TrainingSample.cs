// TrainingSample.cs — the unit every data source produces and the trainer and evaluator consume:
// T input ids and T target ids (the next token, or IgnoreIndex where no loss is taken: padding,
// the position after the last token, prompts when training on responses only).
namespace LoRAPrune.Core.Data;

public sealed record TrainingSample(int[] Tokens, int[] Targets)
{
    /// <summary>Target id that takes no loss (Hugging Face's -100).</summary>
    public const int IgnoreIndex = -100;

    public int Length => Tokens.Length;
}

/// <summary>A finite, indexable set of equal-length samples.</summary>
public interface ISampleSource
{
    /// <summary>Number of samples.</summary>
    int Count { get; }

    /// <summary>T, the length of every sample.</summary>
    int SequenceLength { get; }

    /// <summary>What the samples are, for logs and reports ("train.txt: 1,234 blocks of 256").</summary>
    string Description { get; }

    TrainingSample this[int index] { get; }
}
