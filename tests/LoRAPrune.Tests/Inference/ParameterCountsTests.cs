// ParameterCountsTests.cs — parameter counts from a config against hand-computed numbers (the tiny test
// model, LLaMA-7B's published 6,738,415,616) and against what the engine really allocates: the
// LlamaWeights tensors and the LoRA arena entries, for uniform, pruned, tied and biased models.
using LoRAPrune.Core.Inference;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;
using LoRAPrune.Tests.Conformance;
using LoRAPrune.Tests.Model;

namespace LoRAPrune.Tests.Inference;

public sealed class ParameterCountsTests
{
    /// <summary>LLaMA-7B (huggyllama/llama-7b config.json).</summary>
    public static LlamaConfig Llama7B => new()
    {
        ModelType = "llama", HiddenSize = 4096, NumAttentionHeads = 32, NumKeyValueHeads = 32, HeadDim = 128,
        IntermediateSize = 11008, NumHiddenLayers = 32, VocabSize = 32000, RmsNormEps = 1e-6, MaxPositionEmbeddings = 2048,
    };

    [Fact]
    public void Tiny_config_counts_match_the_hand_computation()
    {
        // C=16, H=4, KVH=2, D=4, F=24, L=2, V=50
        var p = ParameterCounts.Of(EngineGradientTests.TinyConfig);
        Assert.Equal(50 * 16, p.Embedding);
        Assert.Equal(2 * 16 * 16, p.Q);          // (H*D, C) per layer
        Assert.Equal(2 * 8 * 16, p.K);           // (KVH*D, C)
        Assert.Equal(2 * 8 * 16, p.V);
        Assert.Equal(2 * 16 * 16, p.O);
        Assert.Equal(2 * 24 * 16, p.Gate);
        Assert.Equal(2 * 24 * 16, p.Up);
        Assert.Equal(2 * 16 * 24, p.Down);
        Assert.Equal(2 * 2 * 16 + 16, p.Norms);
        Assert.Equal(50 * 16, p.LmHead);
        Assert.Equal(3840, p.Linear);
        Assert.Equal(800 + 3840 + 80 + 800, p.Total);
        // r (IN + OUT): q 2*32, k 2*24, v 2*24, o 2*32, gate/up/down 2*40 each; two layers
        Assert.Equal(2 * (64 + 48 + 48 + 64 + 3 * 80), ParameterCounts.Lora(EngineGradientTests.TinyConfig, 2, LlamaLinears.All));
    }

    [Fact]
    public void Biases_are_counted_per_biased_projection()
    {
        // Qwen2: q (16) + k (8) + v (8) per layer; attention_bias + mlp_bias adds o (16), gate/up (24), down (16).
        Assert.Equal(0, ParameterCounts.Of(EngineGradientTests.TinyConfig).Biases);
        Assert.Equal(2 * (16 + 8 + 8), ParameterCounts.Of(EngineGradientTests.TinyQwen2Config).Biases);
        var all = ParameterCounts.Of(EngineGradientTests.TinyAllBiasConfig);
        Assert.Equal(2 * (16 + 8 + 8 + 16 + 24 + 24 + 16), all.Biases);
        Assert.Equal(800 + 3840 + 80 + 800 + all.Biases, all.Total);
    }

    [Fact]
    public void Llama_7b_has_its_published_parameter_count()
    {
        var p = ParameterCounts.Of(Llama7B);
        Assert.Equal(6_738_415_616L, p.Total);
        Assert.Equal(131_072_000L, p.Embedding);
        Assert.Equal(32L * (4 * 4096 * 4096 + 3 * 4096 * 11008), p.Linear);
        Assert.Equal(19_988_480L, ParameterCounts.Lora(Llama7B, 8, LlamaLinears.All)); // PEFT's "trainable params" at r=8, all 7 modules
        Assert.Equal(4_194_304L, ParameterCounts.Lora(Llama7B, 8, [LlamaLinear.QProj, LlamaLinear.VProj])); // the classic q,v adapter
    }

    public static IEnumerable<object[]> Configs()
    {
        var tiny = EngineGradientTests.TinyConfig;
        yield return new object[] { "uniform", tiny };
        yield return new object[] { "tied", tiny with { TieWordEmbeddings = true } };
        yield return new object[] { "pruned", tiny.WithLayerWidths([4, 2], [2, 1], [24, 9]) };
        yield return new object[] { "qwen2", EngineGradientTests.TinyQwen2Config };
        yield return new object[] { "pruned qwen2", EngineGradientTests.TinyQwen2Config.WithLayerWidths([4, 2], [2, 1], [24, 9]) };
        yield return new object[] { "llama+biases", EngineGradientTests.TinyAllBiasConfig };
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void Counts_equal_what_the_engine_allocates(string name, LlamaConfig config)
    {
        using var ctx = TestBackends.Get("cpu").CreateContext();
        using var weights = LlamaWeights.Random(ctx, config, seed: 1);
        using var lora = LoraAdapters.Create(ctx, config, new LoraOptions { Rank = 3 }, seed: 2);
        var p = ParameterCounts.Of(config);
        Assert.True(weights.ParameterCount == p.Total, $"{name}: engine {weights.ParameterCount}, counted {p.Total}");
        Assert.Equal(lora.Params.Entries.Sum(e => e.Count), ParameterCounts.Lora(config, 3, LlamaLinears.All));
        Assert.Equal(p.Total, p.Layers.Sum(l => l.Total) + p.Embedding + p.LmHead + p.FinalNorm);
    }
}
