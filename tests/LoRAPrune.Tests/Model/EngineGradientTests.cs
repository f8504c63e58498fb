// EngineGradientTests.cs — the engine's loss and every LoRA gradient on a tiny random GQA LLaMA
// (2 layers, H=4, KVH=2, masks with a pruned KV group and pruned channels, LoRA dropout) match the
// float64 reference model on every backend, also with projection biases (Qwen2 q/k/v; LLaMA
// attention_bias + mlp_bias), and a few LoRA and bias gradients match central finite differences.
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;
using LoRAPrune.Tests.Conformance;

namespace LoRAPrune.Tests.Model;

public class EngineGradientTests
{
    private const int Batch = 2, Seq = 5;
    private const ulong StepSeed = 77;

    // f32 engine against the float64 model: about 40 chained f32 ops (norms, GEMMs, softmax, exp)
    // each adding ~1e-7 relative error; 1e-4 catches any wrong formula (those give O(1)).
    private const double GradTolerance = 1e-4;

    public static LlamaConfig TinyConfig => new()
    {
        ModelType = "llama", HiddenSize = 16, NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDim = 4,
        IntermediateSize = 24, NumHiddenLayers = 2, VocabSize = 50, RmsNormEps = 1e-5, MaxPositionEmbeddings = 64,
    };

    /// <summary>TinyConfig as Qwen2: q/k/v biases.</summary>
    public static LlamaConfig TinyQwen2Config => TinyConfig with { ModelType = "qwen2", QkvBias = true };

    /// <summary>TinyConfig with attention_bias and mlp_bias: every projection has a bias.</summary>
    public static LlamaConfig TinyAllBiasConfig => TinyConfig with { QkvBias = true, OutputBias = true, MlpBias = true };

    private static LlamaConfig ConfigOf(string model) => model switch
    {
        "llama" => TinyConfig,
        "qwen2" => TinyQwen2Config,
        "llama+biases" => TinyAllBiasConfig,
        _ => throw new ArgumentOutOfRangeException(nameof(model), model, null),
    };

    private static readonly string[] Models = ["llama", "qwen2", "llama+biases"];

    public static IEnumerable<object[]> Backends => TestBackends.Variants.Select(v => new object[] { v.Name });

    public static IEnumerable<object[]> BackendsAndModels =>
        from v in TestBackends.Variants from m in Models select new object[] { v.Name, m };

