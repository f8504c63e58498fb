// TrainingMemoryTests.cs — the training-memory estimate against lp_memory_stats of a real step on the
// tiny model: weights, LoRA + AdamW moments, masks, a LlamaGraph, forward + backward, gradient norm,
// clipping and AdamW exactly as Trainer.RunStep runs them, with and without the grad criterion's
// base-gradient arena. Tolerance: none — buffers are the engine's own allocations and the scratch
// replay follows the kernels' requests, so current, workspace and peak bytes must match to the byte.
using LoRAPrune.Core.Inference;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;
using LoRAPrune.Tests.Conformance;
using LoRAPrune.Tests.Model;

namespace LoRAPrune.Tests.Inference;

public sealed class TrainingMemoryTests
{
    private const int Rank = 2;
    private const double Dropout = 0.05;

    public static IEnumerable<object[]> Cases()
    {
        foreach (var variant in TestBackends.Variants.Where(v => v.Name is "cpu" or "cudaemu/forward" or "cuda"))
            foreach (var dtype in new[] { LpDType.F32, LpDType.BF16 })
                foreach (bool baseGrads in new[] { false, true })
                    foreach (bool biases in new[] { false, true })
                        yield return new object[] { variant.Name, dtype.ToString(), baseGrads, biases };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Estimate_equals_the_measured_memory_of_a_training_step(string backendName, string dtypeName, bool baseGrads, bool biases)
    {
        var variant = TestBackends.Get(backendName);
        var dtype = Enum.Parse<LpDType>(dtypeName);
        // With biases: every projection has one (attention_bias + mlp_bias), so each bias gradient's scratch is replayed.
        var config = biases ? EngineGradientTests.TinyAllBiasConfig : EngineGradientTests.TinyConfig;
        // T = 70 > the cpu attention's 64-row query block; two sequences.
        const int batch = 2, seq = 70;
        using var ctx = variant.CreateContext();
        var baseline = ctx.GetMemoryStats();

        using var weights = LlamaWeights.Random(ctx, config, seed: 3, dtype, std: 0.3);
        using var lora = LoraAdapters.Create(ctx, config, new LoraOptions { Rank = Rank, Alpha = 4, Dropout = Dropout }, seed: 4);
        using var m = lora.Params.CloneLayout();
        using var v = lora.Params.CloneLayout();
        using var sumsq = ctx.NewTensor(LpDType.F32, 1);
        using var masks = new OutputMasks(ctx, config);
        masks.SetKvGroups(1, [true, false]);
        using var grads = baseGrads ? new TensorArena(ctx, LlamaWeights.ArenaLayout(config)) : null;
        using var graph = new LlamaGraph(weights, lora, masks, batch, seq, grads);

        var tokens = Enumerable.Range(0, batch * seq).Select(i => (i * 17 + 3) % config.VocabSize).ToArray();
        var targets = tokens.Skip(1).Append(LlamaGraph.IgnoreIndex).ToArray();
        var loss = graph.Forward(tokens, targets, training: true, dropoutSeed: 11);
        graph.Backward(1f / loss.Count);
        sumsq.Upload(stackalloc float[1]);
        ctx.GradNormAccumulate(lora.Grads.All, sumsq);
        ctx.GradClip(lora.Grads.All, sumsq, 1f);
        ctx.AdamWStep(lora.Params.All, lora.Grads.All, m.All, v.All, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1);
        ctx.Synchronize();
        var stats = ctx.GetMemoryStats();

        var options = new TrainingMemoryOptions
        {
            Batch = batch, Seq = seq, LoraRank = Rank, LoraDropout = Dropout,
            CpuThreads = variant.Backend.GetDeviceInfo(0).Multiprocessors,
        };
        var model = variant.Backend.Kind == BackendKind.Cpu ? ScratchModel.Cpu : ScratchModel.Cuda;
        var estimate = TrainingMemory.Estimate(config, options, model, dtype);
        long gradArena = baseGrads ? estimate.GradCriterionBuffers : 0;
        long gradScratch = baseGrads ? estimate.GradCriterionExtra - estimate.GradCriterionBuffers : 0;

        long buffers = (long)(stats.CurrentBytes - baseline.CurrentBytes);
        Assert.True(estimate.Buffers + gradArena == buffers, $"buffers: estimated {estimate.Buffers + gradArena}, measured {buffers}");
        Assert.True(estimate.Scratch + gradScratch == (long)stats.WorkspaceBytes,
                    $"scratch: estimated {estimate.Scratch + gradScratch}, measured {stats.WorkspaceBytes} (largest request {estimate.LargestScratchRequest})");
        long peak = (long)stats.PeakBytes - (long)baseline.CurrentBytes;
        Assert.Equal(estimate.Total + (baseGrads ? estimate.GradCriterionExtra : 0), peak);
    }

    [Fact]
    public void Graph_buffers_are_the_sum_of_the_formula_terms()
    {
        // Hand count for the tiny model, B=1, T=3 (N=3), r=2, all 7 targets, C=16, H=4, KVH=2, D=4, F=24, V=50, L=2.
        var (saved, logits, backward) = TrainingMemory.GraphBytes(EngineGradientTests.TinyConfig, new TrainingMemoryOptions { Batch = 1, Seq = 3, LoraRank = 2 });
        long perLayer = 3 * 16 + 3 + 2 * 3 * 16 + 2 * 3 * 8 + 3 * 4 + 2 * 3 * 16 + 3 + 3 * 3 * 24 + 7 * 3 * 2;
        long global = 2 * 3 + 3 * 3 * 16 + 3 * 16 + 3 * 3;
        Assert.Equal(4 * (global + 2 * perLayer), saved);
        Assert.Equal(4 * 3 * 50, logits);
        Assert.Equal(4 * (3 * 3 * 16 + 2 * 3 * 16 + 2 * 3 * 8 + 3 * 3 * 24), backward);
    }

    [Fact]
    public void Llama_7b_estimate_has_the_expected_orders_of_magnitude()
    {
        var options = new TrainingMemoryOptions { Batch = 4, Seq = 256, LoraRank = 8, CpuThreads = 16 };
        var f32 = TrainingMemory.Estimate(ParameterCountsTests.Llama7B, options, ScratchModel.Cuda, LpDType.F32);
        var bf16 = TrainingMemory.Estimate(ParameterCountsTests.Llama7B, options, ScratchModel.Cuda, LpDType.BF16);
        Assert.Equal(6_738_415_616L * 4 + 64 * 4, f32.BaseWeights);                   // + RoPE inverse frequencies (D/2 f32)
        Assert.Equal((6_738_415_616L - 266_240) * 2 + 266_240 * 4 + 64 * 4, bf16.BaseWeights); // norms stay f32
        Assert.Equal(2 * 19_988_480L * 4, f32.LoraParamsAndGrads);                  // every LoRA entry is a multiple of 64
        Assert.Equal(512L * 32000 * 4, f32.Logits); // one LM-head chunk of 512 rows, not (1024, 32000)
        Assert.Equal(6_738_415_616L * 4, f32.BaseGradientArena);                      // the grad criterion's f32 gradient of every base weight
        // Its backward also changes the scratch requests; the workspace's growth path decides by how much
        // (the replay can even end lower), so only the arena is a fixed number.
        Assert.Equal(6_738_415_616L * 4 + 32000L * 4096 * 4, f32.GradCriterionBuffers);  // + the (V, C) head gradient for unit dloss
        Assert.InRange(f32.GradCriterionExtra - f32.GradCriterionBuffers, -f32.Scratch, 2 * f32.Scratch);
    }
}
