// GgufTokenizerMetadata.cs — a model's own tokenizer as llama.cpp's tokenizer.ggml.* metadata: a SentencePiece
// BPE model becomes tokenizer model "llama" (pieces, scores, piece types), a byte-level BPE tokenizer.json becomes
// "gpt2" (tokens, types, merges, and the pre-tokenizer llama.cpp implements for its split regex). What llama.cpp
// would tokenize differently is refused here, naming the tokenizer field, instead of producing a model that
// silently reads text another way.
using System.Text;
using LoRAPrune.Core.Text;

namespace LoRAPrune.Core.IO;

/// <summary>The tokenizer.ggml.* keys of one tokenizer, ready to add to a <see cref="GgufWriter"/>.</summary>
public sealed class GgufTokenizerMetadata
{
    /// <summary>llama.cpp's token types (llama_token_type; the same numbers as SentencePiece's piece types).</summary>
    public const int Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6;

    /// <summary>The score llama.cpp's converter gives ids the tokenizer does not define (padding up to vocab_size).</summary>
    public const float PaddingScore = -10000f;

    /// <summary>The original split regex of Llama 3's tokenizer.json (llama.cpp pre-tokenizer "llama-bpe").</summary>
    public const string Llama3SplitPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>The original split regex of Qwen2's tokenizer.json (llama.cpp pre-tokenizer "qwen2").</summary>
    public const string Qwen2SplitPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private GgufTokenizerMetadata(string model, string pre, string[] tokens, float[]? scores, int[] types, string[]? merges)
    {
        Model = model;
        Pre = pre;
        Tokens = tokens;
        Scores = scores;
        TokenTypes = types;
        Merges = merges;
    }

    /// <summary>tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE).</summary>
    public string Model { get; }

    /// <summary>tokenizer.ggml.pre: the pre-tokenizer llama.cpp applies ("default" for SentencePiece).</summary>
    public string Pre { get; }

    /// <summary>tokenizer.ggml.tokens, one per id up to the model's vocab_size.</summary>
    public IReadOnlyList<string> Tokens { get; }

    /// <summary>tokenizer.ggml.scores (SentencePiece only: llama.cpp merges the pair whose result scores highest).</summary>
    public IReadOnlyList<float>? Scores { get; }

    /// <summary>tokenizer.ggml.token_type, one per token.</summary>
    public IReadOnlyList<int> TokenTypes { get; }

    /// <summary>tokenizer.ggml.merges as "left right" in rank order (byte-level BPE only).</summary>
    public IReadOnlyList<string>? Merges { get; }

    public int? BosId { get; private init; }
    public int? EosId { get; private init; }
    public int? UnkId { get; private init; }
    public int? PadId { get; private init; }

    /// <summary>tokenizer.ggml.add_bos_token: the tokenizer has a BOS and prompts start with it (as in `loraprune generate`).</summary>
    public bool AddBos => BosId.HasValue;

    /// <summary>tokenizer.ggml.add_space_prefix: SentencePiece's dummy prefix, or ByteLevel's add_prefix_space.</summary>
    public bool AddSpacePrefix { get; private init; }

    /// <summary>The metadata of <paramref name="tokenizer"/> for a model of <paramref name="vocabSize"/> embedding rows;
    /// <paramref name="file"/> names the tokenizer file in errors.</summary>
    public static GgufTokenizerMetadata From(ITokenizer tokenizer, int vocabSize, string file)
    {
        if (tokenizer.VocabSize > vocabSize)
            throw new ModelFormatException(file,
                $"the tokenizer has {tokenizer.VocabSize} ids but config.json's vocab_size is {vocabSize}; llama.cpp needs an embedding row for every token");
        return tokenizer switch
        {
            LlamaSentencePieceTokenizer spm => FromSentencePiece(spm.Model, vocabSize, file),
            ByteLevelBpeTokenizer bpe => FromByteLevel(bpe, vocabSize, file),
            _ => throw new ModelFormatException(file, $"{tokenizer.Name} has no GGUF tokenizer mapping"),
        };
    }

    /// <summary>Adds the tokenizer.ggml.* keys.</summary>
    public void AddTo(GgufWriter writer)
    {
        writer.AddString("tokenizer.ggml.model", Model);
        writer.AddString("tokenizer.ggml.pre", Pre);
        writer.AddStringArray("tokenizer.ggml.tokens", Tokens);
        if (Scores is not null) writer.AddFloat32Array("tokenizer.ggml.scores", Scores);
        writer.AddInt32Array("tokenizer.ggml.token_type", TokenTypes);
        if (Merges is not null) writer.AddStringArray("tokenizer.ggml.merges", Merges);
        if (BosId is int bos) writer.AddUInt32("tokenizer.ggml.bos_token_id", (uint)bos);
        if (EosId is int eos) writer.AddUInt32("tokenizer.ggml.eos_token_id", (uint)eos);
        if (UnkId is int unk) writer.AddUInt32("tokenizer.ggml.unknown_token_id", (uint)unk);
        if (PadId is int pad) writer.AddUInt32("tokenizer.ggml.padding_token_id", (uint)pad);
        writer.AddBool("tokenizer.ggml.add_bos_token", AddBos);
        writer.AddBool("tokenizer.ggml.add_eos_token", false);
        writer.AddBool("tokenizer.ggml.add_space_prefix", AddSpacePrefix);
    }

