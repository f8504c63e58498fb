// HfTokenizerJson — reads a Hugging Face tokenizer.json and builds the matching tokenizer: a BPE model with
// byte_fallback (LLaMA-2, TinyLlama, Mistral: SentencePiece conversions) becomes a LlamaSentencePieceTokenizer,
// a BPE model with a ByteLevel pre-tokenizer (GPT-2, Llama-3, Qwen2) a ByteLevelBpeTokenizer. Every construct
// this project does not reproduce exactly is rejected with the json path of the offending field.
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace LoRAPrune.Core.Text;

/// <summary>Special-token names from tokenizer_config.json; they take precedence over what tokenizer.json implies.</summary>
public sealed record SpecialTokenNames(string? Bos = null, string? Eos = null, string? Pad = null);

/// <summary>Builds tokenizers from HF tokenizer.json files.</summary>
public static class HfTokenizerJson
{
    const string Metaspace = "▁";

    /// <summary>Loads <paramref name="path"/>; <paramref name="names"/> come from tokenizer_config.json when present.</summary>
    public static ITokenizer Load(string path, SpecialTokenNames? names = null)
    {
        string json;
        try
        {
            json = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerFileException(path, $"cannot read: {e.Message}", e);
        }
        return Parse(json, path, names ?? new SpecialTokenNames());
    }

