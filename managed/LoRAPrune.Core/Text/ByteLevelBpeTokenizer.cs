// ByteLevelBpeTokenizer — HF byte-level BPE (GPT-2, Llama-3, Qwen2 style tokenizer.json): added tokens are cut out
// of the raw text first, the rest is normalised, split by the json's regex pre-tokenizer, mapped byte by byte to the
// GPT-2 alphabet and merged by rank. The merging and decoding are Microsoft.ML.Tokenizers' BpeTokenizer (ByteLevel mode);
// it cannot run HF's Split pre-tokenizer chains, added-token flags or ignore_merges, so those are done here.
// .NET Regex sees UTF-16 code units: astral-plane letters (U+10000 and up) are not \p{L} here as they are in HF.
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace LoRAPrune.Core.Text;

/// <summary>A token matched in the raw text before any other processing (HF added_tokens).</summary>
/// <param name="SingleWord">Only matches when not inside a word.</param>
/// <param name="LStrip">Also consumes the whitespace on its left.</param>
/// <param name="RStrip">Also consumes the whitespace on its right.</param>
public sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord = false, bool LStrip = false, bool RStrip = false);

/// <summary>Everything a byte-level BPE tokenizer.json defines, already validated as JSON.</summary>
public sealed record ByteLevelBpeSettings
{
    /// <summary>model.vocab: byte-level strings (GPT-2 alphabet, 'Ġ' for space) to ids.</summary>
    public required IReadOnlyDictionary<string, int> Vocab { get; init; }

    /// <summary>model.merges in rank order.</summary>
    public required IReadOnlyList<(string Left, string Right)> Merges { get; init; }

    public IReadOnlyList<AddedToken> AddedTokens { get; init; } = [];

    /// <summary>Unicode normalisation applied to text between added tokens, or null for none.</summary>
    public NormalizationForm? Normalization { get; init; }

    /// <summary>Split pre-tokenizers (behavior Isolated) applied in order before the ByteLevel step.</summary>
    public IReadOnlyList<Regex> SplitPatterns { get; init; } = [];

    /// <summary>ByteLevel.add_prefix_space: a space is prepended to every piece that does not start with one.</summary>
    public bool AddPrefixSpace { get; init; }

    /// <summary>ByteLevel.use_regex: the ByteLevel step also splits with the GPT-2 pattern.</summary>
    public bool UseGpt2Regex { get; init; } = true;

    /// <summary>model.ignore_merges: a piece that is itself in the vocabulary is emitted without merging (Llama-3).</summary>
    public bool IgnoreMerges { get; init; }

    public int? BosId { get; init; }
    public int? EosId { get; init; }
    public int? PadId { get; init; }
    public string? UnkToken { get; init; }
}

/// <summary>Byte-level BPE tokenizer over an HF vocabulary and merge list.</summary>
public sealed class ByteLevelBpeTokenizer : ITokenizer
{
    /// <summary>The pattern HF's ByteLevel pre-tokenizer uses when use_regex is true (GPT-2).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    static readonly Regex Gpt2Regex = new(Gpt2Pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
    static readonly char[] ByteToChar = BuildByteAlphabet();

    readonly ByteLevelBpeSettings _settings;
    readonly BpeTokenizer _bpe;
    readonly Regex? _addedTokenRegex;
    readonly Dictionary<string, AddedToken> _addedByContent;
    readonly Dictionary<int, string> _tokenById;

    /// <summary>Builds the tokenizer; <paramref name="source"/> names the file in errors.</summary>
    public ByteLevelBpeTokenizer(ByteLevelBpeSettings settings, string name, string source)
    {
        _settings = settings;
        Name = name;
        foreach (char c in ByteToChar)
        {
            if (!settings.Vocab.ContainsKey(c.ToString()))
                throw new TokenizerFileException(source,
                    $"byte-level vocabulary lacks \"{c}\" (byte 0x{Array.IndexOf(ByteToChar, c):X2}); every byte needs a token");
        }
        for (int rank = 0; rank < settings.Merges.Count; rank++)
        {
            var (left, right) = settings.Merges[rank];
            if (!settings.Vocab.ContainsKey(left) || !settings.Vocab.ContainsKey(right) || !settings.Vocab.ContainsKey(left + right))
                throw new TokenizerFileException(source, $"merge {rank} (\"{left} {right}\") uses or makes a token outside the vocabulary");
        }

        _tokenById = new Dictionary<int, string>(settings.Vocab.Count + settings.AddedTokens.Count);
        foreach (var (token, id) in settings.Vocab)
        {
            if (id < 0 || !_tokenById.TryAdd(id, token))
                throw new TokenizerFileException(source, $"vocabulary id {id} of \"{token}\" is negative or used twice");
        }
        _addedByContent = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        var specialsForDecode = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var added in settings.AddedTokens)
        {
            if (added.Content.Length == 0 || !_addedByContent.TryAdd(added.Content, added))
                throw new TokenizerFileException(source, $"added token {added.Id} is empty or listed twice");
            if (_tokenById.TryGetValue(added.Id, out string? existing))
            {
                if (existing != ToByteLevel(added.Content) && existing != added.Content)
                    throw new TokenizerFileException(source, $"added token \"{added.Content}\" reuses id {added.Id} of \"{existing}\"");
            }
            else
            {
                _tokenById.Add(added.Id, added.Content);
                specialsForDecode.Add(added.Content, added.Id);
            }
        }
        VocabSize = _tokenById.Keys.Max() + 1;
        _addedTokenRegex = settings.AddedTokens.Count == 0 ? null : new Regex(
            string.Join('|', settings.AddedTokens.Select(t => t.Content).OrderByDescending(c => c.Length).Select(Regex.Escape)),
            RegexOptions.CultureInvariant);

