// ImportanceEstimatorTests.cs — the per-step importance of every prunable layer (docs/method.md §2) on every backend:
// equal to the float64 reference formula (per module, grouped per KV group or channel, L2-normalised, summed), equal to
// what an actual SGD step with learning rate 1 on A and B implies (G read off the change of B A), KV groups under GQA,
// kept-only normalisation under masks, and the all-or-nothing NaN guard.
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Pruning;
using LoRAPrune.Native;
using LoRAPrune.Tests.Conformance;
using LoRAPrune.Tests.Model;
using LoRAPrune.Reference;
using MathNet.Numerics.LinearAlgebra;

namespace LoRAPrune.Tests.Pruning;

public class ImportanceEstimatorTests
{
    // Scores are sums of |G W'| over 16-64 f32 products, then one L2 normalisation: ~1e-6 relative error in f32; a wrong
    // grouping, axis or scale changes them by O(1).
    private const double Tolerance = 1e-5;

    private static readonly LlamaConfig Config = EngineGradientTests.TinyConfig; // C=16, H=4, KVH=2 (n_rep 2), D=4, F=24, 2 layers

    public static IEnumerable<object[]> Backends => TestBackends.Variants.Select(v => new object[] { v.Name });

    private sealed class Fixture : IDisposable
    {
        public required Context Ctx;
        public required LlamaWeights Weights;
        public required LoraAdapters Lora;

        public void Dispose()
        {
            Lora.Dispose();
            Weights.Dispose();
            Ctx.Dispose();
        }

        public double[] Get(Tensor t) => t.ToFloatArray().Select(x => (double)x).ToArray();
    }

