// Ref.Loss.cs — float64 reference of the fused softmax cross-entropy (lp_op_cross_entropy_*):
// per-row loss lse - logits[target], 0 on ignored rows, its gradient softmax - onehot, and both at once.
namespace LoRAPrune.Reference;

public static partial class Ref
{
    /// <summary>
    /// logits (N,V), targets (N). Returns losses (N) = lse - logits[n, target] (0 where target ==
    /// ignoreIndex) and lse (N), the log-sum-exp of every row (ignored rows included).
    /// </summary>
    public static (double[] losses, double[] lse) CrossEntropyForward(double[] logits, int N, int V, int[] targets, int ignoreIndex)
    {
        Need(logits, (long)N * V, nameof(logits));
        Need(targets, N, nameof(targets));
        var losses = new double[N]; // (N)
        var lse = new double[N];    // (N)
        for (int n = 0; n < N; n++)
        {
            lse[n] = RowLogSumExp(logits, n, V);
            if (targets[n] != ignoreIndex)
                losses[n] = lse[n] - logits[n * V + CheckIndex(targets[n], V, nameof(targets))];
        }
        return (losses, lse);
    }

    /// <summary>dlogits[n,:] = dloss * (softmax(logits[n,:]) - onehot(target[n])), zero rows where ignored. (N,V)</summary>
    public static double[] CrossEntropyBackward(double[] logits, int N, int V, int[] targets, int ignoreIndex, double dloss)
    {
        Need(logits, (long)N * V, nameof(logits));
        Need(targets, N, nameof(targets));
        var dlogits = new double[N * V]; // (N, V)
        for (int n = 0; n < N; n++)
        {
            if (targets[n] == ignoreIndex)
                continue;
            int target = CheckIndex(targets[n], V, nameof(targets));
            double lse = RowLogSumExp(logits, n, V);
            for (int j = 0; j < V; j++)
                dlogits[n * V + j] = dloss * (Math.Exp(logits[n * V + j] - lse) - (j == target ? 1.0 : 0.0));
        }
        return dlogits;
    }

    /// <summary>lp_op_cross_entropy_forward_backward: <see cref="CrossEntropyForward"/> and <see cref="CrossEntropyBackward"/> of the same logits.</summary>
    public static (double[] losses, double[] lse, double[] dlogits) CrossEntropyForwardBackward(double[] logits, int N, int V, int[] targets, int ignoreIndex, double dloss)
    {
        var (losses, lse) = CrossEntropyForward(logits, N, V, targets, ignoreIndex);
        return (losses, lse, CrossEntropyBackward(logits, N, V, targets, ignoreIndex, dloss));
    }

    static double RowLogSumExp(double[] x, int n, int V)
    {
        double max = double.NegativeInfinity;
        for (int j = 0; j < V; j++)
            max = Math.Max(max, x[n * V + j]);
        double sum = 0.0;
        for (int j = 0; j < V; j++)
            sum += Math.Exp(x[n * V + j] - max);
        return max + Math.Log(sum);
    }
}
