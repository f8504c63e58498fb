// LlamaSentencePieceTokenizer — Meta's LLaMA tokenizer: SentencePiece-BPE with byte fallback (spaces -> '▁', a
// dummy '▁' prefix, merges by piece score, characters outside the vocabulary as <0xNN> UTF-8 byte pieces).
// The segmentation itself is Microsoft.ML.Tokenizers' SentencePieceTokenizer, which reproduces the reference ids
// of llama-tokenizer-js (the golden tests). That library only reads a ModelProto, so the sources without one
// (the embedded LLaMA-2 data, HF tokenizer.json) are turned into a ModelProto here (SentencePieceModel.ToBytes):
// a few dozen lines of protobuf writing instead of a second, hand-written BPE that would have to match it.
using System.Collections.Frozen;
using Microsoft.ML.Tokenizers;

namespace LoRAPrune.Core.Text;

/// <summary>SentencePiece-BPE tokenizer (LLaMA-1/2, TinyLlama, Mistral style) backed by Microsoft.ML.Tokenizers.
/// Control pieces (&lt;s&gt;, &lt;/s&gt;) in the input text are encoded as plain text, as SentencePiece does;
/// they are only produced by <c>addBos</c>.</summary>
public sealed class LlamaSentencePieceTokenizer : ITokenizer
{
    readonly SentencePieceTokenizer _impl;
    readonly string[] _pieces;
    readonly FrozenDictionary<string, int> _ids;

    /// <summary>Builds the tokenizer from a parsed model; <paramref name="serialized"/> is the ModelProto the model
    /// was read from (passed on untouched so fields this project does not model still apply), or null to serialize
    /// <paramref name="model"/>. <paramref name="source"/> names the file in errors.</summary>
    public LlamaSentencePieceTokenizer(SentencePieceModel model, string name, string source, byte[]? serialized = null)
    {
        if (model.ModelType != SentencePieceModelType.Bpe)
            throw new TokenizerFileException(source,
                $"trainer_spec.model_type is {model.ModelType.ToString().ToUpperInvariant()}; only BPE SentencePiece models (LLaMA style) are supported");
        model.Validate(source);
        if (model.ByteFallback)
        {
            // Microsoft.ML.Tokenizers maps byte b to id(<0x00>) + b.
            int first = model.Pieces.Select(p => p.Piece).ToList().IndexOf(SentencePieceModel.BytePiece(0));
            for (int b = 0; b < 256; b++)
            {
                if (first + b >= model.Pieces.Count || model.Pieces[first + b].Piece != SentencePieceModel.BytePiece(b))
                    throw new TokenizerFileException(source, "the byte pieces <0x00>..<0xFF> must have consecutive ids");
            }
        }
        try
        {
            using var stream = new MemoryStream(serialized ?? model.ToBytes(), writable: false);
            _impl = SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not TokenizerFileException)
        {
            throw new TokenizerFileException(source, $"Microsoft.ML.Tokenizers cannot load the model: {e.Message}", e);
        }
        Model = model;
        _pieces = model.Pieces.Select(p => p.Piece).ToArray();
        var ids = new Dictionary<string, int>(_pieces.Length, StringComparer.Ordinal);
        for (int i = 0; i < _pieces.Length; i++)
            ids.TryAdd(_pieces[i], i);
        _ids = ids.ToFrozenDictionary(StringComparer.Ordinal);
        Name = name;
        UnkId = model.UnkId;
        BosId = model.BosId >= 0 ? model.BosId : null;
        EosId = model.EosId >= 0 ? model.EosId : null;
        PadId = model.PadId >= 0 ? model.PadId : null;
    }

    public string Name { get; }

    /// <summary>The SentencePiece model: pieces with scores and types, special ids, normaliser flags (what a GGUF export carries).</summary>
    public SentencePieceModel Model { get; }

    public int VocabSize => _pieces.Length;
    public int? BosId { get; }
    public int? EosId { get; }
    public int? UnkId { get; }
    public int? PadId { get; }

