// Ref.Bias.cs — float64 reference of the projection bias (lp_op_bias_add/backward): the biased,
// masked projection is (linear + bias) (.) mask, so the op adds bias (.) mask and its gradient is
// mask (.) the column sums of dy.
namespace LoRAPrune.Reference;

public static partial class Ref
{
    /// <summary>y (N,OUT) + bias (OUT) (.) mask (OUT, null = all ones). Returns the new y (N,OUT).</summary>
    public static double[] BiasAdd(double[] y, int N, int OUT, double[] bias, double[]? mask)
    {
        Need(y, (long)N * OUT, nameof(y));
        Need(bias, OUT, nameof(bias));
        if (mask is not null) Need(mask, OUT, nameof(mask));
        var result = new double[N * OUT]; // (N, OUT)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OUT; o++)
                result[n * OUT + o] = y[n * OUT + o] + bias[o] * (mask?[o] ?? 1.0);
        return result;
    }

    /// <summary>dbias[o] = mask[o] * sum_n dy[n,o]: the contribution to add (OUT).</summary>
    public static double[] BiasBackward(double[] dy, int N, int OUT, double[]? mask)
    {
        Need(dy, (long)N * OUT, nameof(dy));
        if (mask is not null) Need(mask, OUT, nameof(mask));
        var dbias = new double[OUT]; // (OUT)
        for (int o = 0; o < OUT; o++)
        {
            double sum = 0.0;
            for (int n = 0; n < N; n++)
                sum += dy[n * OUT + o];
            dbias[o] = sum * (mask?[o] ?? 1.0);
        }
        return dbias;
    }
}
