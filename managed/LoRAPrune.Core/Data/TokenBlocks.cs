// TokenBlocks.cs — language-model samples cut from one token stream: non-overlapping blocks of T+1
// ids at stride T, block i giving Tokens = ids[iT, iT+T) and Targets = ids[iT+1, iT+T+1), so every
// id but the first is predicted exactly once and the remainder that does not fill a block is dropped.
namespace LoRAPrune.Core.Data;

/// <summary>Blocks of T inputs and their T next-token targets over one id stream.</summary>
public abstract class TokenBlocks : ISampleSource
{
    private readonly int[] _ids;

    /// <summary><paramref name="ids"/> must hold at least T+1 ids (the factories check it and name the file).</summary>
    protected TokenBlocks(int[] ids, int sequenceLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        if (ids.Length < sequenceLength + 1)
            throw new ArgumentException($"{ids.Length} ids do not fill one block of {sequenceLength} + 1", nameof(ids));
        _ids = ids;
        SequenceLength = sequenceLength;
        Count = BlockCount(ids.Length, sequenceLength);
    }

    /// <inheritdoc/>
    public int Count { get; }

    /// <inheritdoc/>
    public int SequenceLength { get; }

    /// <inheritdoc/>
    public abstract string Description { get; }

    /// <summary>Length of the whole id stream.</summary>
    public int TokenCount => _ids.Length;

    /// <summary>Ids of the stream that no block uses (the dropped remainder).</summary>
    public int DroppedTokens => _ids.Length - 1 - Count * SequenceLength;

    /// <summary>Number of blocks of T+1 ids at stride T in a stream of <paramref name="tokens"/> ids.</summary>
    public static int BlockCount(int tokens, int sequenceLength) => tokens < 1 ? 0 : (tokens - 1) / sequenceLength;

    /// <inheritdoc/>
    public TrainingSample this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            int start = index * SequenceLength;
            return new TrainingSample(_ids[start..(start + SequenceLength)], _ids[(start + 1)..(start + SequenceLength + 1)]);
        }
    }

    /// <summary>"N tokens -> B blocks of T (R dropped)", the common tail of every description.</summary>
    protected string BlockSummary => $"{TokenCount:N0} tokens -> {Count:N0} blocks of {SequenceLength} ({DroppedTokens:N0} dropped)";
}
