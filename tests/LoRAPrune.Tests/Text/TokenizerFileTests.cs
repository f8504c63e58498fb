// TokenizerFileTests — tokenizers loaded from files: Llama-2 tokenizer.json (both transformers layouts) and a
// SentencePiece tokenizer.model must give the embedded tokenizer's ids; byte-level BPE (GPT-2 and Llama-3 layouts)
// is checked on a small vocabulary against ids worked out by hand; broken files must fail with clear messages.
using System.Text.Json;
using LoRAPrune.Core.Text;

namespace LoRAPrune.Tests.Text;

public class TokenizerFileTests
{
    static readonly string[] Texts =
    [
        .. LlamaGoldenCases.All.Select(c => c.Text),
        "", " ", "   several   spaces   ", "line one\nline two\r\n\n\ttabbed",
        "Größenwahn, naïve café", "日本語のテキスト", "emoji 🦙🎉👩‍👩‍👧 🇳🇴", "Съешь же ещё этих мягких булок",
    ];

    static void AssertSameIds(ITokenizer expected, ITokenizer actual)
    {
        Assert.Equal(expected.VocabSize, actual.VocabSize);
        Assert.Equal(expected.BosId, actual.BosId);
        Assert.Equal(expected.EosId, actual.EosId);
        Assert.Equal(expected.UnkId, actual.UnkId);
        foreach (string text in Texts)
        {
            int[] ids = expected.Encode(text, addBos: true);
            Assert.Equal(ids, actual.Encode(text, addBos: true));
            Assert.Equal(text, actual.Decode(ids));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Llama2_tokenizer_json_matches_the_embedded_tokenizer(bool metaspaceStyle)
    {
        using var dir = new TempDir();
        TokenizerFiles.WriteLlama2Json(dir.File("tokenizer.json"), metaspaceStyle);
        var tokenizer = TokenizerLoader.Load(dir.Path);
        Assert.IsType<LlamaSentencePieceTokenizer>(tokenizer);
        AssertSameIds(TokenizerLoader.LoadLlama2Default(), tokenizer);
    }

    [Fact]
    public void Sentencepiece_model_file_matches_the_embedded_tokenizer()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("tokenizer.model"), TokenizerFiles.Llama2ModelProto());
        var tokenizer = TokenizerLoader.Load(dir.Path);
        Assert.IsType<LlamaSentencePieceTokenizer>(tokenizer);
        AssertSameIds(TokenizerLoader.LoadLlama2Default(), tokenizer);
        foreach (var (text, ids) in LlamaGoldenCases.All)
            Assert.Equal(ids, tokenizer.Encode(text, addBos: true));
    }

    [Fact]
    public void Sentencepiece_model_written_by_the_library_reads_back_identically()
    {
        var original = SentencePieceModel.Parse(TokenizerFiles.Llama2ModelProto(), "test");
        var reread = SentencePieceModel.Parse(original.ToBytes(), "test");
        Assert.Equal(original.Pieces, reread.Pieces);
        Assert.Equal((SentencePieceModelType.Bpe, true, 0, 1, 2, -1), (reread.ModelType, reread.ByteFallback, reread.UnkId, reread.BosId, reread.EosId, reread.PadId));
        Assert.Equal(("identity", true, false, true), (reread.NormalizerName, reread.AddDummyPrefix, reread.RemoveExtraWhitespaces, reread.EscapeWhitespaces));
    }

