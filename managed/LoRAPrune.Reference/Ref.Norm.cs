// Ref.Norm.cs — float64 reference of RMSNorm (lp_op_rmsnorm_forward/backward):
// y = x * rstd * w with rstd = 1/sqrt(mean(x^2) + eps) per row, and its gradients derived by hand.
namespace LoRAPrune.Reference;

public static partial class Ref
{
    /// <summary>x (N,C), w (C). Returns y (N,C) and rstd (N).</summary>
    public static (double[] y, double[] rstd) RmsNormForward(double[] x, int N, int C, double[] w, double eps)
    {
        Need(x, (long)N * C, nameof(x));
        Need(w, C, nameof(w));
        var y = new double[N * C]; // (N, C)
        var rstd = new double[N];  // (N)
        for (int n = 0; n < N; n++)
        {
            rstd[n] = RowRstd(x, n, C, eps);
            for (int c = 0; c < C; c++)
                y[n * C + c] = x[n * C + c] * rstd[n] * w[c];
        }
        return (y, rstd);
    }

    /// <summary>
    /// With r = rstd of the row (recomputed from x) and dr/dx_k = -r^3 x_k / C:
    ///   dx_k = r w_k dy_k - (r^3 / C) x_k sum_j(dy_j w_j x_j)        (N,C)
    ///   dw_k = sum_n dy_k x_k r                                          (C), contribution to add
    /// </summary>
    public static (double[] dx, double[] dw) RmsNormBackward(double[] dy, double[] x, int N, int C, double[] w, double eps)
    {
        Need(dy, (long)N * C, nameof(dy));
        Need(x, (long)N * C, nameof(x));
        Need(w, C, nameof(w));
        var dx = new double[N * C]; // (N, C)
        var dw = new double[C];     // (C)
        for (int n = 0; n < N; n++)
        {
            double r = RowRstd(x, n, C, eps);
            double dot = 0.0; // sum_j dy_j w_j x_j
            for (int c = 0; c < C; c++)
                dot += dy[n * C + c] * w[c] * x[n * C + c];
            for (int c = 0; c < C; c++)
            {
                dx[n * C + c] = r * w[c] * dy[n * C + c] - r * r * r / C * x[n * C + c] * dot;
                dw[c] += dy[n * C + c] * x[n * C + c] * r;
            }
        }
        return (dx, dw);
    }

    static double RowRstd(double[] x, int n, int C, double eps)
    {
        double sumSquares = 0.0;
        for (int c = 0; c < C; c++)
            sumSquares += x[n * C + c] * x[n * C + c];
        return 1.0 / Math.Sqrt(sumSquares / C + eps);
    }
}
