// GradientChecks.cs — every backward op of the float64 oracle checked against central finite
// differences of its own forward (probe L = sum(forward .* R), R fixed random), so the oracle the
// conformance suite trusts is itself verified from the math. Tolerance: FiniteDifference.Tolerance.
using LoRAPrune.Reference;
using Xunit;
using Xunit.Abstractions;
using static LoRAPrune.Tests.ReferenceChecks.FiniteDifference;

namespace LoRAPrune.Tests.ReferenceChecks;

public sealed class GradientChecks(ITestOutputHelper output)
{
    [Theory]
    [InlineData(7, 5, 9)]
    [InlineData(1, 3, 4)]
    [InlineData(13, 1, 6)]
    public void embedding_backward(int vocab, int cols, int rows)
    {
        var rng = new Random(11);
        double[] table = Uniform(rng, vocab * cols);
        int[] ids = Enumerable.Range(0, rows).Select(_ => rng.Next(vocab)).ToArray(); // repeats likely
        double[] probe = Uniform(rng, rows * cols);
        double[] dtable = Ref.EmbeddingBackward(probe, ids, vocab, cols);
        AssertGradient(output, "dtable", dtable, t => Probe(Ref.EmbeddingForward(t, vocab, cols, ids), probe), table);
    }

    /// <summary>
    /// With one column y = w x / sqrt(x^2 + eps) is flat (dy/dx = w eps / (x^2 + eps)^1.5), so that case
    /// uses a large eps to keep the gradient O(1) and the finite differences meaningful.
    /// </summary>
    [Theory]
    [InlineData(1, 1, 0.5)]
    [InlineData(5, 13, 1e-5)]
    [InlineData(3, 7, 1e-2)]
    [InlineData(2, 64, 1e-6)]
    public void rmsnorm_backward(int rows, int cols, double eps)
    {
        var rng = new Random(12);
        double[] x = Uniform(rng, rows * cols);
        double[] w = Uniform(rng, cols, 0.5, 1.5);
        double[] probe = Uniform(rng, rows * cols);
        var (dx, dw) = Ref.RmsNormBackward(probe, x, rows, cols, w, eps);
        AssertGradient(output, "dx", dx, xs => Probe(Ref.RmsNormForward(xs, rows, cols, w, eps).y, probe), x);
        AssertGradient(output, "dw", dw, ws => Probe(Ref.RmsNormForward(x, rows, cols, ws, eps).y, probe), w);
    }

    [Theory]
    [InlineData(1, 1, false)]
    [InlineData(5, 7, true)]
    [InlineData(3, 13, false)]
    public void bias_backward(int rows, int cols, bool withMask)
    {
        var rng = new Random(19);
        double[] y = Uniform(rng, rows * cols);
        double[] bias = Uniform(rng, cols);
        double[]? mask = withMask ? Enumerable.Range(0, cols).Select(o => o % 3 == 1 ? 0.0 : 1.0).ToArray() : null;
        double[] probe = Uniform(rng, rows * cols);
        double[] dbias = Ref.BiasBackward(probe, rows, cols, mask);
        AssertGradient(output, "dbias", dbias, bs => Probe(Ref.BiasAdd(y, rows, cols, bs, mask), probe), bias);
    }

    [Theory]
    [InlineData(1, 1, 1, 2, 0L)]
    [InlineData(2, 5, 3, 8, 0L)]
    [InlineData(1, 7, 2, 6, 4093L)]
    [InlineData(1, 3, 4, 64, 100000L)]
    public void rope_backward(int batch, int seq, int heads, int headDim, long posOffset)
    {
        var rng = new Random(13);
        double[] invFreq = Ref.RopeInvFreq(headDim, 10000.0);
        double[] x = Uniform(rng, batch * seq * heads * headDim);
        double[] probe = Uniform(rng, x.Length);
        double[] dx = Ref.RopeBackward(probe, batch, seq, heads, headDim, invFreq, posOffset);
        AssertGradient(output, "dx", dx, xs => Probe(Ref.RopeForward(xs, batch, seq, heads, headDim, invFreq, posOffset), probe), x);
    }

    [Theory]
    [InlineData(1, 1, 4, 2, 3)]
    [InlineData(2, 1, 4, 4, 2)]
    [InlineData(2, 5, 4, 2, 4)]
    [InlineData(1, 7, 4, 4, 5)]
    [InlineData(2, 3, 4, 1, 2)]
    [InlineData(1, 13, 2, 2, 8)]
    public void attention_backward(int batch, int seq, int heads, int kvHeads, int headDim)
    {
        var rng = new Random(14);
        double scale = 1.0 / Math.Sqrt(headDim);
        double[] q = Uniform(rng, batch * seq * heads * headDim, -2.0, 2.0);
        double[] k = Uniform(rng, batch * seq * kvHeads * headDim, -2.0, 2.0);
        double[] v = Uniform(rng, batch * seq * kvHeads * headDim);
        double[] probe = Uniform(rng, q.Length);
        var (dq, dk, dv) = Ref.AttentionBackward(q, k, v, probe, batch, seq, heads, kvHeads, headDim, scale);
        double Loss(double[] qs, double[] ks, double[] vs) =>
            Probe(Ref.AttentionForward(qs, ks, vs, batch, seq, heads, kvHeads, headDim, scale).output, probe);
        AssertGradient(output, "dq", dq, qs => Loss(qs, k, v), q);
        AssertGradient(output, "dk", dk, ks => Loss(q, ks, v), k);
        AssertGradient(output, "dv", dv, vs => Loss(q, k, vs), v);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(5, 13)]
    [InlineData(3, 7)]
    public void swiglu_backward(int rows, int cols)
    {
        var rng = new Random(15);
        double[] gate = Uniform(rng, rows * cols, -4.0, 4.0);
        double[] up = Uniform(rng, rows * cols);
        double[] probe = Uniform(rng, rows * cols);
        var (dgate, dup) = Ref.SwiGluBackward(probe, gate, up);
        AssertGradient(output, "dgate", dgate, gs => Probe(Ref.SwiGluForward(gs, up), probe), gate);
        AssertGradient(output, "dup", dup, us => Probe(Ref.SwiGluForward(gate, us), probe), up);
    }