    /// <summary>Builds a tokenizer from tokenizer.json text; <paramref name="source"/> names it in errors.</summary>
    public static ITokenizer Parse(string json, string source, SpecialTokenNames names)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new TokenizerFileException(source, $"not valid JSON: {e.Message}", e);
        }
        using (doc)
        {
            var f = new Fields(source);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new TokenizerFileException(source, "top level is not a JSON object");
            var model = f.Object(root, "model") ?? throw new TokenizerFileException(source, "no \"model\" object: not a tokenizer.json");
            string type = f.String(model, "model.type") ?? throw new TokenizerFileException(source, "model.type is missing");
            if (type != "BPE")
                throw new TokenizerFileException(source, $"model.type \"{type}\" is not supported; only BPE (SentencePiece byte-fallback or byte-level) is");
            if (f.Number(model, "model.dropout") is > 0)
                throw new TokenizerFileException(source, "model.dropout is set; BPE dropout is a training-time augmentation and is not supported");
            foreach (string field in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            {
                if (!string.IsNullOrEmpty(f.String(model, "model." + field)))
                    throw new TokenizerFileException(source, $"model.{field} is set; only SentencePiece-style and byte-level BPE are supported");
            }

            var vocab = ReadVocab(f, model);
            var merges = ReadMerges(f, model);
            var added = ReadAddedTokens(f, root);
            string? unk = f.String(model, "model.unk_token");
            string? templateBos = TemplateBos(f, f.Object(root, "post_processor"), "post_processor");
            var normalizer = f.Object(root, "normalizer");
            var preTokenizer = f.Object(root, "pre_tokenizer");

            if (f.Bool(model, "model.byte_fallback") == true)
                return SentencePieceFromJson(f, vocab, merges, added, unk, names, templateBos, normalizer, preTokenizer);
            if (preTokenizer is { } pre && ContainsType(f, pre, "ByteLevel"))
                return ByteLevelFromJson(f, vocab, merges, added, unk, names, templateBos, normalizer, pre, model);
            throw new TokenizerFileException(source,
                "BPE model has neither byte_fallback (SentencePiece style) nor a ByteLevel pre-tokenizer (GPT-2 style); not supported");
        }
    }

    static LlamaSentencePieceTokenizer SentencePieceFromJson(Fields f, Dictionary<string, int> vocab,
        List<(string Left, string Right)> merges, List<AddedToken> added, string? unk, SpecialTokenNames names,
        string? templateBos, JsonElement? normalizer, JsonElement? preTokenizer)
    {
        string source = f.Source;
        bool escapes = false, dummyPrefix = false;
        if (normalizer is { } norm)
        {
            foreach (var (step, where) in Flatten(f, norm, "normalizer", "normalizers"))
            {
                string? type = f.String(step, where + ".type");
                if (type == "Prepend" && f.String(step, where + ".prepend") == Metaspace)
                    dummyPrefix = true;
                else if (type == "Replace" && f.Object(step, "pattern") is { } p && f.String(p, where + ".pattern.String") == " "
                         && f.String(step, where + ".content") == Metaspace)
                    escapes = true;
                else
                    throw new TokenizerFileException(source, $"{where} of type \"{type}\" is not supported with byte_fallback BPE");
            }
        }
        if (preTokenizer is { } pre)
        {
            foreach (var (step, where) in Flatten(f, pre, "pre_tokenizer", "pretokenizers"))
            {
                string? type = f.String(step, where + ".type");
                if (type != "Metaspace" || (f.String(step, where + ".replacement") ?? Metaspace) != Metaspace)
                    throw new TokenizerFileException(source, $"{where} of type \"{type}\" is not supported with byte_fallback BPE");
                if (f.Bool(step, where + ".split") == true)
                    throw new TokenizerFileException(source, $"{where}.split is true; SentencePiece segmentation needs split=false");
                string scheme = f.String(step, where + ".prepend_scheme")
                    ?? (f.Bool(step, where + ".add_prefix_space") == false ? "never" : "always");
                escapes = true;
                dummyPrefix |= scheme is "always" or "first";
            }
        }
        if (!escapes)
            throw new TokenizerFileException(source, "spaces are not mapped to '▁' (no Replace normalizer or Metaspace pre-tokenizer)");

        var pieces = DensePieces(source, vocab, added);
        var specials = added.Where(a => a.Special).Select(a => a.Id).ToHashSet();
        var userDefined = added.Where(a => !a.Special).Select(a => a.Id).ToHashSet();
        int unkId = unk is not null && vocab.TryGetValue(unk, out int u) ? u
            : throw new TokenizerFileException(source, "model.unk_token is missing or not in model.vocab; byte_fallback BPE needs it");
        var bytePieces = Enumerable.Range(0, 256).Select(SentencePieceModel.BytePiece).ToHashSet();
        var types = new SentencePieceType[pieces.Length];
        for (int i = 0; i < pieces.Length; i++)
            types[i] = i == unkId ? SentencePieceType.Unknown
                : specials.Contains(i) ? SentencePieceType.Control
                : userDefined.Contains(i) ? SentencePieceType.UserDefined
                : bytePieces.Contains(pieces[i]) ? SentencePieceType.Byte
                : SentencePieceType.Normal;
        var idOf = pieces.Select((p, i) => (p, i)).ToDictionary(x => x.p, x => x.i, StringComparer.Ordinal);
        var rankedMerges = merges.Select((m, rank) => (
            idOf.TryGetValue(m.Left, out int l) ? l : throw new TokenizerFileException(source, $"model.merges[{rank}]: \"{m.Left}\" is not in model.vocab"),
            idOf.TryGetValue(m.Right, out int r) ? r : throw new TokenizerFileException(source, $"model.merges[{rank}]: \"{m.Right}\" is not in model.vocab")))
            .ToArray();
        int Resolve(string? name) => name is not null && idOf.TryGetValue(name, out int id) ? id : -1;
        int bos = Resolve(names.Bos ?? templateBos ?? "<s>");
        int eos = Resolve(names.Eos ?? "</s>");
        int pad = Resolve(names.Pad);
        var model = LlamaSentencePieceTokenizer.ModelFromRankedMerges(new RankedMergesVocabulary(pieces, rankedMerges), types,
            unkId, bos, eos, pad, byteFallback: true, addDummyPrefix: dummyPrefix, source);
        return new LlamaSentencePieceTokenizer(model, $"SentencePiece BPE ({source})", source);
    }

    static ByteLevelBpeTokenizer ByteLevelFromJson(Fields f, Dictionary<string, int> vocab,
        List<(string Left, string Right)> merges, List<AddedToken> added, string? unk, SpecialTokenNames names,
        string? templateBos, JsonElement? normalizer, JsonElement pre, JsonElement model)
    {
        string source = f.Source;
        NormalizationForm? form = null;
        if (normalizer is { } norm)
        {
            foreach (var (step, where) in Flatten(f, norm, "normalizer", "normalizers"))
            {
                string? type = f.String(step, where + ".type");
                form = type switch
                {
                    "NFC" => NormalizationForm.FormC,
                    "NFD" => NormalizationForm.FormD,
                    "NFKC" => NormalizationForm.FormKC,
                    "NFKD" => NormalizationForm.FormKD,
                    _ => throw new TokenizerFileException(source, $"{where} of type \"{type}\" is not supported with byte-level BPE"),
                };
            }
        }
        var splits = new List<Regex>();
        bool byteLevelSeen = false, prefixSpace = false, gpt2Regex = true;
        foreach (var (step, where) in Flatten(f, pre, "pre_tokenizer", "pretokenizers"))
        {
            string? type = f.String(step, where + ".type");
            if (byteLevelSeen)
                throw new TokenizerFileException(source, $"{where} ({type}) follows the ByteLevel step; ByteLevel must come last");
            if (type == "ByteLevel")
            {
                byteLevelSeen = true;
                prefixSpace = f.Bool(step, where + ".add_prefix_space") ?? false;
                gpt2Regex = f.Bool(step, where + ".use_regex") ?? true;
            }
            else if (type == "Split")
            {
                splits.Add(SplitPattern(f, step, where));
            }
            else
            {
                throw new TokenizerFileException(source, $"{where} of type \"{type}\" is not supported with byte-level BPE");
            }
        }
        int? Resolve(string? name) =>
            name is null ? null
            : vocab.TryGetValue(name, out int id) ? id
            : added.FirstOrDefault(a => a.Content == name)?.Id;
        int? eos = Resolve(names.Eos);
        foreach (string candidate in new[] { "<|end_of_text|>", "<|endoftext|>", "</s>" })
            eos ??= Resolve(candidate);
        var settings = new ByteLevelBpeSettings
        {
            Vocab = vocab,
            Merges = merges,
            AddedTokens = added,
            Normalization = form,
            SplitPatterns = splits,
            AddPrefixSpace = prefixSpace,
            UseGpt2Regex = gpt2Regex,
            IgnoreMerges = f.Bool(model, "model.ignore_merges") ?? false,
            BosId = Resolve(names.Bos ?? templateBos),
            EosId = eos,
            PadId = Resolve(names.Pad),
            UnkToken = unk,
        };
        return new ByteLevelBpeTokenizer(settings, $"byte-level BPE ({source})", source);
    }

    static Regex SplitPattern(Fields f, JsonElement step, string where)
    {
        string behavior = f.String(step, where + ".behavior") ?? "Isolated";
        if (behavior != "Isolated" || f.Bool(step, where + ".invert") == true)
            throw new TokenizerFileException(f.Source, $"{where}: only behavior Isolated without invert is supported (got {behavior})");
        var pattern = f.Object(step, "pattern") ?? throw new TokenizerFileException(f.Source, $"{where}.pattern is missing");
        string? regex = f.String(pattern, where + ".pattern.Regex");
        string? literal = f.String(pattern, where + ".pattern.String");
        string text = regex ?? (literal is not null ? Regex.Escape(literal)
            : throw new TokenizerFileException(f.Source, $"{where}.pattern has neither Regex nor String"));
        try
        {
            return new Regex(text, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
        catch (ArgumentException e)
        {
            throw new TokenizerFileException(f.Source, $"{where}.pattern is not a .NET regular expression: {e.Message}", e);
        }
    }

    static Dictionary<string, int> ReadVocab(Fields f, JsonElement model)
    {
        var v = f.Object(model, "vocab") ?? throw new TokenizerFileException(f.Source, "model.vocab is missing or not an object");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in v.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                throw new TokenizerFileException(f.Source, $"model.vocab[\"{p.Name}\"] is not a non-negative integer id");
            if (!vocab.TryAdd(p.Name, id))
                throw new TokenizerFileException(f.Source, $"model.vocab lists \"{p.Name}\" twice");
        }
        return vocab;
    }

    // Merges are "left right" strings (older files) or ["left", "right"] pairs (tokenizers 0.20 and later).
    static List<(string Left, string Right)> ReadMerges(Fields f, JsonElement model)
    {
        if (!model.TryGetProperty("merges", out var m) || m.ValueKind != JsonValueKind.Array)
            throw new TokenizerFileException(f.Source, "model.merges is missing or not an array");
        var merges = new List<(string, string)>(m.GetArrayLength());
        foreach (var item in m.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.String && item.GetString()!.Split(' ') is [var l, var r])
                merges.Add((l, r));
            else if (item.ValueKind == JsonValueKind.Array && item.GetArrayLength() == 2
                     && item[0].ValueKind == JsonValueKind.String && item[1].ValueKind == JsonValueKind.String)
                merges.Add((item[0].GetString()!, item[1].GetString()!));
            else
                throw new TokenizerFileException(f.Source, $"model.merges[{merges.Count}] is neither \"left right\" nor [left, right]");
        }
        return merges;
    }

    static List<AddedToken> ReadAddedTokens(Fields f, JsonElement root)
    {
        var list = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out var a) || a.ValueKind == JsonValueKind.Null)
            return list;
        if (a.ValueKind != JsonValueKind.Array)
            throw new TokenizerFileException(f.Source, "added_tokens is not an array");
        foreach (var t in a.EnumerateArray())
        {
            string where = $"added_tokens[{list.Count}]";
            if (t.ValueKind != JsonValueKind.Object || !t.TryGetProperty("id", out var idEl) || !idEl.TryGetInt32(out int id) || id < 0)
                throw new TokenizerFileException(f.Source, $"{where} has no valid id");
            string content = f.String(t, where + ".content") ?? throw new TokenizerFileException(f.Source, $"{where} has no content");
            list.Add(new AddedToken(id, content, f.Bool(t, where + ".special") ?? false, f.Bool(t, where + ".single_word") ?? false,
                f.Bool(t, where + ".lstrip") ?? false, f.Bool(t, where + ".rstrip") ?? false));
        }
        return list;
    }

    // Pieces by id for the SentencePiece path: vocab plus added tokens must cover 0..N-1 without holes.
    static string[] DensePieces(string source, Dictionary<string, int> vocab, List<AddedToken> added)
    {
        int count = Math.Max(vocab.Count == 0 ? 0 : vocab.Values.Max() + 1, added.Count == 0 ? 0 : added.Max(a => a.Id) + 1);
        var pieces = new string?[count];
        foreach (var (piece, id) in vocab)
        {
            if (pieces[id] is not null)
                throw new TokenizerFileException(source, $"model.vocab gives id {id} to both \"{pieces[id]}\" and \"{piece}\"");
            pieces[id] = piece;
        }
        foreach (var t in added)
        {
            if (pieces[t.Id] is { } existing && existing != t.Content)
                throw new TokenizerFileException(source, $"added token \"{t.Content}\" reuses id {t.Id} of \"{existing}\"");
            pieces[t.Id] = t.Content;
        }
        int hole = Array.IndexOf(pieces, null);
        if (hole >= 0)
            throw new TokenizerFileException(source, $"no token has id {hole}; SentencePiece vocabularies are dense");
        return pieces!;
    }

    // BOS implied by the post-processor: TemplateProcessing whose single template starts with a SpecialToken,
    // Bert/Roberta processing's cls token, or either inside a Sequence.
    static string? TemplateBos(Fields f, JsonElement? processor, string where)
    {
        if (processor is not { } p)
            return null;
        switch (f.String(p, where + ".type"))
        {
            case "TemplateProcessing":
                if (p.TryGetProperty("single", out var single) && single.ValueKind == JsonValueKind.Array && single.GetArrayLength() > 0
                    && single[0].ValueKind == JsonValueKind.Object && single[0].TryGetProperty("SpecialToken", out var special))
                    return f.String(special, where + ".single[0].SpecialToken.id");
                return null;
            case "BertProcessing" or "RobertaProcessing":
                return p.TryGetProperty("cls", out var cls) && cls.ValueKind == JsonValueKind.Array && cls.GetArrayLength() > 0
                    && cls[0].ValueKind == JsonValueKind.String ? cls[0].GetString() : null;
            case "Sequence":
                if (!p.TryGetProperty("processors", out var list) || list.ValueKind != JsonValueKind.Array)
                    return null;
                int i = 0;
                foreach (var inner in list.EnumerateArray())
                {
                    if (TemplateBos(f, inner, $"{where}.processors[{i++}]") is { } bos)
                        return bos;
                }
                return null;
            default:
                return null;
        }
    }

    // A component or a {"type": "Sequence", "<listName>": [...]} of components, flattened with json paths.
    static IEnumerable<(JsonElement Step, string Where)> Flatten(Fields f, JsonElement component, string where, string listName)
    {
        if (f.String(component, where + ".type") != "Sequence")
        {
            yield return (component, where);
            yield break;
        }
        if (!component.TryGetProperty(listName, out var list) || list.ValueKind != JsonValueKind.Array)
            throw new TokenizerFileException(f.Source, $"{where} is a Sequence without a {listName} array");
        int i = 0;
        foreach (var inner in list.EnumerateArray())
        {
            foreach (var item in Flatten(f, inner, $"{where}.{listName}[{i}]", listName))
                yield return item;
            i++;
        }
    }

    static bool ContainsType(Fields f, JsonElement component, string type) =>
        Flatten(f, component, "pre_tokenizer", "pretokenizers").Any(s => f.String(s.Step, s.Where + ".type") == type);

    /// <summary>Typed, optional field access whose errors name the file and the json path.</summary>
    sealed class Fields(string source)
    {
        public string Source { get; } = source;

        public JsonElement? Object(JsonElement parent, string name) =>
            parent.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Object ? v : null;

        public string? String(JsonElement parent, string path) => Get(parent, path, JsonValueKind.String)?.GetString();

        public bool? Bool(JsonElement parent, string path) =>
            Get(parent, path, JsonValueKind.True) is { } v ? v.ValueKind == JsonValueKind.True : null;

        public double? Number(JsonElement parent, string path) => Get(parent, path, JsonValueKind.Number)?.GetDouble();

        JsonElement? Get(JsonElement parent, string path, JsonValueKind kind)
        {
            string name = path[(path.LastIndexOf('.') + 1)..];
            if (parent.ValueKind != JsonValueKind.Object || !parent.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
                return null;
            bool ok = kind == JsonValueKind.True ? v.ValueKind is JsonValueKind.True or JsonValueKind.False : v.ValueKind == kind;
            if (!ok)
                throw new TokenizerFileException(Source, $"{path} is {v.ValueKind}, expected {(kind == JsonValueKind.True ? "a boolean" : kind.ToString())}");
            return v;
        }
    }
}
