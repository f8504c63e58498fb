// LossOptimChecks.cs — independent checks of the oracle's cross-entropy, AdamW, global norm and
// clipping: closed-form values (log V for uniform logits, lr*sign(g) for Adam's first step,
// the clipped norm) rather than re-derivations of the same code.
using LoRAPrune.Reference;
using Xunit;

namespace LoRAPrune.Tests.ReferenceChecks;

public sealed class LossOptimChecks
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(32000)]
    public void cross_entropy_of_uniform_logits_is_log_vocab(int vocab)
    {
        const int N = 3;
        double[] logits = Enumerable.Repeat(0.25, N * vocab).ToArray();
        var (losses, lse) = Ref.CrossEntropyForward(logits, N, vocab, [0, vocab - 1, -100], ignoreIndex: -100);
        Assert.Equal(Math.Log(vocab), losses[0], 1e-12);
        Assert.Equal(Math.Log(vocab), losses[1], 1e-12);
        Assert.Equal(0.0, losses[2]);
        Assert.All(lse, value => Assert.Equal(0.25 + Math.Log(vocab), value, 1e-12));
    }

    [Fact]
    public void cross_entropy_is_stable_for_large_logits()
    {
        var (losses, _) = Ref.CrossEntropyForward([1000.0, 0.0], 1, 2, [1], ignoreIndex: -1);
        Assert.Equal(1000.0, losses[0], 1e-9);
        double[] dlogits = Ref.CrossEntropyBackward([1000.0, 0.0], 1, 2, [1], -1, dloss: 1.0);
        Assert.Equal([1.0, -1.0], dlogits);
        Assert.Throws<ArgumentOutOfRangeException>(() => Ref.CrossEntropyForward([0.0, 0.0], 1, 2, [2], ignoreIndex: -1));
    }

    [Fact]
    public void adamw_first_step_moves_each_param_by_lr_sign_g()
    {
        // Step 1: m/(1-b1) = g and v/(1-b2) = g^2, so the update is lr * g / (|g| + eps) ~ lr * sign(g).
        const double lr = 1e-3, eps = 1e-12;
        double[] param = [0.5, -0.25, 2.0, 0.0];
        double[] grad = [3.0, -0.01, 1e-4, -7.0];
        double[] before = (double[])param.Clone();
        double[] m = new double[4], v = new double[4];
        Ref.AdamWStep(param, grad, m, v, lr, 0.9, 0.999, eps, weightDecay: 0.0, step: 1);
        for (int i = 0; i < param.Length; i++)
        {
            Assert.Equal(before[i] - lr * Math.Sign(grad[i]), param[i], 1e-10);
            Assert.Equal(0.1 * grad[i], m[i], 1e-15);
            Assert.Equal(0.001 * grad[i] * grad[i], v[i], 1e-15);
        }
    }

    [Fact]
    public void adamw_weight_decay_is_decoupled()
    {
        // Zero gradient: m = v = 0, the Adam term is 0/(0+eps) = 0, and only p *= 1 - lr*wd remains.
        double[] param = [1.0, -2.0];
        Ref.AdamWStep(param, [0.0, 0.0], new double[2], new double[2], lr: 0.1, 0.9, 0.999, 1e-8, weightDecay: 0.5, step: 3);
        Assert.Equal(0.95, param[0], 1e-15);
        Assert.Equal(-1.9, param[1], 1e-15);
    }

    [Fact]
    public void adamw_bias_correction_uses_the_step()
    {
        // Constant gradient g from zero state: after any number of steps the corrected moments are g
        // and g^2, so every step moves by lr * g / (|g| + eps).
        double[] param = [0.0];
        double[] m = new double[1], v = new double[1];
        for (long step = 1; step <= 5; step++)
            Ref.AdamWStep(param, [2.0], m, v, lr: 0.01, 0.9, 0.99, 0.0, 0.0, step);
        Assert.Equal(-0.05, param[0], 1e-14);
    }

    [Fact]
    public void grad_clip_scales_to_max_norm()
    {
        double[] g = [3.0, 4.0];
        double sumsq = Ref.SumSquares(g);
        Assert.Equal(25.0, sumsq);
        double[] clipped = Ref.GradClip(g, sumsq, maxNorm: 1.0);
        Assert.Equal(5.0 / (5.0 + 1e-6), Math.Sqrt(Ref.SumSquares(clipped)), 1e-15);
        Assert.Equal(g, Ref.GradClip(g, sumsq, maxNorm: 10.0));
    }

    [Fact]
    public void add_and_axpy()
    {
        Assert.Equal([4.0, 6.0], Ref.Add([1.0, 2.0], [3.0, 4.0]));
        Assert.Equal([1.5, 3.0], Ref.Axpy(0.5, [1.0, 2.0], [1.0, 2.0]));
    }
}
