// RopeAttentionChecks.cs — independent checks of the oracle's rotary embedding and attention against
// facts that do not depend on its code: known rotations, norm preservation, single-token and
// zero-score attention, and the explicit softmax of one row.
using LoRAPrune.Reference;
using Xunit;

namespace LoRAPrune.Tests.ReferenceChecks;

public sealed class RopeAttentionChecks
{
    [Theory]
    [InlineData(8, 10000.0)]
    [InlineData(128, 500000.0)]
    [InlineData(64, 10000.0)]
    public void rope_inv_freq_is_the_f32_theta_power(int headDim, double theta)
    {
        // lp.h builds f_i in f32: each value is an f32 value within 2 ulps (2^-22 relative) of theta^(-2i/D).
        double[] f = Ref.RopeInvFreq(headDim, theta);
        Assert.Equal(headDim / 2, f.Length);
        for (int i = 0; i < f.Length; i++)
        {
            double exact = Math.Pow(theta, -2.0 * i / headDim);
            Assert.Equal(f[i], (double)(float)f[i]);
            Assert.True(Math.Abs(f[i] - exact) <= exact * Math.Pow(2, -22), $"f[{i}] = {f[i]:R}, exact {exact:R}");
        }
        Assert.Equal([1.0, 0.1f, 0.01f, 0.001f], Ref.RopeInvFreq(8, 10000.0));
    }

    [Fact]
    public void rope_at_position_zero_is_identity()
    {
        double[] x = FiniteDifference.Uniform(new Random(21), 1 * 1 * 3 * 8);
        Assert.Equal(x, Ref.RopeForward(x, 1, 1, 3, 8, Ref.RopeInvFreq(8, 10000.0), posOffset: 0));
    }

    [Fact]
    public void rope_rotates_half_pairs_by_position_times_frequency()
    {
        // D = 4: pairs (0,2) and (1,3); at position 1 the angles are 1 and 0.5 (both exact in f32).
        double[] invFreq = [1.0, 0.5];
        double[] y = Ref.RopeForward([1.0, 0.0, 0.0, 1.0], 1, 1, 1, 4, invFreq, posOffset: 1);
        double[] expected = [Math.Cos(1.0), -Math.Sin(0.5), Math.Sin(1.0), Math.Cos(0.5)];
        for (int i = 0; i < 4; i++)
            Assert.Equal(expected[i], y[i], 1e-15);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(4093L)]
    public void rope_preserves_norms_and_backward_inverts(long posOffset)
    {
        const int B = 2, T = 5, NH = 3, D = 8;
        double[] invFreq = Ref.RopeInvFreq(D, 500000.0);
        double[] x = FiniteDifference.Uniform(new Random(22), B * T * NH * D);
        double[] y = Ref.RopeForward(x, B, T, NH, D, invFreq, posOffset);
        for (int row = 0; row < B * T * NH; row++)
        {
            double Norm(double[] v) => Math.Sqrt(v.Skip(row * D).Take(D).Sum(e => e * e));
            Assert.Equal(Norm(x), Norm(y), 1e-13);
        }
        double[] back = Ref.RopeBackward(y, B, T, NH, D, invFreq, posOffset);
        for (int i = 0; i < x.Length; i++)
            Assert.Equal(x[i], back[i], 1e-13);
    }

    [Fact]
    public void rope_angle_is_the_f32_product()
    {
        // lp.h: the angle is the f32 product of the f32 position and the f32 frequency.
        const long pos = 100_003;
        const double f = 0.1;
        Assert.Equal((double)(100_003f * 0.1f), Ref.RopeAngle(pos, f));
        Assert.NotEqual(pos * f, Ref.RopeAngle(pos, f));
    }

    [Theory]
    [InlineData(4, 2)]
    [InlineData(4, 4)]
    [InlineData(4, 1)]
    public void attention_single_token_returns_value(int heads, int kvHeads)
    {
        const int B = 2, T = 1, D = 3;
        var rng = new Random(23);
        double[] q = FiniteDifference.Uniform(rng, B * T * heads * D);
        double[] k = FiniteDifference.Uniform(rng, B * T * kvHeads * D);
        double[] v = FiniteDifference.Uniform(rng, B * T * kvHeads * D);
        var (output, lse) = Ref.AttentionForward(q, k, v, B, T, heads, kvHeads, D, scale: 0.7);
        int group = heads / kvHeads;
        for (int b = 0; b < B; b++)
        for (int h = 0; h < heads; h++)
        {
            for (int d = 0; d < D; d++)
                Assert.Equal(v[(b * kvHeads + h / group) * D + d], output[(b * heads + h) * D + d], 1e-15);
            double score = 0.7 * Enumerable.Range(0, D).Sum(d => q[(b * heads + h) * D + d] * k[(b * kvHeads + h / group) * D + d]);
            Assert.Equal(score, lse[b * heads + h], 1e-15);
        }
    }

    [Fact]
    public void attention_with_zero_queries_averages_the_visible_values()
    {
        // All scores 0: query t attends uniformly to keys 0..t, so out = mean(v[0..t]), lse = log(t+1).
        const int B = 1, T = 5, H = 4, KVH = 2, D = 3;
        double[] q = new double[B * T * H * D];
        var rng = new Random(24);
        double[] k = FiniteDifference.Uniform(rng, B * T * KVH * D);
        double[] v = FiniteDifference.Uniform(rng, B * T * KVH * D);
        var (output, lse) = Ref.AttentionForward(q, k, v, B, T, H, KVH, D, scale: 1.0);
        for (int h = 0; h < H; h++)
        for (int t = 0; t < T; t++)
        {
            Assert.Equal(Math.Log(t + 1), lse[h * T + t], 1e-14);
            for (int d = 0; d < D; d++)
            {
                double mean = Enumerable.Range(0, t + 1).Average(j => v[(j * KVH + h / 2) * D + d]);
                Assert.Equal(mean, output[(t * H + h) * D + d], 1e-14);
            }
        }
    }

    [Fact]
    public void attention_last_row_is_the_explicit_softmax()
    {
        const int B = 1, T = 4, H = 2, KVH = 1, D = 2;
        var rng = new Random(25);
        double[] q = FiniteDifference.Uniform(rng, B * T * H * D);
        double[] k = FiniteDifference.Uniform(rng, B * T * KVH * D);
        double[] v = FiniteDifference.Uniform(rng, B * T * KVH * D);
        const double scale = 0.5;
        var (output, _) = Ref.AttentionForward(q, k, v, B, T, H, KVH, D, scale);
        const int t = T - 1, h = 1;
        double[] weights = Enumerable.Range(0, T)
            .Select(j => Math.Exp(scale * (q[(t * H + h) * D] * k[j * D] + q[(t * H + h) * D + 1] * k[j * D + 1])))
            .ToArray();
        double total = weights.Sum();
        for (int d = 0; d < D; d++)
            Assert.Equal(Enumerable.Range(0, T).Sum(j => weights[j] / total * v[j * D + d]), output[(t * H + h) * D + d], 1e-14);
    }
}