    /// <summary>Random biases (HF initialises them to zero, which would leave the forward untested):
    /// the same values for the same seed, so two weight sets built alike stay identical.</summary>
    internal static void RandomizeBiases(LlamaWeights weights, int seed)
    {
        var rng = new Random(seed);
        foreach (var layer in weights.Layers)
            foreach (LlamaLinear lin in LlamaLinears.All)
                if (layer.Bias(lin) is { } bias)
                    bias.Upload(Enumerable.Range(0, (int)bias.ElementCount).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
    }

    private sealed class Setup : IDisposable
    {
        public required Context Ctx;
        public required LlamaWeights Weights;
        public required LoraAdapters Lora;
        public required OutputMasks Masks;
        public required ReferenceLlama Reference;
        public required int[] Tokens, Targets;

        public void Dispose()
        {
            Masks.Dispose();
            Lora.Dispose();
            Weights.Dispose();
            Ctx.Dispose();
        }
    }

    private static Setup Build(BackendVariant variant, float dropout, string model = "llama")
    {
        var cfg = ConfigOf(model);
        var ctx = variant.CreateContext();
        var weights = LlamaWeights.Random(ctx, cfg, seed: 3, LpDType.F32, std: 0.3);
        RandomizeBiases(weights, seed: 6);
        var lora = LoraAdapters.Create(ctx, cfg, new LoraOptions { Rank = 2, Alpha = 4, Dropout = dropout }, seed: 4);
        // Non-zero B, so gradients of A are non-zero too.
        var rng = new Random(5);
        var values = lora.Params.Download();
        foreach (var e in lora.Params.Entries.Where(e => e.Name.Contains("lora_B")))
            for (long i = 0; i < e.Count; i++) values[e.Offset + i] = (float)(rng.NextDouble() - 0.5) * 0.6f;
        lora.Params.Upload(values);
        var masks = new OutputMasks(ctx, cfg);
        masks.SetKvGroups(1, new[] { true, false });
        masks.SetChannels(0, Enumerable.Range(0, 24).Select(c => c % 5 != 0).ToArray());

        var tokens = Enumerable.Range(0, Batch * Seq).Select(i => (i * 17 + 3) % cfg.VocabSize).ToArray();
        var targets = tokens.Skip(1).Append(0).ToArray();
        targets[Seq - 1] = LlamaGraph.IgnoreIndex; // the end of the first sequence has no next token

        var maskValues = new Dictionary<(int, LlamaLinear), double[]>();
        for (int l = 0; l < cfg.NumHiddenLayers; l++)
            foreach (LlamaLinear lin in Enum.GetValues<LlamaLinear>())
                if (masks[l, lin] is { } m) maskValues[(l, lin)] = m.ToFloatArray().Select(x => (double)x).ToArray();
        var reference = new ReferenceLlama
        {
            Config = cfg,
            Base = weights.Named().ToDictionary(n => n.Name, n => n.Tensor.ToFloatArray().Select(x => (double)x).ToArray()),
            Lora = lora.Params.Entries.ToDictionary(e => e.Name, e => values.AsSpan((int)e.Offset, (int)e.Count).ToArray().Select(x => (double)x).ToArray()),
            Masks = maskValues,
            Rank = 2, Scale = 2.0, Dropout = dropout, StepSeed = StepSeed,
            InvFreq = cfg.RopeInverseFrequencies().Select(x => (double)x).ToArray(),
        };
        return new Setup { Ctx = ctx, Weights = weights, Lora = lora, Masks = masks, Reference = reference, Tokens = tokens, Targets = targets };
    }

    private static double NormalisedError(float[] got, double[] want)
    {
        double d2 = 0, r2 = 0;
        for (int i = 0; i < want.Length; i++)
        {
            d2 += (got[i] - want[i]) * (got[i] - want[i]);
            r2 += want[i] * want[i];
        }
        return r2 > 0 ? Math.Sqrt(d2 / r2) : Math.Sqrt(d2);
    }

    // f32 activations on every backend: these tests measure the engine's arithmetic, to f32 rounding. The CUDA backends'
    // default bf16 activations are checked against the same model below, within bf16 storage error.
    [Theory, MemberData(nameof(BackendsAndModels))]
    public void loss_and_every_lora_gradient_match_the_float64_model(string backend, string model)
    {
        using var s = Build(TestBackends.Get(backend), dropout: 0.1f, model);
        using var graph = new LlamaGraph(s.Weights, s.Lora, s.Masks, Batch, Seq, activations: LpDType.F32);
        s.Lora.Grads.Zero();
        var loss = graph.Forward(s.Tokens, s.Targets, training: true, dropoutSeed: StepSeed);
        graph.Backward(1f / loss.Count);
        var (refLoss, refGrads) = s.Reference.LossAndGrads(s.Tokens, s.Targets, Batch, Seq);

        Assert.Equal(Batch * Seq - 1, loss.Count);
        Assert.True(Math.Abs(loss.Mean - refLoss) <= 1e-5 * Math.Abs(refLoss), $"loss {loss.Mean:R} vs reference {refLoss:R}");
        var grads = s.Lora.Grads.Download();
        var report = new List<string>();
        foreach (var e in s.Lora.Grads.Entries)
        {
            var got = grads.AsSpan((int)e.Offset, (int)e.Count).ToArray();
            double err = NormalisedError(got, refGrads[e.Name]);
            report.Add($"{e.Name}: {err:E2}");
            Assert.True(err <= GradTolerance, $"{e.Name}: normalised error {err:E3} > {GradTolerance:E0}\n{string.Join("\n", report)}");
            Assert.Contains(refGrads[e.Name], g => g != 0); // the probe must exercise every matrix
        }
        Assert.Equal(refGrads.Count, s.Lora.Grads.Entries.Count);
    }

    /// <summary>bf16 activations (DESIGN §4; the CUDA backends' default, accepted by cpu through widening): the same step
    /// against the float64 model. Every stored activation is rounded to bf16 (2^-9 relative), so the loss moves by up to
    /// 5.6e-4 relative (measured, all three models) and the LoRA gradients by up to 4.4e-2 normalised: they pass through
    /// attention's backward, where dS = P (dP - rowsum(dO O)) cancels in f32 but not the rounding of the stored q, k, v and
    /// out. cpu and cudaemu measure the same errors (one function, rounded alike). The limits leave 2-3x.</summary>
    [Theory, MemberData(nameof(BackendsAndModels))]
    public void with_bf16_activations_the_loss_and_lora_gradients_stay_within_bf16_error(string backend, string model)
    {
        using var s = Build(TestBackends.Get(backend), dropout: 0.1f, model);
        using var graph = new LlamaGraph(s.Weights, s.Lora, s.Masks, Batch, Seq, activations: LpDType.BF16);
        Assert.Equal(LpDType.BF16, graph.Activations);
        s.Lora.Grads.Zero();
        var loss = graph.Forward(s.Tokens, s.Targets, training: true, dropoutSeed: StepSeed);
        graph.Backward(1f / loss.Count);
        var (refLoss, refGrads) = s.Reference.LossAndGrads(s.Tokens, s.Targets, Batch, Seq);
        double lossErr = Math.Abs(loss.Mean - refLoss) / Math.Abs(refLoss);
        var grads = s.Lora.Grads.Download();
        var errors = s.Lora.Grads.Entries.Select(e => (e.Name, Err: NormalisedError(grads.AsSpan((int)e.Offset, (int)e.Count).ToArray(), refGrads[e.Name]))).ToList();
        string report = $"loss {loss.Mean:R} vs {refLoss:R} (relative {lossErr:E2}); worst gradient {errors.Max(e => e.Err):E2}\n" +
                        string.Join("\n", errors.Select(e => $"{e.Name}: {e.Err:E2}"));
        Assert.True(lossErr <= Bf16LossTolerance, report);
        Assert.All(errors, e => Assert.True(e.Err <= Bf16GradTolerance, report));
        // bf16 storage really happened: the result is not the f32 one.
        Assert.True(lossErr > 1e-7 || errors.Max(e => e.Err) > 1e-5, "bf16 activations gave the f32 result: " + report);
    }

    private const double Bf16LossTolerance = 2e-3;
    private const double Bf16GradTolerance = 0.1;

    [Fact]
    public void reference_gradients_agree_with_finite_differences_and_the_engine()
    {
        using var s = Build(TestBackends.Get("cpu"), dropout: 0.1f);
        using var graph = new LlamaGraph(s.Weights, s.Lora, s.Masks, Batch, Seq);
        s.Lora.Grads.Zero();
        var loss = graph.Forward(s.Tokens, s.Targets, training: true, dropoutSeed: StepSeed);
        graph.Backward(1f / loss.Count);
        var engine = s.Lora.Grads.Download();
        var (_, refGrads) = s.Reference.LossAndGrads(s.Tokens, s.Targets, Batch, Seq);

        var probes = new[]
        {
            (LoraAdapters.Name(0, LlamaLinear.QProj, true), 3), (LoraAdapters.Name(0, LlamaLinear.KProj, false), 5),
            (LoraAdapters.Name(1, LlamaLinear.OProj, false), 7), (LoraAdapters.Name(1, LlamaLinear.DownProj, true), 2),
            (LoraAdapters.Name(0, LlamaLinear.UpProj, false), 11), (LoraAdapters.Name(1, LlamaLinear.VProj, true), 1),
        };
        const double h = 1e-5;
        foreach (var (name, index) in probes)
        {
            var p = s.Reference.Lora[name];
            double keep = p[index];
            p[index] = keep + h;
            double up = s.Reference.LossAndGrads(s.Tokens, s.Targets, Batch, Seq).Loss;
            p[index] = keep - h;
            double down = s.Reference.LossAndGrads(s.Tokens, s.Targets, Batch, Seq).Loss;
            p[index] = keep;
            double fd = (up - down) / (2 * h);
            double analytic = refGrads[name][index];
            double eng = engine[s.Lora.Grads.Entries.First(e => e.Name == name).Offset + index];
            // float64 central differences with h=1e-5: truncation ~h^2 = 1e-10, rounding ~1e-16/h = 1e-11.
            Assert.True(Math.Abs(fd - analytic) <= 1e-6 * Math.Max(1e-3, Math.Abs(fd)), $"{name}[{index}]: finite difference {fd:E6} vs reference {analytic:E6}");
            Assert.True(Math.Abs(fd - eng) <= 1e-4 * Math.Max(1e-3, Math.Abs(fd)), $"{name}[{index}]: finite difference {fd:E6} vs engine {eng:E6}");
        }
    }

    [Theory, MemberData(nameof(BackendsAndModels))]
    public void base_weight_gradients_for_pretraining_match_the_float64_model(string backend, string model)
    {
        var variant = TestBackends.Get(backend);
        var cfg = ConfigOf(model);
        using var s = Build(variant, dropout: 0f, model);
        using var trainable = LlamaWeights.Random(s.Ctx, cfg, seed: 3, LpDType.F32, std: 0.3, trainable: true);
        RandomizeBiases(trainable, seed: 6);
        using var grads = new TensorArena(s.Ctx, LlamaWeights.ArenaLayout(cfg));
        using var graph = new LlamaGraph(trainable, lora: null, masks: null, Batch, Seq, grads, activations: LpDType.F32);
        var loss = graph.Forward(s.Tokens, s.Targets, training: true);
        graph.Backward(1f / loss.Count);
        var reference = new ReferenceLlama
        {
            Config = cfg, Base = s.Reference.Base, Lora = new(), Masks = new(), Rank = 0, Scale = 0, Dropout = 0, StepSeed = 0,
            InvFreq = s.Reference.InvFreq,
        };
        var (refLoss, _, refBase) = reference.LossAndAllGrads(s.Tokens, s.Targets, Batch, Seq);
        Assert.True(Math.Abs(loss.Mean - refLoss) <= 1e-5 * Math.Abs(refLoss), $"loss {loss.Mean:R} vs reference {refLoss:R}");
        var layout = LlamaWeights.ArenaLayout(cfg).ToList();
        Assert.Equal(LlamaLinears.All.Count(lin => lin.HasBias(cfg)) * cfg.NumHiddenLayers, layout.Count(e => e.Name.EndsWith(".bias", StringComparison.Ordinal)));
        Assert.Equal(refBase.Keys.Order(), layout.Select(e => e.Name).Order());
        foreach (var (name, _) in layout)
        {
            double err = NormalisedError(grads[name].ToFloatArray(), refBase[name]);
            Assert.True(err <= GradTolerance, $"{name}: normalised error {err:E3} > {GradTolerance:E0}");
        }
    }

    /// <summary>Biases of pruned q/k/v outputs are non-zero but get exactly zero gradient (the bias is masked
    /// with its output), while kept outputs' biases do get one.</summary>
    [Fact]
    public void pruned_outputs_of_biased_projections_stay_zero_and_get_no_bias_gradient()
    {
        var cfg = TinyQwen2Config;
        using var s = Build(TestBackends.Get("cpu"), dropout: 0f, "qwen2");
        using var trainable = LlamaWeights.Random(s.Ctx, cfg, seed: 3, LpDType.F32, std: 0.3, trainable: true);
        RandomizeBiases(trainable, seed: 6);
        using var grads = new TensorArena(s.Ctx, LlamaWeights.ArenaLayout(cfg));
        using var graph = new LlamaGraph(trainable, lora: null, s.Masks, Batch, Seq, grads);
        var loss = graph.Forward(s.Tokens, s.Targets, training: true);
        graph.Backward(1f / loss.Count);
        // Layer 1 KV group 1 is pruned: k/v rows of kv head 1 (4..7), q rows of heads 2,3 (8..15).
        var dbk = grads[LlamaTensorLayout.Bias(LlamaLinear.KProj, 1)].ToFloatArray();
        var dbq = grads[LlamaTensorLayout.Bias(LlamaLinear.QProj, 1)].ToFloatArray();
        Assert.All(Enumerable.Range(4, 4), i => Assert.Equal(0f, dbk[i]));
        Assert.All(Enumerable.Range(8, 8), i => Assert.Equal(0f, dbq[i]));
        Assert.Contains(dbk.Take(4), g => g != 0f);
        Assert.Contains(trainable.Layers[1].Bias(LlamaLinear.KProj)!.ToFloatArray().Skip(4), b => b != 0f);
    }

    // bf16: the recompute path's shared buffers take each field's dtype (cpu widens the bf16 activations per op).
    [Theory, InlineData("F32"), InlineData("BF16")]
    public void recomputing_activations_gives_bit_identical_gradients(string activations)
    {
        using var s = Build(TestBackends.Get("cpu"), dropout: 0.1f);
        float[] Run(bool recompute)
        {
            using var graph = new LlamaGraph(s.Weights, s.Lora, s.Masks, Batch, Seq, recompute: recompute, activations: Enum.Parse<LpDType>(activations));
            s.Lora.Grads.Zero();
            var loss = graph.Forward(s.Tokens, s.Targets, training: true, dropoutSeed: StepSeed);
            graph.Backward(1f / loss.Count);
            return s.Lora.Grads.Download();
        }
        var kept = Run(false);
        var recomputed = Run(true);
        Assert.Contains(kept, g => g != 0f);
        Assert.Equal(kept, recomputed);
    }

    [Fact]
    public void masked_heads_and_channels_get_no_b_gradient()
    {
        using var s = Build(TestBackends.Get("cpu"), dropout: 0f);
        using var graph = new LlamaGraph(s.Weights, s.Lora, s.Masks, Batch, Seq);
        s.Lora.Grads.Zero();
        var loss = graph.Forward(s.Tokens, s.Targets, training: true, dropoutSeed: StepSeed);
        graph.Backward(1f / loss.Count);
        // Layer 1 KV group 1 is pruned: q rows of heads 2,3 (rows 8..15) and k/v rows of kv head 1 (rows 4..7).
        var gbq = s.Lora.GradB(1, LlamaLinear.QProj)!.ToFloatArray();   // (16, 2)
        var gbk = s.Lora.GradB(1, LlamaLinear.KProj)!.ToFloatArray();   // (8, 2)
        Assert.All(Enumerable.Range(16, 16), i => Assert.Equal(0f, gbq[i]));
        Assert.All(Enumerable.Range(8, 8), i => Assert.Equal(0f, gbk[i]));
        Assert.Contains(gbq.Take(16), g => g != 0f);
        var gbGate = s.Lora.GradB(0, LlamaLinear.GateProj)!.ToFloatArray(); // (24, 2): channels c % 5 == 0 pruned
        Assert.All(new[] { 0, 5, 10, 15, 20 }, c => { Assert.Equal(0f, gbGate[c * 2]); Assert.Equal(0f, gbGate[c * 2 + 1]); });
    }
}
