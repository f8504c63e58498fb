// GgufTestModels.cs — model folders for the GGUF export tests: a small random GQA LLaMA (and variants with
// tied embeddings, biases and RoPE scaling), the same model pruned uniformly or per layer by slicing its
// weights as compaction does, and tokenizers of each kind the export maps (SentencePiece, byte-level BPE).
using System.Text.Json;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Text;
using LoRAPrune.Tests.Inference;
using LoRAPrune.Tests.IO;

namespace LoRAPrune.Tests.LlamaCpp;

/// <summary>Which heads and channels a pruned layer keeps: KV groups, the query heads kept inside each kept
/// group (indices within the group, the same for every group, so the layer stays GQA), and MLP channels.</summary>
internal sealed record LayerKeep(int[] KeyValueGroups, int[] HeadsInGroup, int[] Channels);

internal static class GgufTestModels
{
    /// <summary>The unpruned test model: C=64, H=4, KVH=2, D=16, F=96, 2 layers, the tiny SentencePiece vocabulary (286).</summary>
    public static LlamaConfig Unpruned() => InferenceFixtures.TokenizerModelConfig() with
    {
        HiddenSize = 64,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        HeadDim = 16,
        IntermediateSize = 96,
        NumHiddenLayers = 2,
    };

    /// <summary>The model pruning starts from: C=64, H=8, KVH=4 (groups of 2 heads), D=8, F=96, 3 layers.</summary>
    public static LlamaConfig PruningBase(int vocabSize) => Unpruned() with
    {
        NumAttentionHeads = 8,
        NumKeyValueHeads = 4,
        HeadDim = 8,
        NumHiddenLayers = 3,
        VocabSize = vocabSize,
    };

