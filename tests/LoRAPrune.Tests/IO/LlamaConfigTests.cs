// LlamaConfigTests.cs — config.json for LLaMA-1/2/3, TinyLlama, Mistral and Qwen2: real-world files
// parse with Hugging Face's defaults, configs round-trip byte-identically, pruned models write
// per-layer widths or a plain uniform config, and every broken field gives a one-line error.
using System.Text.Json;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Tests.IO;

public sealed class LlamaConfigTests
{
    private const string Llama1 = """
        {"architectures": ["LLaMAForCausalLM"], "bos_token_id": 0, "eos_token_id": 1, "hidden_act": "silu", "hidden_size": 4096,
         "intermediate_size": 11008, "initializer_range": 0.02, "max_sequence_length": 2048, "model_type": "llama",
         "num_attention_heads": 32, "num_hidden_layers": 32, "pad_token_id": -1, "rms_norm_eps": 1e-06,
         "torch_dtype": "float16", "transformers_version": "4.27.0.dev0", "use_cache": true, "vocab_size": 32000}
        """;

    private const string Llama2 = """
        {"architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096,
         "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 4096, "model_type": "llama",
         "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
         "rope_scaling": null, "tie_word_embeddings": false, "torch_dtype": "float16", "transformers_version": "4.31.0.dev0",
         "use_cache": true, "vocab_size": 32000}
        """;

    private const string TinyLlamaChat = """
        {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
         "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 5632, "max_position_embeddings": 2048,
         "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 22, "num_key_value_heads": 4, "pretraining_tp": 1,
         "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
         "transformers_version": "4.35.0", "use_cache": true, "vocab_size": 32000}
        """;

    private const string Llama31 = """
        {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 128000,
         "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
         "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
         "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
         "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
         "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.42.3",
         "use_cache": true, "vocab_size": 128256}
        """;

    private const string Mistral7B = """
        {"architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096,
         "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
         "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
         "sliding_window": 4096, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.34.0.dev0",
         "use_cache": true, "vocab_size": 32000}
        """;

    private const string Qwen2 = """
        {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151643,
         "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864, "max_position_embeddings": 131072,
         "max_window_layers": 24, "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
         "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": true,
         "torch_dtype": "bfloat16", "transformers_version": "4.40.1", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936}
        """;

    [Fact]
    public void Llama1_without_kv_heads_or_rope_theta_gets_the_defaults()
    {
        LlamaConfig c = LlamaConfig.Parse(Llama1);
        Assert.Equal((4096, 32, 32, 128, 11008, 32, 32000), (c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.IntermediateSize, c.NumHiddenLayers, c.VocabSize));
        Assert.Equal(10000.0, c.RopeTheta);
        Assert.Equal(2048, c.MaxPositionEmbeddings);
        Assert.Equal(1e-6, c.RmsNormEps);
        Assert.Equal(-1, c.PadTokenId);
        Assert.Null(c.RopeScaling);
        Assert.False(c.TieWordEmbeddings || c.QkvBias || c.OutputBias || c.MlpBias);
    }

    [Fact]
    public void Llama2_and_TinyLlama()
    {
        LlamaConfig l2 = LlamaConfig.Parse(Llama2);
        Assert.Equal((32, 32, 128, 4096, 1e-5), (l2.NumAttentionHeads, l2.NumKeyValueHeads, l2.HeadDim, l2.MaxPositionEmbeddings, l2.RmsNormEps));
        Assert.Equal("float16", l2.TorchDtype);
        Assert.Equal([2], l2.EosTokenIds);

        LlamaConfig tiny = LlamaConfig.Parse(TinyLlamaChat);
        Assert.Equal((2048, 32, 4, 64, 5632, 22), (tiny.HiddenSize, tiny.NumAttentionHeads, tiny.NumKeyValueHeads, tiny.HeadDim, tiny.IntermediateSize, tiny.NumHiddenLayers));
    }

    [Fact]
    public void Llama31_with_llama3_rope_scaling_and_several_eos_ids()
    {
        LlamaConfig c = LlamaConfig.Parse(Llama31);
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.Equal(RopeScaling.Llama3(8.0, 1.0, 4.0, 8192), c.RopeScaling);
        Assert.Equal([128001, 128008, 128009], c.EosTokenIds);
        Assert.Equal(8, c.NumKeyValueHeads);
        Assert.Equal(64, c.RopeInverseFrequencies().Length);
    }

