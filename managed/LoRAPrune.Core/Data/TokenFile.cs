// TokenFile.cs — pre-tokenized data: a file of raw token ids, used as they are (no BOS added), cut
// into the same blocks of T+1 ids as TextBlocks. Lets any external tokenizer feed the trainer and
// the evaluator, and lets tests use models with tiny vocabularies.
using System.Buffers.Binary;

namespace LoRAPrune.Core.Data;

/// <summary>
/// Blocks of T tokens from a token file.
/// Format: no header; the ids as unsigned 32-bit little-endian integers, one after another, so the
/// file is exactly 4 x n bytes for n ids (numpy: <c>np.asarray(ids, dtype="&lt;u4").tofile(path)</c>).
/// A length that is not a multiple of 4, an empty file, or an id not below the vocabulary size is an error.
/// </summary>
public sealed class TokenFile : TokenBlocks
{
    /// <summary>Bytes per id.</summary>
    public const int BytesPerId = 4;

    private readonly string _path;

    private TokenFile(int[] ids, int sequenceLength, string path) : base(ids, sequenceLength) => _path = path;

    /// <inheritdoc/>
    public override string Description => $"{_path}: {BlockSummary}, ids as stored (no BOS added)";

    /// <summary>Reads <paramref name="path"/> and cuts it into blocks of <paramref name="sequenceLength"/>.</summary>
    public static TokenFile Load(string path, int vocabSize, int sequenceLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        int[] ids = ReadIds(path, vocabSize);
        if (ids.Length < sequenceLength + 1)
            throw new DataFileException(path, $"only {ids.Length:N0} tokens, fewer than one block of {sequenceLength} + 1");
        return new TokenFile(ids, sequenceLength, path);
    }

    /// <summary>All ids of a token file, each checked to be below <paramref name="vocabSize"/>.</summary>
    public static int[] ReadIds(string path, int vocabSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFileException(path, e is FileNotFoundException or DirectoryNotFoundException ? "file does not exist" : $"cannot read: {e.Message}", e);
        }
        if (bytes.Length == 0) throw new DataFileException(path, "token file is empty");
        if (bytes.Length % BytesPerId != 0)
            throw new DataFileException(path, $"token file length {bytes.Length:N0} bytes is not a multiple of {BytesPerId} (expected uint32 little-endian ids, no header)");
        var ids = new int[bytes.Length / BytesPerId];
        for (int i = 0; i < ids.Length; i++)
        {
            uint id = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i * BytesPerId));
            if (id >= (uint)vocabSize)
                throw new DataFileException(path, $"token id {id} at byte offset {(long)i * BytesPerId} (id #{i}) is not below the vocabulary size {vocabSize}");
            ids[i] = (int)id;
        }
        return ids;
    }
}