    private static GgufTokenizerMetadata FromSentencePiece(SentencePieceModel model, int vocabSize, string file)
    {
        // llama.cpp's SentencePiece tokenizer applies no normaliser and never collapses whitespace.
        if (model.NormalizerName is not ("" or "identity"))
            throw new ModelFormatException(file, $"normalizer_spec.name is '{model.NormalizerName}'; llama.cpp's SentencePiece tokenizer only implements 'identity'");
        if (model.RemoveExtraWhitespaces)
            throw new ModelFormatException(file, "normalizer_spec.remove_extra_whitespaces is true; llama.cpp's SentencePiece tokenizer keeps every space");
        var tokens = new string[vocabSize];
        var scores = new float[vocabSize];
        var types = new int[vocabSize];
        for (int id = 0; id < vocabSize; id++)
        {
            if (id < model.Pieces.Count)
            {
                SentencePieceEntry piece = model.Pieces[id];
                (tokens[id], scores[id], types[id]) = (piece.Piece, piece.Score, (int)piece.Type);
            }
            else
            {
                (tokens[id], scores[id], types[id]) = (PaddingToken(id), PaddingScore, Unused);
            }
        }
        return new GgufTokenizerMetadata("llama", "default", tokens, scores, types, merges: null)
        {
            BosId = Optional(model.BosId),
            EosId = Optional(model.EosId),
            UnkId = Optional(model.UnkId),
            PadId = Optional(model.PadId),
            AddSpacePrefix = model.AddDummyPrefix,
        };
    }

    private static GgufTokenizerMetadata FromByteLevel(ByteLevelBpeTokenizer tokenizer, int vocabSize, string file)
    {
        ByteLevelBpeSettings settings = tokenizer.Settings;
        string pre = PreTokenizer(settings, file);
        if (settings.Normalization is { } form && form != NormalizationForm.FormC)
            throw new ModelFormatException(file, $"normalizer {form} is not applied by llama.cpp's byte-level BPE tokenizer (only NFC text, as Qwen2 uses, is safe)");

        var specials = settings.AddedTokens.ToDictionary(t => t.Id, t => t.Special);
        var tokens = new string[vocabSize];
        var types = new int[vocabSize];
        for (int id = 0; id < vocabSize; id++)
        {
            if (id < tokenizer.VocabSize && tokenizer.HasId(id))
            {
                tokens[id] = tokenizer.IdToToken(id);
                types[id] = !specials.TryGetValue(id, out bool special) ? Normal : special ? Control : UserDefined;
            }
            else
            {
                (tokens[id], types[id]) = (PaddingToken(id), Unused);
            }
        }
        string[] merges = [.. settings.Merges.Select(m => $"{m.Left} {m.Right}")];
        return new GgufTokenizerMetadata("gpt2", pre, tokens, scores: null, types, merges)
        {
            BosId = settings.BosId,
            EosId = settings.EosId,
            UnkId = tokenizer.UnkId,
            PadId = settings.PadId,
            AddSpacePrefix = settings.AddPrefixSpace,
        };
    }

    /// <summary>The llama.cpp pre-tokenizer whose regex and merge rule equal the tokenizer.json's.</summary>
    private static string PreTokenizer(ByteLevelBpeSettings settings, string file)
    {
        string[] splits = [.. settings.SplitPatterns.Select(r => r.ToString())];
        (string Name, bool IgnoreMerges)? match = (splits, settings.UseGpt2Regex) switch
        {
            ([], true) => ("gpt-2", false),
            ([Llama3SplitPattern], false) => ("llama-bpe", true),
            ([Qwen2SplitPattern], false) => ("qwen2", false),
            _ => null,
        };
        if (match is not { } known)
        {
            string described = splits.Length == 0 ? "no Split step" : $"Split pattern{(splits.Length > 1 ? "s" : "")} {string.Join(", ", splits.Select(s => $"\"{s}\""))}";
            throw new ModelFormatException(file,
                $"pre_tokenizer ({described}, ByteLevel use_regex={(settings.UseGpt2Regex ? "true" : "false")}) matches none of llama.cpp's pre-tokenizers this export maps (GPT-2, Llama 3, Qwen2)");
        }
        if (settings.IgnoreMerges != known.IgnoreMerges)
            throw new ModelFormatException(file,
                $"model.ignore_merges is {(settings.IgnoreMerges ? "true" : "false")} but llama.cpp's '{known.Name}' pre-tokenizer uses {(known.IgnoreMerges ? "true" : "false")}");
        return known.Name;
    }

    private static string PaddingToken(int id) => $"[PAD{id}]";

    private static int? Optional(int id) => id >= 0 ? id : null;
}