    /// <summary>Writes config.json, seeded weights stored as <paramref name="dtype"/>, and the tiny tokenizer.json.</summary>
    public static void Write(string folder, LlamaConfig config, SafetensorsDType dtype = SafetensorsDType.F32)
    {
        TinyLlama.SaveModel(folder, config, dtype);
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), InferenceFixtures.TokenizerJson());
    }

    /// <summary>Writes <paramref name="baseConfig"/>'s seeded weights sliced to <paramref name="keep"/> (one entry per
    /// layer) with the matching per-layer widths; the caller adds the tokenizer.</summary>
    public static LlamaConfig WritePruned(string folder, LlamaConfig baseConfig, IReadOnlyList<LayerKeep> keep, SafetensorsDType dtype = SafetensorsDType.F32)
    {
        var weights = TinyLlama.RandomWeights(baseConfig);
        int d = baseConfig.HeadDim, groupSize = baseConfig.NumAttentionHeads / baseConfig.NumKeyValueHeads;
        for (int l = 0; l < baseConfig.NumHiddenLayers; l++)
        {
            LayerKeep k = keep[l];
            int[] heads = [.. k.KeyValueGroups.SelectMany(g => k.HeadsInGroup.Select(w => g * groupSize + w))];
            int[] qRows = [.. heads.SelectMany(h => Enumerable.Range(h * d, d))];
            int[] kvRows = [.. k.KeyValueGroups.SelectMany(g => Enumerable.Range(g * d, d))];
            SliceRows(weights, LlamaTensorLayout.Weight(LlamaLinear.QProj, l), qRows);
            SliceRows(weights, LlamaTensorLayout.Weight(LlamaLinear.KProj, l), kvRows);
            SliceRows(weights, LlamaTensorLayout.Weight(LlamaLinear.VProj, l), kvRows);
            SliceColumns(weights, LlamaTensorLayout.Weight(LlamaLinear.OProj, l), qRows);
            SliceRows(weights, LlamaTensorLayout.Weight(LlamaLinear.GateProj, l), k.Channels);
            SliceRows(weights, LlamaTensorLayout.Weight(LlamaLinear.UpProj, l), k.Channels);
            SliceColumns(weights, LlamaTensorLayout.Weight(LlamaLinear.DownProj, l), k.Channels);
        }
        LlamaConfig pruned = baseConfig.WithLayerWidths(
            [.. keep.Select(k => k.KeyValueGroups.Length * k.HeadsInGroup.Length)],
            [.. keep.Select(k => k.KeyValueGroups.Length)],
            [.. keep.Select(k => k.Channels.Length)]);
        LlamaCheckpoint.Save(folder, pruned, TinyLlama.Writer(weights, dtype));
        return pruned;
    }

    /// <summary>Writes the embedded LLaMA-2 SentencePiece model as tokenizer.model (32,000 pieces).</summary>
    public static void WriteLlama2TokenizerModel(string folder) =>
        File.WriteAllBytes(Path.Combine(folder, "tokenizer.model"), LlamaSentencePieceTokenizer.EmbeddedLlama2Model().ToBytes());

    /// <summary>Merges of the byte-level test tokenizer, in rank order ('Ġ' is GPT-2's space byte).</summary>
    private static readonly (string Left, string Right)[] ByteLevelMerges =
    [
        ("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("a", "t"), ("Ġ", "c"), ("Ġc", "at"), ("Ġ", "h"), ("Ġh", "at"), ("Ġ", "in"),
    ];

    /// <summary>Tokens of the byte-level test tokenizer: 256 bytes, one per merge, then two special tokens.</summary>
    public static int ByteLevelTokenCount => 256 + ByteLevelMerges.Length + 2;

    /// <summary>A Llama-3-style byte-level BPE tokenizer.json: the Llama 3 split regex, ByteLevel without its own regex,
    /// ignore_merges, &lt;|begin_of_text|&gt; as BOS through the post-processor.</summary>
    public static string ByteLevelTokenizerJson()
    {
        char[] alphabet = ByteAlphabet();
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (char c in alphabet) vocab.Add(c.ToString(), vocab.Count);
        foreach ((string left, string right) in ByteLevelMerges) vocab.Add(left + right, vocab.Count);
        string[] specials = ["<|begin_of_text|>", "<|end_of_text|>"];
        var json = new
        {
            version = "1.0",
            added_tokens = specials.Select((t, i) => new
            {
                id = vocab.Count + i, content = t, single_word = false, lstrip = false, rstrip = false, normalized = false, special = true,
            }),
            normalizer = (object?)null,
            pre_tokenizer = new
            {
                type = "Sequence",
                pretokenizers = new object[]
                {
                    new { type = "Split", pattern = new { Regex = GgufTokenizerMetadata.Llama3SplitPattern }, behavior = "Isolated", invert = false },
                    new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = false },
                },
            },
            post_processor = new
            {
                type = "TemplateProcessing",
                single = new object[] { new { SpecialToken = new { id = specials[0], type_id = 0 } }, new { Sequence = new { id = "A", type_id = 0 } } },
            },
            decoder = new { type = "ByteLevel", add_prefix_space = true, trim_offsets = true, use_regex = true },
            model = new
            {
                type = "BPE",
                dropout = (object?)null,
                unk_token = (string?)null,
                byte_fallback = false,
                ignore_merges = true,
                vocab,
                merges = ByteLevelMerges.Select(m => new[] { m.Left, m.Right }),
            },
        };
        return JsonSerializer.Serialize(json);
    }

    // GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes for U+0100 onwards.
    private static char[] ByteAlphabet()
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

    private static void SliceRows(SortedDictionary<string, (long[] Shape, float[] Values)> weights, string name, int[] rows)
    {
        (long[] shape, float[] values) = weights[name];
        int columns = (int)shape[1];
        weights[name] = ([rows.Length, columns], [.. rows.SelectMany(r => values.AsSpan(r * columns, columns).ToArray())]);
    }

    private static void SliceColumns(SortedDictionary<string, (long[] Shape, float[] Values)> weights, string name, int[] columns)
    {
        (long[] shape, float[] values) = weights[name];
        int rows = (int)shape[0], width = (int)shape[1];
        weights[name] = ([rows, columns.Length], [.. Enumerable.Range(0, rows).SelectMany(r => columns.Select(c => values[r * width + c]))]);
    }
}
