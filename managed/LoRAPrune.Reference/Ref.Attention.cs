// Ref.Attention.cs — float64 reference of causal grouped-query attention (lp_op_attention_*):
// an explicit (T,T) score matrix per (batch, query head), with query head h reading key/value head
// h / (H/KVH), and its backward derived from the softmax Jacobian.
using MathNet.Numerics.LinearAlgebra;

namespace LoRAPrune.Reference;

public static partial class Ref
{
    /// <summary>
    /// S = scale Q K^T (keys at positions &lt;= the query's), P = softmax(S), O = P V, per (b, h).
    /// q (B,T,H,D), k and v (B,T,KVH,D). Returns out (B,T,H,D) and lse (B,H,T), the row log-sum-exp of S.
    /// </summary>
    public static (double[] output, double[] lse) AttentionForward(
        double[] q, double[] k, double[] v, int B, int T, int H, int KVH, int D, double scale)
    {
        CheckAttentionShapes(q, k, v, B, T, H, KVH, D);
        var output = new double[q.Length]; // (B, T, H, D)
        var lse = new double[B * H * T];   // (B, H, T)
        for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
        {
            int kvh = KvHead(h, H, KVH);
            Matrix<double> Q = Head(q, b, h, T, H, D);     // (T, D)
            Matrix<double> K = Head(k, b, kvh, T, KVH, D); // (T, D)
            Matrix<double> V = Head(v, b, kvh, T, KVH, D); // (T, D)
            Matrix<double> S = scale * (Q * K.Transpose()); // (T, T)
            for (int t = 0; t < T; t++)
                lse[(b * H + h) * T + t] = CausalLogSumExp(S, t);
            StoreHead(output, CausalSoftmax(S) * V, b, h, T, H, D);
        }
        return (output, lse);
    }

    /// <summary>
    /// With P the causal softmax of S = scale Q K^T and dO = dout of the (b, h) slice:
    ///   dV = P^T dO,  dP = dO V^T,  dS = P (.) (dP - rowsum(dP (.) P)),
    ///   dQ = scale dS K,  dK = scale dS^T Q.
    /// dk/dv sum over the H/KVH query heads sharing a key/value head. Returns dq (B,T,H,D), dk, dv (B,T,KVH,D).
    /// </summary>
    public static (double[] dq, double[] dk, double[] dv) AttentionBackward(
        double[] q, double[] k, double[] v, double[] dout, int B, int T, int H, int KVH, int D, double scale)
    {
        CheckAttentionShapes(q, k, v, B, T, H, KVH, D);
        Need(dout, q.Length, nameof(dout));
        var dq = new double[q.Length]; // (B, T, H, D)
        var dk = new double[k.Length]; // (B, T, KVH, D)
        var dv = new double[v.Length]; // (B, T, KVH, D)
        for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
        {
            int kvh = KvHead(h, H, KVH);
            Matrix<double> Q = Head(q, b, h, T, H, D);       // (T, D)
            Matrix<double> K = Head(k, b, kvh, T, KVH, D);   // (T, D)
            Matrix<double> V = Head(v, b, kvh, T, KVH, D);   // (T, D)
            Matrix<double> dO = Head(dout, b, h, T, H, D);   // (T, D)
            Matrix<double> P = CausalSoftmax(scale * (Q * K.Transpose())); // (T, T)
            Matrix<double> dP = dO * V.Transpose();          // (T, T)
            Vector<double> rowDot = P.PointwiseMultiply(dP).RowSums(); // (T)
            Matrix<double> dS = Matrix<double>.Build.Dense(T, T, (i, j) => P[i, j] * (dP[i, j] - rowDot[i]));
            StoreHead(dq, scale * (dS * K), b, h, T, H, D);
            AccumulateHead(dk, scale * (dS.Transpose() * Q), b, kvh, T, KVH, D);
            AccumulateHead(dv, P.Transpose() * dO, b, kvh, T, KVH, D);
        }
        return (dq, dk, dv);
    }

    static int KvHead(int h, int H, int KVH) => h / (H / KVH);

    static void CheckAttentionShapes(double[] q, double[] k, double[] v, int B, int T, int H, int KVH, int D)
    {
        if (KVH <= 0 || H % KVH != 0)
            throw new ArgumentException($"KVH: {KVH} does not divide H = {H}", nameof(KVH));
        Need(q, (long)B * T * H * D, nameof(q));
        Need(k, (long)B * T * KVH * D, nameof(k));
        Need(v, (long)B * T * KVH * D, nameof(v));
    }

    /// <summary>log sum_{j &lt;= t} exp(S[t,j]), shifted by the row maximum.</summary>
    static double CausalLogSumExp(Matrix<double> S, int t)
    {
        double max = double.NegativeInfinity;
        for (int j = 0; j <= t; j++)
            max = Math.Max(max, S[t, j]);
        double sum = 0.0;
        for (int j = 0; j <= t; j++)
            sum += Math.Exp(S[t, j] - max);
        return max + Math.Log(sum);
    }

    /// <summary>P[t,j] = exp(S[t,j] - lse_t) for j &lt;= t, 0 above the diagonal.</summary>
    static Matrix<double> CausalSoftmax(Matrix<double> S)
    {
        int T = S.RowCount;
        var P = Matrix<double>.Build.Dense(T, T); // (T, T)
        for (int t = 0; t < T; t++)
        {
            double lse = CausalLogSumExp(S, t);
            for (int j = 0; j <= t; j++)
                P[t, j] = Math.Exp(S[t, j] - lse);
        }
        return P;
    }

    /// <summary>The (T,D) slice of head h of batch b from a (B,T,NH,D) tensor.</summary>
    static Matrix<double> Head(double[] x, int b, int h, int T, int NH, int D)
        => Matrix<double>.Build.Dense(T, D, (t, d) => x[((b * T + t) * NH + h) * D + d]);

    static void StoreHead(double[] x, Matrix<double> m, int b, int h, int T, int NH, int D)
    {
        for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++)
            x[((b * T + t) * NH + h) * D + d] = m[t, d];
    }

    static void AccumulateHead(double[] x, Matrix<double> m, int b, int h, int T, int NH, int D)
    {
        for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++)
            x[((b * T + t) * NH + h) * D + d] += m[t, d];
    }
}