    [Fact]
    public void Mistral_and_Qwen2()
    {
        LlamaConfig m = LlamaConfig.Parse(Mistral7B);
        Assert.Equal(("mistral", 4096, 8), (m.ModelType, m.SlidingWindow!.Value, m.NumKeyValueHeads));
        Assert.False(m.QkvBias);

        LlamaConfig q = LlamaConfig.Parse(Qwen2);
        Assert.Equal(("qwen2", 896, 14, 2, 64), (q.ModelType, q.HiddenSize, q.NumAttentionHeads, q.NumKeyValueHeads, q.HeadDim));
        Assert.True(q.QkvBias);
        Assert.False(q.OutputBias || q.MlpBias);
        Assert.True(q.TieWordEmbeddings);
        Assert.Null(q.SlidingWindow);
        Assert.Equal(1000000.0, q.RopeTheta);
    }

    [Theory]
    [InlineData(nameof(Llama1))]
    [InlineData(nameof(Llama2))]
    [InlineData(nameof(TinyLlamaChat))]
    [InlineData(nameof(Llama31))]
    [InlineData(nameof(Mistral7B))]
    [InlineData(nameof(Qwen2))]
    public void Write_then_read_gives_the_same_config_and_the_same_bytes(string which)
    {
        string json = (string)typeof(LlamaConfigTests).GetField(which, System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!.GetValue(null)!;
        using var dir = new TempFolder();
        LlamaConfig original = LlamaConfig.Parse(json);
        original.Save(dir.File("config.json"));
        LlamaConfig back = LlamaConfig.Load(dir.File("config.json"));
        IReadOnlyList<int> noEos = [];
        Assert.Equal(original with { EosTokenIds = noEos }, back with { EosTokenIds = noEos });
        Assert.Equal(original.EosTokenIds, back.EosTokenIds);
        Assert.Equal(File.ReadAllText(dir.File("config.json")), LlamaConfigWriter.ToJson(back));
    }

    [Fact]
    public void Written_config_is_hugging_face_style()
    {
        string json = LlamaConfigWriter.ToJson(LlamaConfig.Parse(Llama31));
        Assert.Contains("\"rms_norm_eps\": 1e-05,", json);
        Assert.Contains("\"rope_theta\": 500000.0,", json);
        Assert.Contains("\"architectures\": [\n    \"LlamaForCausalLM\"\n  ],", json);
        Assert.Contains("\"head_dim\": 128,", json);
        Assert.Contains("\"rope_type\": \"llama3\"", json);
        using JsonDocument doc = JsonDocument.Parse(json);
        string[] keys = [.. doc.RootElement.EnumerateObject().Select(p => p.Name)];
        Assert.Equal(keys.Order(StringComparer.Ordinal), keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("loraprune_"));
    }

    [Fact]
    public void Uniformly_pruned_model_is_written_as_a_plain_config()
    {
        LlamaConfig pruned = TinyLlama.Config().WithLayerWidths([2, 2], [1, 1], [16, 16]);
        string json = LlamaConfigWriter.ToJson(pruned);
        Assert.DoesNotContain("loraprune_", json);
        using JsonDocument doc = JsonDocument.Parse(json);
        JsonElement r = doc.RootElement;
        Assert.Equal((2, 1, 16, 4, 16), (r.GetProperty("num_attention_heads").GetInt32(), r.GetProperty("num_key_value_heads").GetInt32(),
            r.GetProperty("intermediate_size").GetInt32(), r.GetProperty("head_dim").GetInt32(), r.GetProperty("hidden_size").GetInt32()));

        LlamaConfig back = LlamaConfig.Parse(json);
        Assert.True(back.IsUniform);
        Assert.Null(back.LayerAttentionHeads);
        Assert.Equal((2, 1, 16), (back.AttentionHeads(1), back.KeyValueHeads(1), back.Intermediate(1)));
    }

    [Fact]
    public void Non_uniform_pruned_model_carries_per_layer_widths()
    {
        LlamaConfig pruned = TinyLlama.Config(layers: 3).WithLayerWidths([4, 2, 4], [2, 1, 2], [24, 8, 16]);
        string json = LlamaConfigWriter.ToJson(pruned);
        Assert.Contains("\"loraprune_num_attention_heads\": [\n    4,\n    2,\n    4\n  ]", json);
        LlamaConfig back = LlamaConfig.Parse(json);
        Assert.False(back.IsUniform);
        Assert.Equal((4, 2, 24), (back.NumAttentionHeads, back.NumKeyValueHeads, back.IntermediateSize));
        Assert.Equal([4, 2, 4], back.LayerAttentionHeads);
        Assert.Equal([2, 1, 2], back.LayerKeyValueHeads);
        Assert.Equal([24, 8, 16], back.LayerIntermediateSizes);
        Assert.Equal(json, LlamaConfigWriter.ToJson(back));
    }

    [Fact]
    public void Per_layer_layout_can_be_forced_and_lists_may_be_partial()
    {
        string json = LlamaConfigWriter.ToJson(TinyLlama.Config(), ConfigLayout.PerLayer);
        Assert.Contains("loraprune_intermediate_size", json);
        LlamaConfig onlyMlp = LlamaConfig.Parse(Minimal(("loraprune_intermediate_size", "[24, 8]")));
        Assert.Equal((8, 4, 2), (onlyMlp.Intermediate(1), onlyMlp.AttentionHeads(1), onlyMlp.KeyValueHeads(1)));
        Assert.Null(onlyMlp.LayerAttentionHeads);
    }

    [Fact]
    public void Rope_spellings_old_and_new()
    {
        Assert.Null(LlamaConfig.Parse(Minimal(("rope_scaling", """{"rope_type": "default"}"""))).RopeScaling);
        Assert.Equal(RopeScaling.Linear(2.0), LlamaConfig.Parse(Minimal(("rope_scaling", """{"type": "linear", "factor": 2.0}"""))).RopeScaling);
        LlamaConfig v5 = LlamaConfig.Parse(Minimal(("rope_parameters",
            """{"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}""")));
        Assert.Equal(500000.0, v5.RopeTheta);
        Assert.Equal(RopeScaling.Llama3(32.0, 1.0, 4.0, 8192), v5.RopeScaling);
    }

    [Fact]
    public void Python_float_formatting()
    {
        Assert.Equal(["1e-05", "1e-06", "500000.0", "0.1", "0.0", "8.0", "1e+20"],
            new[] { 1e-5, 1e-6, 500000.0, 0.1, 0.0, 8.0, 1e20 }.Select(LlamaConfigWriter.PythonFloat));
    }

    [Fact]
    public void Heads_not_dividing_hidden_size()
    {
        var e = Assert.Throws<ModelFormatException>(() => LlamaConfig.Parse(Minimal(("hidden_size", "256"), ("num_attention_heads", "7"), ("num_key_value_heads", "7"))));
        Assert.Equal("config.json: num_attention_heads=7 does not divide hidden_size=256", e.Message);
        LlamaConfig withHeadDim = LlamaConfig.Parse(Minimal(("hidden_size", "256"), ("num_attention_heads", "7"), ("num_key_value_heads", "7"), ("head_dim", "32")));
        Assert.Equal(32, withHeadDim.HeadDim);
    }

    [Theory]
    [InlineData("model_type", "\"gpt2\"", "model_type 'gpt2' is not supported (supported: llama, mistral, qwen2)")]
    [InlineData("model_type", "null", "missing field 'model_type'")]
    [InlineData("hidden_act", "\"gelu\"", "hidden_act 'gelu' is not supported (LLaMA-family models use silu)")]
    [InlineData("hidden_size", "\"16\"", "hidden_size is '16', expected an integer")]
    [InlineData("hidden_size", "16.5", "hidden_size is 16.5, expected an integer")]
    [InlineData("hidden_size", "0", "hidden_size=0, expected a positive integer")]
    [InlineData("hidden_size", "null", "missing field 'hidden_size'")]
    [InlineData("vocab_size", "-3", "vocab_size=-3, expected a positive integer")]
    [InlineData("num_key_value_heads", "3", "num_key_value_heads=3 does not divide num_attention_heads=4")]
    [InlineData("head_dim", "7", "head_dim=7 must be even for rotary embeddings")]
    [InlineData("rms_norm_eps", "\"tiny\"", "rms_norm_eps is 'tiny', expected a finite number")]
    [InlineData("rms_norm_eps", "0", "rms_norm_eps=0 must be a positive number")]
    [InlineData("tie_word_embeddings", "1", "tie_word_embeddings is 1, expected true or false")]
    [InlineData("rope_scaling", """{"type": "yarn", "factor": 4.0}""", "rope_scaling type 'yarn' is not supported (supported: linear, llama3)")]
    [InlineData("rope_scaling", """{"rope_type": "dynamic", "factor": 2.0}""", "rope_scaling type 'dynamic' is not supported (supported: linear, llama3)")]
    [InlineData("rope_scaling", "\"llama3\"", "rope_scaling is 'llama3', expected an object or null")]
    [InlineData("rope_scaling", """{"factor": 8.0}""", "rope_scaling has no rope_type")]
    [InlineData("rope_scaling", """{"rope_type": "llama3", "type": "linear", "factor": 8.0}""", "rope_scaling has rope_type 'llama3' but type 'linear'")]
    [InlineData("rope_scaling", """{"rope_type": "llama3", "factor": 8.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}""", "missing field 'rope_scaling.low_freq_factor'")]
    [InlineData("rope_scaling", """{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}""", "rope_scaling.high_freq_factor=4 must be larger than low_freq_factor=4")]
    [InlineData("rope_scaling", """{"rope_type": "linear", "factor": -2.0}""", "rope_scaling.factor=-2 must be a positive number")]
    [InlineData("rope_scaling", """{"rope_type": "linear", "factor": "2"}""", "rope_scaling.factor is '2', expected a finite number")]
    [InlineData("loraprune_num_attention_heads", "[4, 4, 4]", "loraprune_num_attention_heads has 3 entries but num_hidden_layers=2")]
    [InlineData("loraprune_num_attention_heads", "[4, 0]", "loraprune_num_attention_heads[1]=0, expected a positive integer")]
    [InlineData("loraprune_num_key_value_heads", "[2, 3]", "layer 1: 3 key/value heads do not divide 4 attention heads")]
    [InlineData("loraprune_intermediate_size", "[24, \"8\"]", "loraprune_intermediate_size[1] is '8', expected an integer")]
    public void Broken_field(string field, string rawValue, string problem)
    {
        var e = Assert.Throws<ModelFormatException>(() => LlamaConfig.Parse(Minimal((field, rawValue))));
        Assert.Equal("config.json: " + problem, e.Message);
    }

    [Fact]
    public void Broken_files()
    {
        using var dir = new TempFolder();
        Assert.StartsWith("config.json: file not found (", Assert.Throws<ModelFormatException>(() => LlamaConfig.Load(dir.File("config.json"))).Message);
        File.WriteAllText(dir.File("config.json"), "[1, 2]");
        Assert.Equal("config.json: is an array, expected a JSON object", Assert.Throws<ModelFormatException>(() => LlamaConfig.Load(dir.File("config.json"))).Message);
        File.WriteAllText(dir.File("config.json"), "{\"model_type\": \"llama\",");
        Assert.StartsWith("config.json: not valid JSON (", Assert.Throws<ModelFormatException>(() => LlamaConfig.Load(dir.File("config.json"))).Message);
    }

    [Fact]
    public void Programmatic_configs_are_validated_too()
    {
        Assert.Throws<ModelFormatException>(() => TinyLlama.Config().WithLayerWidths([4], [2], [24]));
        Assert.Throws<ModelFormatException>(() => LlamaConfigWriter.ToJson(TinyLlama.Config() with { ModelType = "mistral", MlpBias = true }));
        Assert.Throws<ModelFormatException>(() => LlamaConfigWriter.ToJson(TinyLlama.Config() with { QkvBias = true }));
    }

    /// <summary>The tiny LLaMA config as JSON with some fields replaced (raw JSON values; "null" removes a required one).</summary>
    private static string Minimal(params (string Field, string RawValue)[] overrides)
    {
        var fields = new Dictionary<string, string>
        {
            ["model_type"] = "\"llama\"",
            ["hidden_size"] = "16",
            ["num_attention_heads"] = "4",
            ["num_key_value_heads"] = "2",
            ["intermediate_size"] = "24",
            ["num_hidden_layers"] = "2",
            ["vocab_size"] = "50",
            ["rms_norm_eps"] = "1e-05",
        };
        foreach ((string field, string raw) in overrides) fields[field] = raw;
        return "{" + string.Join(", ", fields.Select(kv => $"\"{kv.Key}\": {kv.Value}")) + "}";
    }
}
