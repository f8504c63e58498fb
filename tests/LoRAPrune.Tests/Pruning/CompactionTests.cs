// CompactionTests.cs — physical removal is exactly masking (docs/method.md §4) on every backend: a GQA model with a
// pruned KV group and pruned channels gives the same logits, loss and next-step LoRA gradients masked (the authors'
// way) and compacted (rows and columns gathered from weights and adapters); the kept-structure index maps are right.
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Pruning;
using LoRAPrune.Native;
using LoRAPrune.Tests.Conformance;
using LoRAPrune.Tests.Model;

namespace LoRAPrune.Tests.Pruning;

public class CompactionTests
{
    // Compaction removes exactly-zero terms from the GEMM sums, so only the f32 summation order changes: ~1e-7 relative.
    // A row or column taken from the wrong place changes logits and gradients by O(1).
    private const double Tolerance = 1e-5;
    private const int Batch = 2, Seq = 6;

    private static readonly LlamaConfig Config = EngineGradientTests.TinyConfig with { NumHiddenLayers = 3 }; // H=4, KVH=2, D=4, F=24

    public static IEnumerable<object[]> Backends => TestBackends.Variants.Select(v => new object[] { v.Name });

    // Plain LLaMA, Qwen2 (q/k/v biases, which are pruned with their rows) and LLaMA with every bias (o/down biases stay whole).
    private static readonly Dictionary<string, LlamaConfig> Models = new()
    {
        ["llama"] = Config,
        ["qwen2"] = Config with { ModelType = "qwen2", QkvBias = true },
        ["llama+biases"] = Config with { QkvBias = true, OutputBias = true, MlpBias = true },
    };

    public static IEnumerable<object[]> BackendsAndModels => from v in TestBackends.Variants from m in Models.Keys select new object[] { v.Name, m };

    // Layer 0 loses KV group 0 (query heads 0-1, k/v head 0) and 9 channels, layer 1 loses KV group 1 and 3 channels, layer 2 keeps all.
    private static KeptStructure Pruned(LlamaConfig? config = null)
    {
        KeptStructure kept = KeptStructure.Full(config ?? Config);
        kept.RemoveGroups(0, [0]);
        kept.RemoveChannels(0, [0, 1, 5, 8, 9, 13, 17, 22, 23]);
        kept.RemoveGroups(1, [1]);
        kept.RemoveChannels(1, [2, 11, 20]);
        return kept;
    }

    [Fact]
    public void Index_maps_cover_the_rows_of_the_kept_heads_and_channels()
    {
        KeptStructure kept = Pruned();
        IReadOnlyList<LayerKeep> maps = kept.PositionsInOriginal();
        Assert.Equal([8, 9, 10, 11, 12, 13, 14, 15], maps[0].QueryRows);     // heads 2 and 3 of D=4: KV group 1
        Assert.Equal([4, 5, 6, 7], maps[0].KeyValueRows);                    // k/v head 1
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7], maps[1].QueryRows);           // layer 1 keeps group 0
        Assert.Equal([2, 3], kept.QueryHeads(0));
        Assert.Equal(Enumerable.Range(0, 24).Except([2, 11, 20]), maps[1].Channels);
        LlamaConfig pruned = kept.PrunedConfig();
        Assert.Equal([2, 2, 4], Enumerable.Range(0, 3).Select(pruned.AttentionHeads));
        Assert.Equal([1, 1, 2], Enumerable.Range(0, 3).Select(pruned.KeyValueHeads));
        Assert.Equal([15, 21, 24], Enumerable.Range(0, 3).Select(pruned.Intermediate));

        // A compaction after a second event maps from the first compacted layout, not from the original.
        KeptStructure later = kept.Clone();
        later.RemoveChannels(1, [0, 23]);
        Assert.Equal(Enumerable.Range(1, 19), later.PositionsIn(kept)[1].Channels); // 21 kept; dropping the first (0) and last (23) leaves positions 1..19
        Assert.Throws<ArgumentException>(() => later.RemoveGroups(1, [0])); // removing the last group of a layer is refused
    }

    [Theory]
    [MemberData(nameof(BackendsAndModels))]
    public void Masked_and_compacted_models_give_the_same_logits_and_next_step_LoRA_gradients(string backend, string model)
    {
        LlamaConfig config = Models[model];
        using Context ctx = TestBackends.Get(backend).CreateContext();
        var options = new LoraOptions { Rank = 3, Alpha = 6, Dropout = 0 };
        KeptStructure kept = Pruned(config);
        var rng = new Random(3);
        int[] tokens = Enumerable.Range(0, Batch * Seq).Select(_ => rng.Next(config.VocabSize)).ToArray();
        int[] targets = Enumerable.Range(0, Batch * Seq).Select(_ => rng.Next(config.VocabSize)).ToArray();

        using var weights = LlamaWeights.Random(ctx, config, 5, std: 0.3);
        EngineGradientTests.RandomizeBiases(weights, 12);
        using var lora = LoraAdapters.Create(ctx, config, options, 6);
        lora.Params.Upload(Enumerable.Range(0, (int)lora.Params.Count).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray()); // B != 0
        using var masks = new OutputMasks(ctx, config);
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            masks.SetKvGroups(l, kept.GroupFlags(l));
            masks.SetChannels(l, kept.ChannelFlags(l));
        }

        float[] maskedLogits;
        double maskedLoss;
        using (var graph = new LlamaGraph(weights, lora, masks, Batch, Seq))
        {
            maskedLogits = graph.Logits(tokens);
            lora.Grads.Zero();
            LlamaGraph.LossSum loss = graph.Forward(tokens, targets, training: true, dropoutSeed: 1);
            graph.Backward(1f / loss.Count);
            maskedLoss = loss.Mean;
        }

        LlamaConfig next = kept.PrunedConfig();
        IReadOnlyList<LayerKeep> keep = kept.PositionsInOriginal();
        using LlamaWeights compactWeights = weights.Compact(next, keep);
        using LoraAdapters compactLora = LoraAdapters.Zero(ctx, next, options);
        ArenaCompaction.GatherLora(ctx, lora, lora.Params, compactLora, compactLora.Params, keep);
        using TensorArena expectedGrads = compactLora.Params.CloneLayout();
        ArenaCompaction.GatherLora(ctx, lora, lora.Grads, compactLora, expectedGrads, keep);
        using var compact = new LlamaGraph(compactWeights, compactLora, null, Batch, Seq);
        float[] compactLogits = compact.Logits(tokens);
        LlamaGraph.LossSum compactLoss = compact.Forward(tokens, targets, training: true, dropoutSeed: 1);
        compact.Backward(1f / compactLoss.Count);

        Assert.Equal(maskedLoss, compactLoss.Mean, 1e-5);
        AssertClose(maskedLogits, compactLogits, "logits");
        AssertClose(expectedGrads.Download(), compactLora.Grads.Download(), "LoRA gradients of the kept rows and columns");
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(v => Math.Abs((double)v));
        double err = expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).Max() / scale;
        Assert.True(scale > 0 && err <= Tolerance, $"{what}: normalised error {err:E2} (scale {scale:E2})");
    }
}
