// ImportanceChecks.cs — independent checks of the oracle's importance ops: the matrix form of
// |G (.) W'| against the per-element r-long dot products of docs/method.md §2.2, the three modes and
// both axes, the group normalisation and the NaN-guarded moving average.
using LoRAPrune.Reference;
using Xunit;

namespace LoRAPrune.Tests.ReferenceChecks;

public sealed class ImportanceChecks
{
    [Theory]
    [InlineData(6, 5, 1, 0)]
    [InlineData(6, 5, 3, 1)]
    [InlineData(1, 7, 2, 0)]
    public void importance_lora_matches_elementwise_formula(int outFeatures, int inFeatures, int rank, int axis)
    {
        const double scale = 2.0;
        var rng = new Random(41);
        double[] w = FiniteDifference.Uniform(rng, outFeatures * inFeatures);
        double[] a = FiniteDifference.Uniform(rng, rank * inFeatures), ga = FiniteDifference.Uniform(rng, rank * inFeatures);
        double[] b = FiniteDifference.Uniform(rng, outFeatures * rank), gb = FiniteDifference.Uniform(rng, outFeatures * rank);
        double[] acc = Ref.ImportanceAccumulate(w, outFeatures, inFeatures, a, b, rank, ga, gb, null, scale, Ref.ImportanceLora, axis);
        var expected = new double[axis == 0 ? outFeatures : inFeatures];
        for (int i = 0; i < outFeatures; i++)
        for (int j = 0; j < inFeatures; j++)
        {
            double g = 0.0, ba = 0.0;
            for (int r = 0; r < rank; r++)
            {
                g += gb[i * rank + r] * a[r * inFeatures + j] + b[i * rank + r] * ga[r * inFeatures + j]
                   - gb[i * rank + r] * ga[r * inFeatures + j];
                ba += b[i * rank + r] * a[r * inFeatures + j];
            }
            expected[axis == 0 ? i : j] += Math.Abs(g * (w[i * inFeatures + j] + scale * ba));
        }
        Assert.Equal(expected.Length, acc.Length);
        for (int k = 0; k < expected.Length; k++)
            Assert.Equal(expected[k], acc[k], 1e-13);
    }

    [Fact]
    public void importance_magnitude_and_grad_modes()
    {
        double[] w = [1.0, -2.0, 3.0, -4.0, 5.0, -6.0]; // (2,3)
        double[] gw = [0.5, 0.5, -1.0, 0.0, 2.0, 1.0];
        Assert.Equal([6.0, 15.0], Ref.ImportanceAccumulate(w, 2, 3, null, null, 0, null, null, null, 2.0, Ref.ImportanceMagnitude, 0));
        Assert.Equal([5.0, 7.0, 9.0], Ref.ImportanceAccumulate(w, 2, 3, null, null, 0, null, null, null, 2.0, Ref.ImportanceMagnitude, 1));
        Assert.Equal([4.5, 16.0], Ref.ImportanceAccumulate(w, 2, 3, null, null, 0, null, null, gw, 2.0, Ref.ImportanceGrad, 0));
        // With LoRA the weight factor is the merged W + scale B A: here B A = [[1,1,1],[0,0,0]].
        double[] a = [1.0, 1.0, 1.0], b = [1.0, 0.0];
        Assert.Equal([3.0 + 0.0 + 5.0, 15.0], Ref.ImportanceAccumulate(w, 2, 3, a, b, 1, null, null, null, 2.0, Ref.ImportanceMagnitude, 0));
        // lp.h: ga/gb only in lora mode (which needs a, b), gw only in grad mode.
        Assert.Throws<ArgumentException>(() => Ref.ImportanceAccumulate(w, 2, 3, a, b, 1, a, b, null, 2.0, Ref.ImportanceMagnitude, 0));
        Assert.Throws<ArgumentException>(() => Ref.ImportanceAccumulate(w, 2, 3, null, null, 0, null, null, gw, 2.0, Ref.ImportanceMagnitude, 0));
        Assert.Throws<ArgumentException>(() => Ref.ImportanceAccumulate(w, 2, 3, null, null, 0, a, b, null, 2.0, Ref.ImportanceLora, 0));
    }

    [Theory]
    [InlineData(12L, 3L)]
    [InlineData(32L, 1L)]
    [InlineData(8L, 8L)]
    public void group_normalize_has_unit_norm(long length, long groupSize)
    {
        double[] v = FiniteDifference.Uniform(new Random(42), (int)length, 0.0, 1.0);
        double[] g = Ref.ImportanceGroupNormalize(v, groupSize);
        Assert.Equal(length / groupSize, g.Length);
        Assert.Equal(1.0, Math.Sqrt(Ref.SumSquares(g)), 1e-7);
        double firstGroup = v.Take((int)groupSize).Sum();
        Assert.True(g[0] / firstGroup > 0.0);
    }

    [Fact]
    public void group_normalize_sums_groups()
    {
        // Groups sum to (3, 4): normalised (0.6, 0.8) up to the 1e-8 guard.
        double[] g = Ref.ImportanceGroupNormalize([1.0, 2.0, 1.5, 2.5], 2);
        Assert.Equal(3.0 / (5.0 + 1e-8), g[0], 1e-15);
        Assert.Equal(4.0 / (5.0 + 1e-8), g[1], 1e-15);
    }

    [Fact]
    public void ema_updates_or_skips_on_nan()
    {
        var (updated, applied) = Ref.ImportanceEma([1.0, 2.0], [3.0, 4.0], 0.9);
        Assert.True(applied);
        Assert.Equal(0.9 * 1.0 + 0.1 * 3.0, updated[0], 1e-15);
        Assert.Equal(0.9 * 2.0 + 0.1 * 4.0, updated[1], 1e-15);
        var (kept, skipped) = Ref.ImportanceEma([1.0, 2.0], [3.0, double.NaN], 0.9);
        Assert.False(skipped);
        Assert.Equal([1.0, 2.0], kept);
    }
}