    // Random weights, LoRA A and B (B non-zero, as after some training) and random LoRA gradients.
    private static Fixture Build(string backend, int seed = 11)
    {
        Context ctx = TestBackends.Get(backend).CreateContext();
        var weights = LlamaWeights.Random(ctx, Config, seed, std: 0.3);
        var lora = LoraAdapters.Create(ctx, Config, new LoraOptions { Rank = 3, Alpha = 6 }, seed);
        var rng = new Random(seed + 1);
        float[] Noise(long n) => Enumerable.Range(0, (int)n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        lora.Params.Upload(Noise(lora.Params.Count));
        lora.Grads.Upload(Noise(lora.Grads.Count));
        return new Fixture { Ctx = ctx, Weights = weights, Lora = lora };
    }

    /// <summary>The float64 combined scores of one layer: per module the reference importance with its axis, grouped
    /// (q and o by n_rep heads, k and v by one head, the MLP by channel), each L2-normalised, then summed per block.
    /// <paramref name="g"/> gives the module's G matrix (null: the lora formula via Ref.ImportanceAccumulate).</summary>
    private static (double[] Attention, double[] Mlp) Reference(Fixture f, int layer, Func<LlamaLinear, Matrix<double>>? g = null,
                                                               Func<LlamaLinear, double[]>? unitMask = null)
    {
        int d = Config.HeadDim, rep = Config.NumAttentionHeads / Config.NumKeyValueHeads, r = f.Lora.Options.Rank;
        var attention = new double[Config.NumKeyValueHeads];
        var mlp = new double[Config.IntermediateSize];
        foreach (LlamaLinear lin in LlamaLinears.All)
        {
            (int outF, int inF) = lin.Shape(Config, layer);
            int axis = lin is LlamaLinear.OProj or LlamaLinear.DownProj ? 1 : 0;
            double[] w = f.Get(f.Weights.Layers[layer][lin]), a = f.Get(f.Lora.A(layer, lin)!), b = f.Get(f.Lora.B(layer, lin)!);
            double[] perUnit;
            if (g is null)
            {
                perUnit = Ref.ImportanceAccumulate(w, outF, inF, a, b, r, f.Get(f.Lora.GradA(layer, lin)!), f.Get(f.Lora.GradB(layer, lin)!), null,
                                                   f.Lora.Scale, Ref.ImportanceLora, axis);
            }
            else
            {
                Matrix<double> merged = Mat(w, outF, inF) + f.Lora.Scale * (Mat(b, outF, r) * Mat(a, r, inF));
                Matrix<double> s = g(lin).PointwiseMultiply(merged).PointwiseAbs();
                perUnit = (axis == 0 ? s.RowSums() : s.ColumnSums()).ToArray();
            }
            if (unitMask is not null) perUnit = Ref.Mul(perUnit, unitMask(lin));
            bool isAttention = lin.IsAttention();
            long groupSize = !isAttention ? 1 : lin is LlamaLinear.KProj or LlamaLinear.VProj ? d : rep * d;
            double[] normalized = Ref.ImportanceGroupNormalize(perUnit, groupSize);
            double[] target = isAttention ? attention : mlp;
            for (int i = 0; i < target.Length; i++) target[i] += normalized[i];
        }
        return (attention, mlp);
    }

    private static Matrix<double> Mat(double[] v, int rows, int cols) => Matrix<double>.Build.Dense(rows, cols, (i, j) => v[i * cols + j]);

    private static void AssertClose(double[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        double err = expected.Zip(actual, (e, x) => Math.Abs(e - x)).Max() / scale;
        Assert.True(err <= Tolerance, $"{what}: normalised error {err:E2} (expected {string.Join(", ", expected.Take(6).Select(v => v.ToString("G6")))}, got {string.Join(", ", actual.Take(6))})");
    }

    private static ImportanceEstimator Estimator(Fixture f, PruneCriterion criterion = PruneCriterion.Lora) =>
        new(f.Ctx, Config, [0, 1], new PruneOptions { Criterion = criterion, EmaDecay = 0 }); // decay 0: the average is the fresh score

    [Theory]
    [MemberData(nameof(Backends))]
    public void Scores_equal_the_float64_reference_formula_grouped_by_KV_group(string backend)
    {
        using Fixture f = Build(backend);
        using ImportanceEstimator importance = Estimator(f);
        Assert.True(importance.Update(f.Weights, f.Lora, null, null, seed: 1, step: 0));
        foreach (int layer in new[] { 0, 1 })
        {
            (double[] attention, double[] mlp) = Reference(f, layer);
            float[] groups = importance.Scores(layer, attention: true);
            Assert.Equal(Config.NumKeyValueHeads, groups.Length); // one score per KV group (k/v head + its 2 query heads), not per query head
            AssertClose(attention, groups, $"layer {layer} KV groups");
            AssertClose(mlp, importance.Scores(layer, attention: false), $"layer {layer} MLP channels");
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Scores_equal_what_an_SGD_step_at_learning_rate_1_on_A_and_B_implies(string backend)
    {
        using Fixture f = Build(backend, seed: 23);
        using ImportanceEstimator importance = Estimator(f);
        importance.Update(f.Weights, f.Lora, null, null, seed: 1, step: 0);
        int r = f.Lora.Options.Rank;
        foreach (int layer in new[] { 0, 1 })
        {
            // Take the step: A' = A - gA, B' = B - gB. The adapter's product moves by B'A' - BA; reading that move as
            // -1 x dL/dW gives the LoRA-guided gradient, without writing its formula down.
            Matrix<double> G(LlamaLinear lin)
            {
                (int outF, int inF) = lin.Shape(Config, layer);
                Matrix<double> a = Mat(f.Get(f.Lora.A(layer, lin)!), r, inF), b = Mat(f.Get(f.Lora.B(layer, lin)!), outF, r);
                Matrix<double> a1 = a - Mat(f.Get(f.Lora.GradA(layer, lin)!), r, inF), b1 = b - Mat(f.Get(f.Lora.GradB(layer, lin)!), outF, r);
                return -(b1 * a1 - b * a);
            }
            (double[] attention, double[] mlp) = Reference(f, layer, G);
            AssertClose(attention, importance.Scores(layer, attention: true), $"layer {layer} KV groups");
            AssertClose(mlp, importance.Scores(layer, attention: false), $"layer {layer} MLP channels");
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Grad_and_magnitude_criteria_use_the_weight_gradient_and_the_merged_weight(string backend)
    {
        using Fixture f = Build(backend, seed: 31);
        var layout = new[] { 0, 1 }.SelectMany(l => LlamaLinears.All.Select(lin => (LlamaTensorLayout.Weight(lin, l), new long[] { lin.Shape(Config, l).Out, lin.Shape(Config, l).In })));
        using var gradients = new TensorArena(f.Ctx, layout);
        var rng = new Random(5);
        gradients.Upload(Enumerable.Range(0, (int)gradients.Count).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
        var gw = gradients.Entries.ToDictionary(e => e.Name, e => Mat(f.Get(gradients[e.Name]), (int)e.Shape[0], (int)e.Shape[1]));

        using (ImportanceEstimator grad = Estimator(f, PruneCriterion.Grad))
        {
            grad.Update(f.Weights, f.Lora, null, gradients, seed: 1, step: 0);
            (double[] attention, double[] mlp) = Reference(f, 1, lin => gw[LlamaTensorLayout.Weight(lin, 1)]);
            AssertClose(attention, grad.Scores(1, attention: true), "grad: KV groups");
            AssertClose(mlp, grad.Scores(1, attention: false), "grad: MLP channels");
            Assert.All(gradients.Download(), v => Assert.Equal(0f, v)); // used, then zeroed for the next step's += accumulation
        }
        using (ImportanceEstimator magnitude = Estimator(f, PruneCriterion.Magnitude))
        {
            magnitude.Update(f.Weights, f.Lora, null, null, seed: 1, step: 0);
            (double[] attention, double[] mlp) = Reference(f, 0, lin => Matrix<double>.Build.Dense(lin.Shape(Config, 0).Out, lin.Shape(Config, 0).In, 1.0));
            AssertClose(attention, magnitude.Scores(0, attention: true), "magnitude: KV groups");
            AssertClose(mlp, magnitude.Scores(0, attention: false), "magnitude: MLP channels");
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Kept_only_normalisation_leaves_pruned_groups_out_of_the_norm(string backend)
    {
        using Fixture f = Build(backend, seed: 41);
        using var masks = new OutputMasks(f.Ctx, Config);
        bool[] groups = [true, false];
        bool[] channels = Enumerable.Range(0, Config.IntermediateSize).Select(c => c % 3 != 0).ToArray();
        masks.SetKvGroups(0, groups);
        masks.SetChannels(0, channels);
        using ImportanceEstimator importance = Estimator(f);
        importance.Update(f.Weights, f.Lora, masks, null, seed: 1, step: 0);
        int d = Config.HeadDim, rep = 2;
        double[] UnitMask(LlamaLinear lin) => lin switch
        {
            LlamaLinear.QProj or LlamaLinear.OProj => Enumerable.Range(0, Config.NumAttentionHeads * d).Select(i => groups[i / (rep * d)] ? 1.0 : 0.0).ToArray(),
            LlamaLinear.KProj or LlamaLinear.VProj => Enumerable.Range(0, Config.NumKeyValueHeads * d).Select(i => groups[i / d] ? 1.0 : 0.0).ToArray(),
            _ => channels.Select(k => k ? 1.0 : 0.0).ToArray(),
        };
        (double[] attention, double[] mlp) = Reference(f, 0, unitMask: UnitMask);
        float[] actual = importance.Scores(0, attention: true);
        Assert.Equal(0f, actual[1]);
        AssertClose(attention, actual, "KV groups, group 1 pruned");
        AssertClose(mlp, importance.Scores(0, attention: false), "MLP channels, every third pruned");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void A_NaN_anywhere_skips_the_whole_update_and_the_next_clean_step_applies(string backend)
    {
        using Fixture f = Build(backend, seed: 53);
        using var importance = new ImportanceEstimator(f.Ctx, Config, [0, 1], new PruneOptions { EmaDecay = 0.9 });
        Assert.True(importance.Update(f.Weights, f.Lora, null, null, seed: 1, step: 0));
        float[] before = importance.Ema.Download();
        float[] fresh0 = importance.Fresh.Download();
        AssertClose(fresh0.Select(v => 0.1 * v).ToArray(), before, "first update from 0: (1 - 0.9) x fresh");
        Assert.Contains(before, v => v != 0);

        // One NaN in one gradient of layer 1 (a diverged step): nothing in any layer moves.
        Tensor gA = f.Lora.GradA(1, LlamaLinear.UpProj)!;
        float[] grad = gA.ToFloatArray();
        float saved = grad[5];
        grad[5] = float.NaN;
        gA.Upload(grad);
        Assert.False(importance.Update(f.Weights, f.Lora, null, null, seed: 1, step: 1));
        Assert.Equal(before, importance.Ema.Download());

        grad[5] = saved;
        gA.Upload(grad);
        Assert.True(importance.Update(f.Weights, f.Lora, null, null, seed: 1, step: 2));
        (double[] ema, bool applied) = Ref.ImportanceEma(before.Select(v => (double)v).ToArray(), importance.Fresh.Download().Select(v => (double)v).ToArray(), 0.9);
        Assert.True(applied);
        AssertClose(ema, importance.Ema.Download(), "EMA after the clean step");
    }
}
