// Ref.Indexing.cs — float64 reference of the row/column indexing ops of lp.h: the token embedding
// (forward and its scatter-add backward) and the compaction gathers (no backward).
namespace LoRAPrune.Reference;

public static partial class Ref
{
    /// <summary>out[n,:] = table[ids[n],:]. table (V,C), ids (N) in [0,V); returns (N,C).</summary>
    public static double[] EmbeddingForward(double[] table, int V, int C, int[] ids)
    {
        Need(table, (long)V * C, nameof(table));
        ArgumentNullException.ThrowIfNull(ids);
        int N = ids.Length;
        var output = new double[N * C]; // (N, C)
        for (int n = 0; n < N; n++)
        {
            int id = CheckIndex(ids[n], V, nameof(ids));
            Array.Copy(table, id * C, output, n * C, C);
        }
        return output;
    }

    /// <summary>dtable[ids[n],:] += dout[n,:]. Returns the (V,C) contribution to add.</summary>
    public static double[] EmbeddingBackward(double[] dout, int[] ids, int V, int C)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int N = ids.Length;
        Need(dout, (long)N * C, nameof(dout));
        var dtable = new double[V * C]; // (V, C)
        for (int n = 0; n < N; n++)
        {
            int id = CheckIndex(ids[n], V, nameof(ids));
            for (int c = 0; c < C; c++)
                dtable[id * C + c] += dout[n * C + c];
        }
        return dtable;
    }

    /// <summary>dst[k,:] = src[idx[k],:]. src (R,C), idx (K) in [0,R); returns (K,C). A 1-D src is (R,1).</summary>
    public static double[] GatherRows(double[] src, int R, int C, int[] idx)
    {
        Need(src, (long)R * C, nameof(src));
        ArgumentNullException.ThrowIfNull(idx);
        int K = idx.Length;
        var dst = new double[K * C]; // (K, C)
        for (int k = 0; k < K; k++)
        {
            int row = CheckIndex(idx[k], R, nameof(idx));
            for (int c = 0; c < C; c++)
                dst[k * C + c] = src[row * C + c];
        }
        return dst;
    }

    /// <summary>dst[:,k] = src[:,idx[k]]. src (R,C), idx (K) in [0,C); returns (R,K).</summary>
    public static double[] GatherCols(double[] src, int R, int C, int[] idx)
    {
        Need(src, (long)R * C, nameof(src));
        ArgumentNullException.ThrowIfNull(idx);
        int K = idx.Length;
        var dst = new double[R * K]; // (R, K)
        for (int k = 0; k < K; k++)
        {
            int col = CheckIndex(idx[k], C, nameof(idx));
            for (int r = 0; r < R; r++)
                dst[r * K + k] = src[r * C + col];
        }
        return dst;
    }

    static int CheckIndex(int index, int count, string name)
    {
        if (index < 0 || index >= count)
            throw new ArgumentOutOfRangeException(name, index, $"{name}: index {index} outside [0, {count})");
        return index;
    }
}