    [Fact]
    public void Loader_prefers_tokenizer_json_over_tokenizer_model()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("tokenizer.model"), TokenizerFiles.Llama2ModelProto());
        File.WriteAllText(dir.File("tokenizer.json"), ByteLevelFixture.Json(llama3Style: false));
        Assert.IsType<ByteLevelBpeTokenizer>(TokenizerLoader.Load(dir.Path));
    }

    [Fact]
    public void Loader_names_the_folder_when_there_is_no_tokenizer()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<TokenizerFileException>(() => TokenizerLoader.Load(dir.Path));
        Assert.Contains($"no tokenizer.json or tokenizer.model in {dir.Path}", e.Message);
        Assert.Equal(dir.Path, e.FilePath);
        var missing = Path.Combine(dir.Path, "absent");
        Assert.Contains(missing, Assert.Throws<TokenizerFileException>(() => TokenizerLoader.Load(missing)).Message);
    }

    // ---- byte-level BPE on a small vocabulary (ids in ByteLevelFixture) ----

    [Theory]
    [InlineData("hello world!", new[] { 259, 264, 33 })]
    [InlineData("aaaaa", new[] { 265, 265, 97 })]
    [InlineData("café", new[] { 99, 97, 102, 266 })]
    [InlineData("xyz", new[] { 120, 121, 122 })]
    [InlineData("hello  world", new[] { 259, 32, 264 })]
    [InlineData("🦙", new[] { 240, 159, 166, 153 })]
    [InlineData("a\nb", new[] { 97, 10, 98 })]
    [InlineData("12345", new[] { 267, 268, 53 })]
    [InlineData("<|begin_of_text|>hello<|end_of_text|>", new[] { 271, 259, 272 })]
    [InlineData("a <mask>b", new[] { 97, 273, 98 })]
    public void Gpt2_style_byte_level_bpe_gives_hand_computed_ids(string text, int[] expected)
    {
        var tokenizer = ByteLevelFixture.Load(llama3Style: false);
        Assert.Equal(expected, tokenizer.Encode(text, addBos: false));
        Assert.Equal(text.Replace(" <mask>", "<mask>"), tokenizer.Decode(expected));
    }

    [Theory]
    [InlineData("hello world!", new[] { 271, 259, 264, 33 })]
    [InlineData("xyz", new[] { 271, 269 })]
    [InlineData(" xyz", new[] { 271, 270 })]
    [InlineData("12345", new[] { 271, 267, 51, 52, 53 })]
    [InlineData("", new[] { 271 })]
    public void Llama3_style_byte_level_bpe_gives_hand_computed_ids(string text, int[] expected)
    {
        var tokenizer = ByteLevelFixture.Load(llama3Style: true);
        Assert.Equal(expected, tokenizer.Encode(text, addBos: true));
        Assert.Equal("<|begin_of_text|>" + text, tokenizer.Decode(expected));
    }

    [Fact]
    public void Byte_level_special_ids_come_from_post_processor_and_config()
    {
        var llama3 = ByteLevelFixture.Load(llama3Style: true);
        Assert.Equal((int?)271, llama3.BosId);
        Assert.Equal((int?)272, llama3.EosId);
        Assert.Null(llama3.UnkId);
        Assert.Equal(273, llama3.VocabSize);
        Assert.Equal("Ġworld", llama3.IdToToken(264));
        Assert.Equal((int?)272, llama3.TokenToId("<|end_of_text|>"));

        var gpt2 = ByteLevelFixture.Load(llama3Style: false);
        Assert.Null(gpt2.BosId);
        Assert.Equal([259], gpt2.Encode("hello", addBos: true));
        using var dir = new TempDir();
        File.WriteAllText(dir.File("tokenizer.json"), ByteLevelFixture.Json(llama3Style: false));
        File.WriteAllText(dir.File("tokenizer_config.json"), """{"bos_token": {"content": "<|begin_of_text|>"}, "eos_token": "<|end_of_text|>", "pad_token": null}""");
        var configured = TokenizerLoader.Load(dir.Path);
        Assert.Equal((int?)271, configured.BosId);
        Assert.Equal((int?)272, configured.EosId);
        Assert.Null(configured.PadId);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Byte_level_round_trip_is_exact(bool llama3Style)
    {
        var tokenizer = ByteLevelFixture.Load(llama3Style);
        foreach (string text in Texts.Append("<|end_of_text|> after a special"))
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addBos: false)));
    }

    [Fact]
    public void Byte_level_concurrent_encoding_matches_sequential()
    {
        var tokenizer = ByteLevelFixture.Load(llama3Style: true);
        var expected = Texts.Select(t => tokenizer.Encode(t, addBos: true)).ToArray();
        Parallel.For(0, 64, i => Assert.Equal(expected[i % Texts.Length], tokenizer.Encode(Texts[i % Texts.Length], addBos: true)));
    }

    // ---- broken files ----

    [Fact]
    public void Truncated_sentencepiece_model_is_a_clear_error()
    {
        using var dir = new TempDir();
        byte[] model = TokenizerFiles.Llama2ModelProto();
        string path = dir.File("tokenizer.model");
        File.WriteAllBytes(path, model[..^3]);
        var e = Assert.Throws<TokenizerFileException>(() => TokenizerLoader.Load(dir.Path));
        Assert.Equal(path, e.FilePath);
        Assert.Contains("corrupt SentencePiece model", e.Message);
        Assert.Contains("runs past the end", e.Message);

        File.WriteAllBytes(path, model[..(model.Length / 2)]);
        Assert.Equal(path, Assert.Throws<TokenizerFileException>(() => TokenizerLoader.LoadFile(path)).FilePath);
        File.WriteAllBytes(path, []);
        Assert.Contains("empty file", Assert.Throws<TokenizerFileException>(() => TokenizerLoader.LoadFile(path)).Message);
        File.WriteAllText(path, "{ \"this is\": \"json, not protobuf\" }");
        Assert.Equal(path, Assert.Throws<TokenizerFileException>(() => TokenizerLoader.LoadFile(path)).FilePath);
    }

    [Fact]
    public void Unigram_sentencepiece_model_is_rejected()
    {
        using var dir = new TempDir();
        string path = dir.File("tokenizer.model");
        File.WriteAllBytes(path, TokenizerFiles.Llama2ModelProto(modelType: 1));
        var e = Assert.Throws<TokenizerFileException>(() => TokenizerLoader.LoadFile(path));
        Assert.Contains("model_type is UNIGRAM; only BPE", e.Message);
    }

    [Theory]
    [InlineData("{\"version\": \"1.0\", \"added_tokens\": []}", "no \"model\" object")]
    [InlineData("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "model.type \"WordPiece\" is not supported")]
    [InlineData("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "model.type \"Unigram\" is not supported")]
    [InlineData("{\"model\": {\"vocab\": {}}}", "model.type is missing")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}", "neither byte_fallback")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"zero\"}, \"merges\": []}}", "model.vocab[\"a\"] is not a non-negative integer id")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"byte_fallback\": \"yes\", \"vocab\": {}, \"merges\": []}}", "model.byte_fallback is String, expected a boolean")]
    [InlineData("{\"model\": {\"type\": \"BPE\", \"vocab\": {}}", "not valid JSON")]
    [InlineData("[1, 2, 3]", "top level is not a JSON object")]
    public void Bad_tokenizer_json_is_a_clear_error(string json, string expected)
    {
        using var dir = new TempDir();
        string path = dir.File("tokenizer.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<TokenizerFileException>(() => TokenizerLoader.Load(dir.Path));
        Assert.Equal(path, e.FilePath);
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Byte_level_json_with_a_merge_outside_the_vocabulary_is_a_clear_error()
    {
        using var dir = new TempDir();
        string path = dir.File("tokenizer.json");
        File.WriteAllText(path, ByteLevelFixture.Json(llama3Style: false, extraMerge: "q z"));
        var e = Assert.Throws<TokenizerFileException>(() => TokenizerLoader.LoadFile(path));
        Assert.Contains("merge 13 (\"q z\") uses or makes a token outside the vocabulary", e.Message);
    }
}

/// <summary>A small byte-level vocabulary: ids 0-255 are the bytes (GPT-2 alphabet), 256-268 come from the 13 merges
/// below, 269 "xyz" and 270 "Ġxyz" no merge can build (only ignore_merges reaches them), 271-273 are added tokens.</summary>
public static class ByteLevelFixture
{
    public static readonly string[] Merges =
        ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "a a", "Ã ©", "1 2", "3 4"];

    public const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // GPT-2 bytes_to_unicode, written out independently of the library.
    static string ByteChar(int b) =>
        ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))
            ? ((char)b).ToString()
            : ((char)(256 + Enumerable.Range(0, b).Count(x => !((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))))).ToString();

    public static string Json(bool llama3Style, string? extraMerge = null)
    {
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++)
            vocab[ByteChar(b)] = b;
        foreach (string m in Merges)
            vocab[m.Replace(" ", "")] = vocab.Count;
        vocab["xyz"] = 269;
        vocab["Ġxyz"] = 270;
        var added = new List<object>
        {
            new { id = 271, content = "<|begin_of_text|>", special = true, single_word = false, lstrip = false, rstrip = false, normalized = false },
            new { id = 272, content = "<|end_of_text|>", special = true, single_word = false, lstrip = false, rstrip = false, normalized = false },
        };
        if (!llama3Style)
            added.Add(new { id = 273, content = "<mask>", special = true, single_word = false, lstrip = true, rstrip = false, normalized = false });
        object preTokenizer = llama3Style
            ? new
            {
                type = "Sequence",
                pretokenizers = new object[]
                {
                    new { type = "Split", pattern = new { Regex = Llama3Pattern }, behavior = "Isolated", invert = false },
                    new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = false },
                },
            }
            : new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = true };
        object? postProcessor = llama3Style
            ? new
            {
                type = "TemplateProcessing",
                single = new object[] { new { SpecialToken = new { id = "<|begin_of_text|>", type_id = 0 } }, new { Sequence = new { id = "A", type_id = 0 } } },
            }
            : null;
        var json = new
        {
            version = "1.0",
            added_tokens = added,
            normalizer = (object?)null,
            pre_tokenizer = preTokenizer,
            post_processor = postProcessor,
            decoder = new { type = "ByteLevel", add_prefix_space = true, trim_offsets = true, use_regex = true },
            model = new
            {
                type = "BPE",
                dropout = (object?)null,
                unk_token = (string?)null,
                byte_fallback = false,
                ignore_merges = llama3Style,
                vocab,
                merges = extraMerge is null ? Merges : [.. Merges, extraMerge],
            },
        };
        return JsonSerializer.Serialize(json);
    }

    public static ITokenizer Load(bool llama3Style) =>
        HfTokenizerJson.Parse(Json(llama3Style), llama3Style ? "llama3-style.json" : "gpt2-style.json", new SpecialTokenNames());
}
