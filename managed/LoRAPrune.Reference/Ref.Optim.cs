// Ref.Optim.cs — float64 reference of the optimiser ops of lp.h: AdamW (PyTorch semantics,
// decoupled weight decay, bias correction), the global sum of squares and gradient clipping.
namespace LoRAPrune.Reference;

public static partial class Ref
{
    /// <summary>
    /// One AdamW step at 1-based <paramref name="step"/>, in place on param, m and v:
    ///   p -= lr wd p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
    ///   p -= lr (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps).
    /// </summary>
    public static void AdamWStep(double[] param, double[] grad, double[] m, double[] v, double lr, double beta1,
                                 double beta2, double eps, double weightDecay, long step)
    {
        NeedSameLength(param, grad, nameof(param), nameof(grad));
        NeedSameLength(param, m, nameof(param), nameof(m));
        NeedSameLength(param, v, nameof(param), nameof(v));
        if (step < 1)
            throw new ArgumentOutOfRangeException(nameof(step), step, "step: must be 1-based");
        double correction1 = 1.0 - Math.Pow(beta1, step);
        double correction2 = 1.0 - Math.Pow(beta2, step);
        for (int i = 0; i < param.Length; i++)
        {
            param[i] -= lr * weightDecay * param[i];
            m[i] = beta1 * m[i] + (1.0 - beta1) * grad[i];
            v[i] = beta2 * v[i] + (1.0 - beta2) * grad[i] * grad[i];
            param[i] -= lr * (m[i] / correction1) / (Math.Sqrt(v[i] / correction2) + eps);
        }
    }

    /// <summary>sum_i g_i^2 (lp_op_grad_norm_accumulate's contribution to sumsq).</summary>
    public static double SumSquares(double[] g)
    {
        ArgumentNullException.ThrowIfNull(g);
        double sum = 0.0;
        foreach (double value in g)
            sum += value * value;
        return sum;
    }

    /// <summary>g * min(1, maxNorm / (sqrt(sumsq) + 1e-6)) (PyTorch clip_grad_norm_).</summary>
    public static double[] GradClip(double[] g, double sumsq, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(g);
        double coefficient = Math.Min(1.0, maxNorm / (Math.Sqrt(sumsq) + 1e-6));
        var clipped = new double[g.Length];
        for (int i = 0; i < g.Length; i++)
            clipped[i] = g[i] * coefficient;
        return clipped;
    }
}
