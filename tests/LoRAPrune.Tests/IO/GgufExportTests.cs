// GgufExportTests.cs — what the GGUF export writes, key by key and tensor by tensor: llama vs deci hyper-
// parameters and their value types, llama.cpp's tensor names and q/k row permutation, tied embeddings, RoPE
// scaling, dtypes, and the tokenizer.ggml.* keys of each tokenizer kind (with refusals naming the field).
using System.Text.Json.Nodes;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Text;
using LoRAPrune.Tests.Inference;
using LoRAPrune.Tests.LlamaCpp;

namespace LoRAPrune.Tests.IO;

public sealed class GgufExportTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private GgufLayout Export(GgmlType type, out byte[] file)
    {
        string path = _folder.File("model.gguf");
        GgufExport.Export(_folder.Path, path, type);
        file = File.ReadAllBytes(path);
        return GgufLayout.Parse(file);
    }

    private static object Value(GgufLayout layout, string key) => layout.Metadata[key].Value;

    [Fact]
    public void Uniformly_pruned_model_is_llama_with_scalar_widths_of_the_pruned_layers()
    {
        LayerKeep keep = new([1, 2], [0], [.. Enumerable.Range(0, 40)]);
        GgufTestModels.WritePruned(_folder.Path, GgufTestModels.PruningBase(InferenceFixtures.TokenizerPieces.Length), [keep, keep, keep]);
        File.WriteAllText(_folder.File("tokenizer.json"), InferenceFixtures.TokenizerJson());
        GgufLayout layout = Export(GgmlType.F16, out _);

        Assert.Equal(3u, layout.Version);
        Assert.Equal("llama", Value(layout, "general.architecture"));
        Assert.Equal(1u, Value(layout, "general.file_type"));
        foreach ((string key, uint expected) in new[] { ("attention.head_count", 2u), ("attention.head_count_kv", 2u), ("feed_forward_length", 40u),
                                                       ("embedding_length", 64u), ("block_count", 3u), ("context_length", 64u), ("vocab_size", 286u),
                                                       ("attention.key_length", 8u), ("attention.value_length", 8u), ("rope.dimension_count", 8u) })
            Assert.Equal(new GgufValue(GgufValueType.UInt32, null, expected), layout.Metadata["llama." + key]);
        Assert.Equal(new GgufValue(GgufValueType.Float32, null, 10000f), layout.Metadata["llama.rope.freq_base"]);
        Assert.Equal(new GgufValue(GgufValueType.Float32, null, 1e-5f), layout.Metadata["llama.attention.layer_norm_rms_epsilon"]);
        Assert.DoesNotContain(layout.Keys, k => k.StartsWith("llama.rope.scaling", StringComparison.Ordinal));

        string[] block = ["attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"];
        Assert.Equal(["token_embd.weight", .. Enumerable.Range(0, 3).SelectMany(l => block.Select(b => $"blk.{l}.{b}")), "output_norm.weight", "output.weight"],
                     layout.Tensors.Select(t => t.Name));
        Assert.StartsWith("blk.1.attn_q.weight [64, 16] F16 @", layout.Tensor("blk.1.attn_q.weight").ToString());
        Assert.Equal([40L, 64], layout.Tensor("blk.2.ffn_down.weight").Dimensions);
        Assert.Equal([64L, 286], layout.Tensor("token_embd.weight").Dimensions);
        Assert.All(layout.Tensors, t => Assert.Equal(t.Dimensions.Length == 1 ? GgmlType.F32 : GgmlType.F16, t.Type));
    }

    [Fact]
    public void Per_layer_widths_make_a_deci_model_with_int32_arrays()
    {
        LayerKeep[] keep = [new([0, 1, 3], [0, 1], [.. Enumerable.Range(0, 80)]), new([2], [1], [.. Enumerable.Range(0, 96)]), new([0, 1, 2, 3], [0], [.. Enumerable.Range(0, 8)])];
        GgufTestModels.WritePruned(_folder.Path, GgufTestModels.PruningBase(InferenceFixtures.TokenizerPieces.Length), keep);
        File.WriteAllText(_folder.File("tokenizer.json"), InferenceFixtures.TokenizerJson());
        GgufLayout layout = Export(GgmlType.F32, out _);

        Assert.Equal("deci", Value(layout, "general.architecture"));
        Assert.Equal(0u, Value(layout, "general.file_type"));
        foreach ((string key, int[] perLayer) in new[] { ("head_count", new[] { 6, 1, 4 }), ("head_count_kv", [3, 1, 4]), ("feed_forward_length", [80, 96, 8]) })
        {
            GgufValue value = layout.Metadata[key == "feed_forward_length" ? "deci." + key : "deci.attention." + key];
            Assert.Equal((GgufValueType.Array, GgufValueType.Int32), (value.Type, value.ElementType));
            Assert.Equal(perLayer, value.Array<int>());
        }
        Assert.Equal(8u, Value(layout, "deci.attention.key_length"));
        Assert.Equal(8u, Value(layout, "deci.attention.value_length"));
        Assert.Equal([64L, 24], layout.Tensor("blk.0.attn_k.weight").Dimensions);
        Assert.Equal([64L, 8], layout.Tensor("blk.1.attn_v.weight").Dimensions);
        Assert.Equal([32L, 64], layout.Tensor("blk.2.attn_output.weight").Dimensions);
    }

    [Fact]
    public void Rope_row_source_interleaves_the_two_halves_of_each_head()
    {
        Assert.Equal([0, 2, 1, 3, 4, 6, 5, 7], Enumerable.Range(0, 8).Select(r => GgufExport.RopeRowSource(r, 4)));
        Assert.Equal([0, 3, 1, 4, 2, 5], Enumerable.Range(0, 6).Select(r => GgufExport.RopeRowSource(r, 6)));
    }

    [Fact]
    public void Q_and_k_rows_and_biases_are_permuted_per_head_and_everything_else_is_copied()
    {
        LlamaConfig config = GgufTestModels.Unpruned() with { QkvBias = true, OutputBias = true };
        var weights = TinyLlama.SaveModel(_folder.Path, config);
        File.WriteAllText(_folder.File("tokenizer.json"), InferenceFixtures.TokenizerJson());
        GgufLayout layout = Export(GgmlType.F32, out byte[] file);

        float[] Stored(string name, int count)
        {
            int start = (int)(layout.DataStart + layout.Tensor(name).Offset);
            return [.. Enumerable.Range(0, count).Select(i => BitConverter.ToSingle(file, start + 4 * i))];
        }
        float[] Permuted(float[] source, int rowLength) =>
            [.. Enumerable.Range(0, source.Length / rowLength).SelectMany(r => source.AsSpan(GgufExport.RopeRowSource(r, 16) * rowLength, rowLength).ToArray())];

        (_, float[] q) = weights[LlamaTensorLayout.Weight(LlamaLinear.QProj, 1)];
        (_, float[] kBias) = weights[LlamaTensorLayout.Bias(LlamaLinear.KProj, 0)];
        (_, float[] v) = weights[LlamaTensorLayout.Weight(LlamaLinear.VProj, 0)];
        (_, float[] oBias) = weights[LlamaTensorLayout.Bias(LlamaLinear.OProj, 1)];
        Assert.Equal(Permuted(q, 64), Stored("blk.1.attn_q.weight", q.Length));
        Assert.Equal(Permuted(kBias, 1), Stored("blk.0.attn_k.bias", kBias.Length));
        Assert.NotEqual(kBias, Stored("blk.0.attn_k.bias", kBias.Length));
        Assert.Equal(v, Stored("blk.0.attn_v.weight", v.Length));
        Assert.Equal(oBias, Stored("blk.1.attn_output.bias", oBias.Length));
    }

    [Fact]
    public void Tied_embeddings_omit_output_and_llama3_scaling_writes_rope_factors()
    {
        LlamaConfig config = GgufTestModels.Unpruned() with { TieWordEmbeddings = true, RopeScaling = RopeScaling.Llama3(8, 1, 4, 64) };
        GgufTestModels.Write(_folder.Path, config);
        GgufLayout layout = Export(GgmlType.BF16, out byte[] file);

        Assert.Equal(32u, Value(layout, "general.file_type"));
        Assert.DoesNotContain(layout.Tensors, t => t.Name == "output.weight");
        GgufTensorInfo rope = layout.Tensor("rope_freqs.weight");
        Assert.Equal("rope_freqs.weight [8] F32", rope.ToString().Split(" @")[0]);
        int start = (int)(layout.DataStart + rope.Offset);
        float[] factors = [.. Enumerable.Range(0, 8).Select(i => BitConverter.ToSingle(file, start + 4 * i))];
        // Wavelengths 2π·10000^(i/8) = 6.3, 19.9, 62.8, 199, ...: below 64/4 = 16 kept (factor 1), above 64/1 = 64
        // divided by 8, between blended: 1 / ((1 - smooth) / 8 + smooth) with smooth = (64 / wavelength - 1) / 3.
        Assert.Equal(1f, factors[0]);
        Assert.Equal(1.2940f, factors[1], 1e-3f);
        Assert.Equal(7.6674f, factors[2], 1e-3f);
        Assert.All(factors[3..], f => Assert.Equal(8f, f));
        Assert.Equal(GgmlType.BF16, layout.Tensor("token_embd.weight").Type);
    }

    [Fact]
    public void Linear_rope_scaling_is_written_as_scaling_keys()
    {
        GgufTestModels.Write(_folder.Path, GgufTestModels.Unpruned() with { RopeScaling = RopeScaling.Linear(4) });
        GgufLayout layout = Export(GgmlType.F32, out _);
        Assert.Equal("linear", Value(layout, "llama.rope.scaling.type"));
        Assert.Equal(4f, Value(layout, "llama.rope.scaling.factor"));
        Assert.DoesNotContain(layout.Tensors, t => t.Name == "rope_freqs.weight");
    }

    [Fact]
    public void Sentencepiece_tokenizer_is_llama_with_scores_types_and_padding_to_vocab_size()
    {
        GgufTestModels.Write(_folder.Path, GgufTestModels.Unpruned() with { VocabSize = InferenceFixtures.TokenizerPieces.Length + 2 });
        GgufLayout layout = Export(GgmlType.F32, out _);

        Assert.Equal("llama", Value(layout, "tokenizer.ggml.model"));
        Assert.Equal("default", Value(layout, "tokenizer.ggml.pre"));
        string[] tokens = layout.Metadata["tokenizer.ggml.tokens"].Array<string>();
        Assert.Equal([.. InferenceFixtures.TokenizerPieces, "[PAD286]", "[PAD287]"], tokens);
        int[] types = layout.Metadata["tokenizer.ggml.token_type"].Array<int>();
        Assert.Equal([2, 3, 3, 6], types[..4]);
        Assert.Equal([6, 1, 1, 5, 5], types[258..261].Concat(types[^2..]));
        float[] scores = layout.Metadata["tokenizer.ggml.scores"].Array<float>();
        Assert.Equal([GgufTokenizerMetadata.PaddingScore, GgufTokenizerMetadata.PaddingScore], scores[^2..]);
        Assert.Equal((1u, 2u, 0u), ((uint)Value(layout, "tokenizer.ggml.bos_token_id"), (uint)Value(layout, "tokenizer.ggml.eos_token_id"), (uint)Value(layout, "tokenizer.ggml.unknown_token_id")));
        Assert.False(layout.Metadata.ContainsKey("tokenizer.ggml.padding_token_id"));
        Assert.Equal((true, false, true), ((bool)Value(layout, "tokenizer.ggml.add_bos_token"), (bool)Value(layout, "tokenizer.ggml.add_eos_token"), (bool)Value(layout, "tokenizer.ggml.add_space_prefix")));
    }

    [Fact]
    public void Byte_level_tokenizer_is_gpt2_with_merges_and_control_specials()
    {
        TinyLlama.SaveModel(_folder.Path, GgufTestModels.Unpruned() with { VocabSize = GgufTestModels.ByteLevelTokenCount });
        File.WriteAllText(_folder.File("tokenizer.json"), GgufTestModels.ByteLevelTokenizerJson());
        GgufLayout layout = Export(GgmlType.F32, out _);

        Assert.Equal("gpt2", Value(layout, "tokenizer.ggml.model"));
        Assert.Equal("llama-bpe", Value(layout, "tokenizer.ggml.pre"));
        Assert.Equal(["Ġ t", "h e", "Ġt he"], layout.Metadata["tokenizer.ggml.merges"].Array<string>()[..3]);
        string[] tokens = layout.Metadata["tokenizer.ggml.tokens"].Array<string>();
        Assert.Equal(["Ġ", "Ġt", "<|begin_of_text|>", "<|end_of_text|>"], [tokens[' '], tokens[256], tokens[^2], tokens[^1]]);
        Assert.Equal([1, 1, 3, 3], layout.Metadata["tokenizer.ggml.token_type"].Array<int>()[^4..]);
        Assert.False(layout.Metadata.ContainsKey("tokenizer.ggml.scores"));
        Assert.Equal((uint)tokens.Length - 2, Value(layout, "tokenizer.ggml.bos_token_id"));
        Assert.Equal((uint)tokens.Length - 1, Value(layout, "tokenizer.ggml.eos_token_id"));
    }

    [Theory]
    [InlineData("gpt2", "gpt-2")]
    [InlineData("qwen2", "qwen2")]
    public void Byte_level_pre_tokenizers_map_to_llama_cpp_names(string flavour, string expected)
    {
        ITokenizer tokenizer = ByteLevelVariant(json =>
        {
            json["model"]!["ignore_merges"] = false;
            if (flavour == "gpt2") json["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true };
            else json["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!["Regex"] = GgufTokenizerMetadata.Qwen2SplitPattern;
        });
        Assert.Equal(expected, GgufTokenizerMetadata.From(tokenizer, tokenizer.VocabSize, "tokenizer.json").Pre);
    }

    [Fact]
    public void Byte_level_tokenizers_llama_cpp_would_split_differently_are_refused_naming_the_field()
    {
        ITokenizer custom = ByteLevelVariant(json => json["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!["Regex"] = @"\p{L}+|\s+");
        var e = Assert.Throws<ModelFormatException>(() => GgufTokenizerMetadata.From(custom, custom.VocabSize, "tokenizer.json"));
        Assert.StartsWith("tokenizer.json: pre_tokenizer (Split pattern \"\\p{L}+|\\s+\", ByteLevel use_regex=false) matches none of llama.cpp's pre-tokenizers", e.Message);

        ITokenizer mergesDiffer = ByteLevelVariant(json => json["model"]!["ignore_merges"] = false);
        e = Assert.Throws<ModelFormatException>(() => GgufTokenizerMetadata.From(mergesDiffer, mergesDiffer.VocabSize, "tokenizer.json"));
        Assert.Equal("tokenizer.json: model.ignore_merges is false but llama.cpp's 'llama-bpe' pre-tokenizer uses true", e.Message);

        ITokenizer tokenizer = ByteLevelVariant(_ => { });
        e = Assert.Throws<ModelFormatException>(() => GgufTokenizerMetadata.From(tokenizer, tokenizer.VocabSize - 1, "tokenizer.json"));
        Assert.Equal($"tokenizer.json: the tokenizer has {tokenizer.VocabSize} ids but config.json's vocab_size is {tokenizer.VocabSize - 1}; llama.cpp needs an embedding row for every token", e.Message);
    }

    [Fact]
    public void Sentencepiece_normalisation_llama_cpp_does_not_apply_is_refused()
    {
        SentencePieceModel llama2 = LlamaSentencePieceTokenizer.EmbeddedLlama2Model();
        var collapsing = new LlamaSentencePieceTokenizer(new SentencePieceModel
        {
            Pieces = llama2.Pieces, ModelType = llama2.ModelType, ByteFallback = true, RemoveExtraWhitespaces = true, NormalizerName = "identity",
        }, "test", "tokenizer.model");
        var e = Assert.Throws<ModelFormatException>(() => GgufTokenizerMetadata.From(collapsing, 32000, "tokenizer.model"));
        Assert.Equal("tokenizer.model: normalizer_spec.remove_extra_whitespaces is true; llama.cpp's SentencePiece tokenizer keeps every space", e.Message);
    }

    private static ITokenizer ByteLevelVariant(Action<JsonNode> edit)
    {
        JsonNode json = JsonNode.Parse(GgufTestModels.ByteLevelTokenizerJson())!;
        edit(json);
        return HfTokenizerJson.Parse(json.ToJsonString(), "tokenizer.json", new SpecialTokenNames());
    }
}
