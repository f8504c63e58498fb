// InferenceFixtures.cs — what the generate/info tests share: the tiny GQA config, a byte-fallback
// SentencePiece-style tokenizer.json small enough to write in a test (3 specials, 256 byte pieces,
// "▁" and a-z), and a complete tiny model folder with that tokenizer.
using System.Text.Json;
using LoRAPrune.Core.IO;
using LoRAPrune.Tests.IO;

namespace LoRAPrune.Tests.Inference;

internal static class InferenceFixtures
{
    /// <summary>Pieces of the tiny tokenizer: &lt;unk&gt; &lt;s&gt; &lt;/s&gt;, &lt;0x00&gt;..&lt;0xFF&gt; (ids 3..258), "▁" (259), "a".."z" (260..285).</summary>
    public static readonly string[] TokenizerPieces =
    [
        "<unk>", "<s>", "</s>",
        .. Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"),
        "▁",
        .. Enumerable.Range(0, 26).Select(i => ((char)('a' + i)).ToString()),
    ];

    public static int ByteId(int b) => 3 + b;

    /// <summary>The tiny tokenizer as tokenizer.json text (Metaspace pre-tokenizer, BOS template, no merges).</summary>
    public static string TokenizerJson()
    {
        var json = new
        {
            version = "1.0",
            added_tokens = new[] { "<unk>", "<s>", "</s>" }.Select((t, i) => new
            {
                id = i, content = t, single_word = false, lstrip = false, rstrip = false, normalized = false, special = true,
            }),
            normalizer = (object?)null,
            pre_tokenizer = new { type = "Metaspace", replacement = "▁", prepend_scheme = "first", split = false },
            post_processor = new
            {
                type = "TemplateProcessing",
                single = new object[] { new { SpecialToken = new { id = "<s>", type_id = 0 } }, new { Sequence = new { id = "A", type_id = 0 } } },
            },
            model = new
            {
                type = "BPE",
                dropout = (object?)null,
                unk_token = "<unk>",
                byte_fallback = true,
                fuse_unk = true,
                vocab = TokenizerPieces.Select((p, i) => (p, i)).ToDictionary(x => x.p, x => x.i),
                merges = Array.Empty<string>(),
            },
        };
        return JsonSerializer.Serialize(json);
    }

    /// <summary>TinyLlama's config (C=16, H=4, KVH=2, D=4, F=24, 2 layers) with the tiny tokenizer's vocabulary.</summary>
    public static LlamaConfig TokenizerModelConfig(int maxPositions = 64) => TinyLlama.Config() with
    {
        VocabSize = TokenizerPieces.Length,
        MaxPositionEmbeddings = maxPositions,
    };

    /// <summary>Writes config.json, model.safetensors (seeded weights) and, unless told not to, tokenizer.json.</summary>
    public static void WriteModel(string folder, LlamaConfig config, bool withTokenizer = true)
    {
        TinyLlama.SaveModel(folder, config);
        if (withTokenizer) File.WriteAllText(Path.Combine(folder, "tokenizer.json"), TokenizerJson());
    }
}