    /// <summary>Reads a SentencePiece tokenizer.model (serialized ModelProto); its model type must be BPE.</summary>
    public static LlamaSentencePieceTokenizer FromModelFile(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerFileException(path, $"cannot read: {e.Message}", e);
        }
        var model = SentencePieceModel.Parse(bytes, path);
        return new LlamaSentencePieceTokenizer(model, $"SentencePiece BPE ({path})", path, bytes);
    }

    /// <summary>The LLaMA-1/2 tokenizer from the vocabulary embedded in LoRAPrune.Core (32,000 pieces).</summary>
    public static LlamaSentencePieceTokenizer FromEmbeddedLlama2()
    {
        var model = EmbeddedLlama2Model();
        return new LlamaSentencePieceTokenizer(model, "LLaMA-2 SentencePiece BPE (embedded, llama-tokenizer-js 1.2.2)",
            RankedMergesVocabulary.Llama2ResourceName);
    }

    /// <summary>The embedded LLaMA-2 vocabulary as a SentencePiece model (ids 0 unk, 1-2 control, 3-258 bytes).</summary>
    public static SentencePieceModel EmbeddedLlama2Model()
    {
        var vocab = RankedMergesVocabulary.ReadLlama2();
        var types = new SentencePieceType[vocab.Pieces.Length];
        for (int i = 0; i < types.Length; i++)
            types[i] = i switch
            {
                0 => SentencePieceType.Unknown,
                1 or 2 => SentencePieceType.Control,
                < 3 + 256 => SentencePieceType.Byte,
                _ => SentencePieceType.Normal,
            };
        return ModelFromRankedMerges(vocab, types, unkId: 0, bosId: 1, eosId: 2, padId: -1,
            byteFallback: true, addDummyPrefix: true, RankedMergesVocabulary.Llama2ResourceName);
    }

    /// <summary>Turns a vocabulary with ranked merges into a SentencePiece BPE model. SentencePiece merges the adjacent
    /// pair whose concatenation has the highest score (leftmost on ties); a merge list applies the lowest-ranked pair
    /// first. Scoring each Normal piece -(rank of the first merge that produces it) makes the two orders agree;
    /// Normal pieces no merge produces (single characters) score below every merged piece. Other types score 0.</summary>
    public static SentencePieceModel ModelFromRankedMerges(RankedMergesVocabulary vocab, SentencePieceType[] types,
        int unkId, int bosId, int eosId, int padId, bool byteFallback, bool addDummyPrefix, string source)
    {
        string[] pieces = vocab.Pieces;
        if (types.Length != pieces.Length)
            throw new ArgumentException($"{types.Length} types for {pieces.Length} pieces", nameof(types));
        var idOf = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        for (int i = 0; i < pieces.Length; i++)
        {
            if (!idOf.TryAdd(pieces[i], i))
                throw new TokenizerFileException(source, $"piece \"{pieces[i]}\" appears twice (ids {idOf[pieces[i]]} and {i})");
        }
        var firstRank = new int[pieces.Length];
        Array.Fill(firstRank, -1);
        for (int rank = 0; rank < vocab.Merges.Length; rank++)
        {
            var (left, right) = vocab.Merges[rank];
            string merged = pieces[left] + pieces[right];
            if (!idOf.TryGetValue(merged, out int id))
                throw new TokenizerFileException(source,
                    $"merge {rank} (\"{pieces[left]}\" + \"{pieces[right]}\") makes \"{merged}\", which is not in the vocabulary");
            if (firstRank[id] < 0)
                firstRank[id] = rank;
        }
        int mergeCount = vocab.Merges.Length;
        var entries = new SentencePieceEntry[pieces.Length];
        for (int i = 0; i < pieces.Length; i++)
        {
            float score = types[i] != SentencePieceType.Normal ? 0f
                : firstRank[i] >= 0 ? -firstRank[i]
                : -(mergeCount + i);
            entries[i] = new SentencePieceEntry(pieces[i], score, types[i]);
        }
        return new SentencePieceModel
        {
            Pieces = entries,
            ModelType = SentencePieceModelType.Bpe,
            ByteFallback = byteFallback,
            UnkId = unkId,
            BosId = bosId,
            EosId = eosId,
            PadId = padId,
            NormalizerName = "identity",
            AddDummyPrefix = addDummyPrefix,
            RemoveExtraWhitespaces = false,
            EscapeWhitespaces = true,
        };
    }

    public int[] Encode(string text, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(text);
        bool bos = addBos && BosId.HasValue;
        if (text.Length == 0)
            return bos ? [BosId!.Value] : [];
        var ids = _impl.EncodeToIds(text, addBeginningOfSentence: bos, addEndOfSentence: false);
        return ids as int[] ?? [.. ids];
    }

    /// <summary>Decodes as SentencePiece does: byte pieces are reassembled into UTF-8, '▁' becomes a space, the
    /// dummy-prefix space is dropped, and control pieces (&lt;s&gt;, &lt;/s&gt;) and &lt;unk&gt; decode to nothing.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var list = ids as IReadOnlyCollection<int> ?? ids.ToArray();
        foreach (int id in list)
            CheckId(id);
        return _impl.Decode(list);
    }

    public string IdToToken(int id)
    {
        CheckId(id);
        return _pieces[id];
    }

    public int? TokenToId(string token) => _ids.TryGetValue(token, out int id) ? id : null;

    void CheckId(int id)
    {
        if ((uint)id >= (uint)_pieces.Length)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary of {_pieces.Length}");
    }
}
