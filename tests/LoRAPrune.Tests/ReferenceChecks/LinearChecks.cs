// LinearChecks.cs — independent checks of the oracle's matrix and indexing ops: GEMM, the LoRA
// linear forward and the LoRA merge against plain index loops written from lp.h's formulas, and
// the gathers and the embedding against hand-picked elements.
using LoRAPrune.Reference;
using Xunit;

namespace LoRAPrune.Tests.ReferenceChecks;

public sealed class LinearChecks
{
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void gemm_matches_index_loops(bool transA, bool transB)
    {
        const int M = 5, N = 7, K = 3;
        const double alpha = 0.5, beta = -1.5;
        var rng = new Random(31);
        double[] a = FiniteDifference.Uniform(rng, M * K); // stored (K,M) when transA, else (M,K)
        double[] b = FiniteDifference.Uniform(rng, K * N); // stored (N,K) when transB, else (K,N)
        double[] c = FiniteDifference.Uniform(rng, M * N);
        double A(int i, int k) => transA ? a[k * M + i] : a[i * K + k];
        double Bv(int k, int j) => transB ? b[j * K + k] : b[k * N + j];
        double[] result = Ref.Gemm(a, transA ? K : M, transA ? M : K, b, transB ? N : K, transB ? K : N,
                                   transA, transB, alpha, beta, c);
        for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
        {
            double dot = 0.0;
            for (int k = 0; k < K; k++)
                dot += A(i, k) * Bv(k, j);
            Assert.Equal(alpha * dot + beta * c[i * N + j], result[i * N + j], 1e-14);
        }
    }

    [Fact]
    public void gemm_with_beta_zero_does_not_read_c()
    {
        double[] c = [double.NaN, double.NaN, double.NaN, double.NaN];
        double[] result = Ref.Gemm([1, 2, 3, 4], 2, 2, [1, 0, 0, 1], 2, 2, false, false, 2.0, 0.0, c);
        Assert.Equal([2.0, 4.0, 6.0, 8.0], result);
    }

    [Theory]
    [InlineData(0.0, true)]
    [InlineData(0.2, false)]
    public void lora_linear_forward_matches_index_loops(double dropout, bool withMask)
    {
        const int N = 4, IN = 5, OUT = 3, R = 2;
        const double scale = 2.0;
        const ulong seed = 99, offset = 3;
        float p = (float)dropout;
        var rng = new Random(32);
        double[] x = FiniteDifference.Uniform(rng, N * IN);
        double[] w = FiniteDifference.Uniform(rng, OUT * IN);
        double[] a = FiniteDifference.Uniform(rng, R * IN);
        double[] b = FiniteDifference.Uniform(rng, OUT * R);
        double[]? mask = withMask ? [1.0, 0.0, 1.0] : null;
        var (y, xa) = Ref.LoraLinearForward(x, N, IN, w, OUT, a, b, R, mask, scale, p, seed, offset);
        for (int n = 0; n < N; n++)
        {
            // drop(x)[n,i] = x[n,i] / (1-p) where u >= p, else 0 (lp.h, element index n*IN+i).
            double Drop(int i) => Ref.DropoutUniform(seed, offset + (ulong)(n * IN + i)) >= p ? x[n * IN + i] / (1.0 - p) : 0.0;
            double[] xaRow = new double[R];
            for (int r = 0; r < R; r++)
            {
                for (int i = 0; i < IN; i++)
                    xaRow[r] += Drop(i) * a[r * IN + i];
                Assert.Equal(xaRow[r], xa[n * R + r], 1e-14);
            }
            for (int o = 0; o < OUT; o++)
            {
                double baseSum = 0.0, loraSum = 0.0;
                for (int i = 0; i < IN; i++)
                    baseSum += x[n * IN + i] * w[o * IN + i];
                for (int r = 0; r < R; r++)
                    loraSum += xaRow[r] * b[o * R + r];
                Assert.Equal((baseSum + scale * loraSum) * (mask?[o] ?? 1.0), y[n * OUT + o], 1e-14);
            }
        }
    }

    [Fact]
    public void lora_linear_forward_with_zero_b_is_the_base_linear()
    {
        const int N = 3, IN = 6, OUT = 4, R = 3;
        var rng = new Random(33);
        double[] x = FiniteDifference.Uniform(rng, N * IN);
        double[] w = FiniteDifference.Uniform(rng, OUT * IN);
        double[] a = FiniteDifference.Uniform(rng, R * IN);
        var (withLora, _) = Ref.LoraLinearForward(x, N, IN, w, OUT, a, new double[OUT * R], R, null, 2.0, 0.2f, 5, 0);
        var (plain, xa) = Ref.LoraLinearForward(x, N, IN, w, OUT, null, null, 0, null, 2.0, 0.2f, 5, 0);
        Assert.Empty(xa);
        for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++)
        {
            double dot = Enumerable.Range(0, IN).Sum(i => x[n * IN + i] * w[o * IN + i]);
            Assert.Equal(dot, withLora[n * OUT + o], 1e-14);
            Assert.Equal(dot, plain[n * OUT + o], 1e-14);
        }
    }

    [Fact]
    public void lora_merge_is_w_plus_scaled_b_times_a()
    {
        const int OUT = 4, IN = 5, R = 3;
        const double scale = 2.0;
        var rng = new Random(34);
        double[] w = FiniteDifference.Uniform(rng, OUT * IN);
        double[] a = FiniteDifference.Uniform(rng, R * IN);
        double[] b = FiniteDifference.Uniform(rng, OUT * R);
        double[] merged = Ref.LoraMerge(w, OUT, IN, a, b, R, scale);
        for (int o = 0; o < OUT; o++)
        for (int i = 0; i < IN; i++)
        {
            double ba = Enumerable.Range(0, R).Sum(r => b[o * R + r] * a[r * IN + i]);
            Assert.Equal(w[o * IN + i] + scale * ba, merged[o * IN + i], 1e-14);
        }
    }

    [Fact]
    public void gathers_pick_the_indexed_rows_and_columns()
    {
        // src (3,4): src[r,c] = 10 r + c.
        double[] src = Enumerable.Range(0, 12).Select(e => 10.0 * (e / 4) + e % 4).ToArray();
        Assert.Equal([20.0, 21, 22, 23, 0, 1, 2, 3, 20, 21, 22, 23], Ref.GatherRows(src, 3, 4, [2, 0, 2]));
        Assert.Equal([3.0, 1, 13, 11, 23, 21], Ref.GatherCols(src, 3, 4, [3, 1]));
        Assert.Equal([7.0, 5.0], Ref.GatherRows([5.0, 6.0, 7.0], 3, 1, [2, 0])); // 1-D src is (R,1)
        Assert.Throws<ArgumentOutOfRangeException>(() => Ref.GatherRows(src, 3, 4, [3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ref.GatherCols(src, 3, 4, [-1]));
    }

    [Fact]
    public void embedding_forward_picks_table_rows()
    {
        double[] table = [0, 1, 10, 11, 20, 21]; // (V=3, C=2)
        Assert.Equal([20.0, 21, 0, 1, 20, 21], Ref.EmbeddingForward(table, 3, 2, [2, 0, 2]));
        Assert.Equal([0.0, 0, 0, 0, 2, 4], Ref.EmbeddingBackward([1, 2, 0, 0, 1, 2], [2, 0, 2], 3, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ref.EmbeddingForward(table, 3, 2, [3]));
    }
}