        try
        {
            _bpe = BpeTokenizer.Create(new BpeOptions(settings.Vocab)
            {
                Merges = settings.Merges.Select(m => m.Left + " " + m.Right),
                ByteLevel = true,
                PreTokenizer = new WholeTextPreTokenizer(),
                SpecialTokens = specialsForDecode,
                UnknownToken = settings.UnkToken,
            });
        }
        catch (Exception e)
        {
            throw new TokenizerFileException(source, $"Microsoft.ML.Tokenizers cannot build the BPE model: {e.Message}", e);
        }
        BosId = settings.BosId;
        EosId = settings.EosId;
        PadId = settings.PadId;
        UnkId = settings.UnkToken is not null && settings.Vocab.TryGetValue(settings.UnkToken, out int unk) ? unk : null;
    }

    public string Name { get; }

    /// <summary>The tokenizer.json settings it was built from: vocabulary, merges, added tokens, pre-tokenizer steps.</summary>
    public ByteLevelBpeSettings Settings => _settings;

    public int VocabSize { get; }
    public int? BosId { get; }
    public int? EosId { get; }
    public int? UnkId { get; }
    public int? PadId { get; }

    public int[] Encode(string text, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 2);
        if (addBos && BosId.HasValue)
            ids.Add(BosId.Value);
        int pos = 0;
        foreach (var (start, end, id) in FindAddedTokens(text))
        {
            EncodeSegment(text[pos..start], ids);
            ids.Add(id);
            pos = end;
        }
        EncodeSegment(text[pos..], ids);
        return [.. ids];
    }

    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var list = ids as IReadOnlyCollection<int> ?? ids.ToArray();
        foreach (int id in list)
            CheckId(id);
        return _bpe.Decode(list);
    }

    public string IdToToken(int id)
    {
        CheckId(id);
        return _tokenById[id];
    }

    /// <summary>True when <paramref name="id"/> is in the vocabulary or an added token (ids may have holes).</summary>
    public bool HasId(int id) => _tokenById.ContainsKey(id);

    public int? TokenToId(string token) =>
        _settings.Vocab.TryGetValue(token, out int id) ? id
        : _addedByContent.TryGetValue(token, out var added) ? added.Id
        : null;

    /// <summary>Maps text to the GPT-2 byte alphabet: each UTF-8 byte becomes one printable character.</summary>
    public static string ToByteLevel(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        return string.Create(bytes.Length, bytes, static (dst, src) =>
        {
            for (int i = 0; i < src.Length; i++)
                dst[i] = ByteToChar[src[i]];
        });
    }

    void CheckId(int id)
    {
        if (!_tokenById.ContainsKey(id))
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id not in the vocabulary of {Name}");
    }

    // Added tokens, leftmost-longest, honouring single_word / lstrip / rstrip; yields (start, end, id) of the
    // consumed span including stripped whitespace.
    IEnumerable<(int Start, int End, int Id)> FindAddedTokens(string text)
    {
        if (_addedTokenRegex is null)
            yield break;
        int searchFrom = 0, consumed = 0;
        while (searchFrom < text.Length)
        {
            var m = _addedTokenRegex.Match(text, searchFrom);
            if (!m.Success)
                yield break;
            var token = _addedByContent[m.Value];
            int start = m.Index, end = m.Index + m.Length;
            if (token.SingleWord && ((start > 0 && IsWordChar(text[start - 1])) || (end < text.Length && IsWordChar(text[end]))))
            {
                searchFrom = m.Index + 1;
                continue;
            }
            if (token.LStrip)
                while (start > consumed && char.IsWhiteSpace(text[start - 1])) start--;
            if (token.RStrip)
                while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
            yield return (start, end, token.Id);
            consumed = searchFrom = end;
        }
    }

    static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    void EncodeSegment(string segment, List<int> ids)
    {
        if (segment.Length == 0)
            return;
        if (_settings.Normalization is { } form)
            segment = segment.Normalize(form);
        IEnumerable<string> pieces = [segment];
        foreach (var pattern in _settings.SplitPatterns)
            pieces = pieces.SelectMany(p => SplitIsolated(p, pattern));
        if (_settings.AddPrefixSpace)
            pieces = pieces.Select(p => p.StartsWith(' ') ? p : " " + p);
        if (_settings.UseGpt2Regex)
            pieces = pieces.SelectMany(p => SplitIsolated(p, Gpt2Regex));
        foreach (string piece in pieces)
        {
            if (_settings.IgnoreMerges && _settings.Vocab.TryGetValue(ToByteLevel(piece), out int whole))
                ids.Add(whole);
            else
                ids.AddRange(_bpe.EncodeToIds(piece));
        }
    }

    // HF Split with behavior "Isolated": every match is a piece, and so is every non-empty gap between matches.
    static IEnumerable<string> SplitIsolated(string text, Regex pattern)
    {
        int pos = 0;
        for (var m = pattern.Match(text); m.Success; m = m.NextMatch())
        {
            if (m.Length == 0)
                continue;
            if (m.Index > pos)
                yield return text[pos..m.Index];
            yield return m.Value;
            pos = m.Index + m.Length;
        }
        if (pos < text.Length)
            yield return text[pos..];
    }

    // GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 onwards.
    static char[] BuildByteAlphabet()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    /// <summary>Hands Microsoft.ML.Tokenizers each piece whole: pre-tokenization already happened here.</summary>
    sealed class WholeTextPreTokenizer : PreTokenizer
    {
        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
            string.IsNullOrEmpty(text) ? [] : [(0, text.Length)];

        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) =>
            text.IsEmpty ? [] : [(0, text.Length)];
    }
}