    [Theory]
    [InlineData(1, 0.2)]
    [InlineData(101, 0.2)]
    [InlineData(64, 0.0)]
    [InlineData(37, 0.5)]
    public void dropout_backward(int count, double dropout)
    {
        float p = (float)dropout;
        const ulong seed = 0xC0FFEE, offset = 5;
        var rng = new Random(16);
        double[] x = Uniform(rng, count);
        double[] probe = Uniform(rng, count);
        double[] dx = Ref.Dropout(probe, p, seed, offset); // the op is its own backward
        AssertGradient(output, "dx", dx, xs => Probe(Ref.Dropout(xs, p, seed, offset), probe), x);
    }

    /// <summary>rank 0 is the plain linear (a and b null).</summary>
    [Theory]
    [InlineData(3, 5, 4, 1, 0.2, true)]
    [InlineData(5, 7, 6, 3, 0.2, true)]
    [InlineData(4, 6, 5, 3, 0.0, false)]
    [InlineData(1, 3, 2, 1, 0.0, false)]
    [InlineData(6, 13, 7, 3, 0.2, false)]
    [InlineData(5, 7, 6, 0, 0.2, true)]
    [InlineData(2, 4, 3, 0, 0.0, false)]
    public void lora_linear_backward(int rows, int inFeatures, int outFeatures, int rank, double dropout, bool maskZeros)
    {
        float p = (float)dropout;
        const double scale = 2.0;
        const ulong seed = 1234, offset = 77;
        var rng = new Random(17);
        double[] x = Uniform(rng, rows * inFeatures);
        double[] w = Uniform(rng, outFeatures * inFeatures);
        double[]? a = rank > 0 ? Uniform(rng, rank * inFeatures) : null;
        double[]? b = rank > 0 ? Uniform(rng, outFeatures * rank) : null;
        double[]? mask = maskZeros ? Enumerable.Range(0, outFeatures).Select(j => j % 3 == 1 ? 0.0 : 1.0).ToArray() : null;
        double[] probe = Uniform(rng, rows * outFeatures);
        var (dx, da, db, dw) = Ref.LoraLinearBackward(probe, x, rows, inFeatures, w, outFeatures, a, b, rank, mask, scale, p, seed, offset);

        double Loss(double[] xs, double[] ws, double[]? As, double[]? Bs) => Probe(
            Ref.LoraLinearForward(xs, rows, inFeatures, ws, outFeatures, As, Bs, rank, mask, scale, p, seed, offset).y, probe);
        AssertGradient(output, "dx", dx, xs => Loss(xs, w, a, b), x);
        AssertGradient(output, "dw", dw, ws => Loss(x, ws, a, b), w);
        if (a is null || b is null)
        {
            Assert.Null(da);
            Assert.Null(db);
            return;
        }
        AssertGradient(output, "da", da!, As => Loss(x, w, As, b), a);
        AssertGradient(output, "db", db!, Bs => Loss(x, w, a, Bs), b);
    }

    /// <summary>ignoredRow -1: no row ignored. The probe is dloss * sum(losses): one dloss for every row, as in lp.h.</summary>
    [Theory]
    [InlineData(4, 7, 2)]
    [InlineData(1, 5, -1)]
    [InlineData(6, 13, 0)]
    public void cross_entropy_backward(int rows, int vocab, int ignoredRow)
    {
        const int ignoreIndex = -100;
        const double dloss = 0.37;
        var rng = new Random(18);
        double[] logits = Uniform(rng, rows * vocab, -3.0, 3.0);
        int[] targets = Enumerable.Range(0, rows).Select(n => n == ignoredRow ? ignoreIndex : rng.Next(vocab)).ToArray();
        double[] probe = Enumerable.Repeat(dloss, rows).ToArray();
        double[] dlogits = Ref.CrossEntropyBackward(logits, rows, vocab, targets, ignoreIndex, dloss);
        AssertGradient(output, "dlogits", dlogits,
            ls => Probe(Ref.CrossEntropyForward(ls, rows, vocab, targets, ignoreIndex).losses, probe), logits);
        if (ignoredRow >= 0)
            Assert.All(dlogits.Skip(ignoredRow * vocab).Take(vocab), g => Assert.Equal(0.0, g));
    }
}
