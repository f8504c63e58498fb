// KernelCases.Layers.cs — the model-layer ops of one LoRAPrune step: causal GQA attention, RMSNorm,
// RoPE, SwiGLU, embedding and the fused cross-entropy, forward and backward, each with its
// bytes/FLOPs formula and a float64 spot check written out here.
using LoRAPrune.Native;

namespace LoRAPrune.Core.Bench;

public static partial class KernelCases
{
    private const float RmsEps = 1e-5f;
    private const float RopeTheta = 10000f;
    private const int IgnoreIndex = -100;

    public static KernelCase AttentionForward(BenchShapes s)
    {
        var d = new AttentionData(s);
        long b = s.B, t = s.T, h = s.H, kvh = s.KVH, hd = s.D;
        return new KernelCase("attention_fwd", "causal GQA", $"q{Dims(b, t, h, hd)} k,v{Dims(b, t, kvh, hd)} -> out, lse{Dims(b, h, t)}",
            // bytes: read q (B*T*H*D), k and v (2*B*T*KVH*D); write out (B*T*H*D) and lse (B*H*T)
            Bytes: 4.0 * (2 * b * t * h * hd + 2 * b * t * kvh * hd + b * h * t),
            // flops: over the T(T+1)/2 causal (query, key) pairs of each (batch, head): Q K^T 2D + P V 2D
            //        + softmax ~4 per pair -> 2*B*H*T(T+1)*(D+1)
            Flops: 2.0 * b * h * t * (t + 1) * (hd + 1),
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                (Tensor q, Tensor k, Tensor v) = d.Upload(inst);
                Tensor output = inst.Zeros(b, t, h, hd), lse = inst.Zeros(b, h, t);
                inst.Launch = () => inst.Context.AttentionForward(q, k, v, d.Scale, output, lse);
                inst.Output("out", output);
                inst.Output("lse", lse);
            },
            (outputs, rng) =>
                Sample(outputs, "out", rng, e =>
                {
                    (int bi, int ti, int hi, int di) = d.Split(e, s.H);
                    (double[] p, _) = d.Row(bi, hi, ti);
                    double sum = 0;
                    for (int j = 0; j <= ti; j++) sum += p[j] * d.V[d.KvIndex(bi, j, hi, di)];
                    return sum;
                })
                .Concat(Sample(outputs, "lse", rng, e =>
                {
                    int ti = (int)(e % t), hi = (int)(e / t % h), bi = (int)(e / t / h);
                    return d.Row(bi, hi, ti).Lse;
                })));
    }

    public static KernelCase AttentionBackward(BenchShapes s)
    {
        var d = new AttentionData(s);
        long b = s.B, t = s.T, h = s.H, kvh = s.KVH, hd = s.D;
        float[] dout = HostData.Uniform(134, b * t * h * hd);     // (B, T, H, D)
        int group = s.H / s.KVH;
        return new KernelCase("attention_bwd", "causal GQA", $"dout{Dims(b, t, h, hd)} -> dq{Dims(b, t, h, hd)} dk,dv{Dims(b, t, kvh, hd)}",
            // bytes: read q, out, dout (3*B*T*H*D), k, v (2*B*T*KVH*D), lse (B*H*T); write dq (B*T*H*D), dk, dv (2*B*T*KVH*D)
            Bytes: 4.0 * (4 * b * t * h * hd + 4 * b * t * kvh * hd + b * h * t),
            // flops: per causal pair 5 products of 2D (S = Q K^T recomputed, dP = dO V^T, dV += P^T dO, dQ = dS K,
            //        dK += dS^T Q) + ~6 for P and dS -> B*H*T(T+1)*(5D+3)
            Flops: 1.0 * b * h * t * (t + 1) * (5 * hd + 3),
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                (Tensor q, Tensor k, Tensor v) = d.Upload(inst);
                Tensor output = inst.Zeros(b, t, h, hd), lse = inst.Zeros(b, h, t), tdout = inst.F32(dout, b, t, h, hd);
                Tensor dq = inst.Zeros(b, t, h, hd), dk = inst.Zeros(b, t, kvh, hd), dv = inst.Zeros(b, t, kvh, hd);
                inst.Context.AttentionForward(q, k, v, d.Scale, output, lse);
                inst.Launch = () => inst.Context.AttentionBackward(q, k, v, output, lse, tdout, d.Scale, dq, dk, dv);
                inst.Output("dq", dq);
                inst.Output("dk", dk);
                inst.Output("dv", dv);
            },
            (outputs, rng) =>
                Sample(outputs, "dq", rng, e =>
                {
                    (int bi, int ti, int hi, int di) = d.Split(e, s.H);
                    (double[] p, double[] dp, double delta) = d.RowGrad(bi, hi, ti, dout);
                    double sum = 0;
                    for (int j = 0; j <= ti; j++) sum += p[j] * (dp[j] - delta) * d.K[d.KvIndex(bi, j, hi, di)];
                    return d.Scale * sum;
                })
                .Concat(Sample(outputs, "dk", rng, e =>
                {
                    (int bi, int si, int kv, int di) = d.Split(e, s.KVH);
                    double sum = 0;
                    for (int hi = kv * group; hi < (kv + 1) * group; hi++)
                        for (int ti = si; ti < s.T; ti++)
                        {
                            (double[] p, double[] dp, double delta) = d.RowGrad(bi, hi, ti, dout);
                            sum += p[si] * (dp[si] - delta) * d.Q[d.QIndex(bi, ti, hi, di)];
                        }
                    return d.Scale * sum;
                }))
                .Concat(Sample(outputs, "dv", rng, e =>
                {
                    (int bi, int si, int kv, int di) = d.Split(e, s.KVH);
                    double sum = 0;
                    for (int hi = kv * group; hi < (kv + 1) * group; hi++)
                        for (int ti = si; ti < s.T; ti++) sum += d.Row(bi, hi, ti).P[si] * dout[d.QIndex(bi, ti, hi, di)];
                    return sum;
                })));
    }

    public static KernelCase RmsNormForward(BenchShapes s)
    {
        long n = s.N, c = s.C;
        float[] x = HostData.Uniform(141, n * c), w = HostData.Uniform(142, c, 0.5f, 1.5f);
        return new KernelCase("rmsnorm_fwd", "", $"x{Dims(n, c)} w{Dims(c)} -> y{Dims(n, c)} rstd{Dims(n)}",
            // bytes: read x (N*C) and weight (C); write y (N*C) and rstd (N)
            Bytes: 4.0 * (2 * n * c + c + n),
            // flops: square and add (2), then x * rstd * w (2) per element
            Flops: 4.0 * n * c,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor tx = inst.F32(x, n, c), tw = inst.F32(w, c), y = inst.Zeros(n, c), rstd = inst.Zeros(n);
                inst.Launch = () => inst.Context.RmsNormForward(tx, tw, RmsEps, y, rstd);
                inst.Output("y", y);
                inst.Output("rstd", rstd);
            },
            (outputs, rng) =>
                Sample(outputs, "y", rng, e => x[e] * Rstd(x, e / c, c) * w[e % c])
                .Concat(Sample(outputs, "rstd", rng, row => Rstd(x, row, c))));
    }

    public static KernelCase RmsNormBackward(BenchShapes s)
    {
        long n = s.N, c = s.C;
        float[] x = HostData.Uniform(141, n * c), w = HostData.Uniform(142, c, 0.5f, 1.5f);
        float[] dy = HostData.Uniform(143, n * c), dw0 = HostData.Uniform(144, c, -0.1f, 0.1f);
        return new KernelCase("rmsnorm_bwd", "", $"dy, x{Dims(n, c)} -> dx{Dims(n, c)} dw{Dims(c)}",
            // bytes: read dy and x (2*N*C), weight (C), rstd (N); write dx (N*C); read and write dweight (2*C)
            Bytes: 4.0 * (3 * n * c + 3 * c + n),
            // flops per element: dy*w, *x, row sum (3) + dx = rstd*dy*w - x*k (3) + dweight += dy*x*rstd (3)
            Flops: 9.0 * n * c,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor tx = inst.F32(x, n, c), tw = inst.F32(w, c), tdy = inst.F32(dy, n, c), y = inst.Zeros(n, c), rstd = inst.Zeros(n);
                Tensor dx = inst.Zeros(n, c), dw = inst.F32(dw0, c);
                inst.Context.RmsNormForward(tx, tw, RmsEps, y, rstd);
                inst.Launch = () => inst.Context.RmsNormBackward(tdy, tx, tw, rstd, dx, dw);
                inst.Output("dx", dx);
                inst.Output("dweight", dw);
            },
            (outputs, rng) =>
                Sample(outputs, "dx", rng, e =>
                {
                    long row = e / c;
                    double r = Rstd(x, row, c), dot = 0;
                    for (long j = 0; j < c; j++) dot += (double)dy[row * c + j] * w[j] * x[row * c + j];
                    return r * w[e % c] * dy[e] - x[e] * r * r * r / c * dot;
                })
                .Concat(Sample(outputs, "dweight", rng, col =>
                {
                    double sum = dw0[col];
                    for (long row = 0; row < n; row++) sum += (double)dy[row * c + col] * x[row * c + col] * Rstd(x, row, c);
                    return sum;
                })));
    }

    public static KernelCase RopeForward(BenchShapes s) => Rope(s, forward: true);

    public static KernelCase RopeBackward(BenchShapes s) => Rope(s, forward: false);

    public static KernelCase SwiGluForward(BenchShapes s)
    {
        long n = s.N, f = s.F;
        float[] gate = HostData.Uniform(151, n * f, -4f, 4f), up = HostData.Uniform(152, n * f);
        return new KernelCase("swiglu_fwd", "", $"gate, up{Dims(n, f)} -> out{Dims(n, f)}",
            // bytes: read gate and up, write out (3*N*F)
            Bytes: 4.0 * 3 * n * f,
            // flops per element: exp, add, divide (silu), two multiplies -> 5 (exp counted as one)
            Flops: 5.0 * n * f,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor tg = inst.F32(gate, n, f), tu = inst.F32(up, n, f), output = inst.Zeros(n, f);
                inst.Launch = () => inst.Context.SwiGluForward(tg, tu, output);
                inst.Output("out", output);
            },
            (outputs, rng) => Sample(outputs, "out", rng, e => gate[e] * Sigmoid(gate[e]) * up[e]));
    }

    public static KernelCase SwiGluBackward(BenchShapes s)
    {
        long n = s.N, f = s.F;
        float[] gate = HostData.Uniform(151, n * f, -4f, 4f), up = HostData.Uniform(152, n * f), dout = HostData.Uniform(153, n * f);
        return new KernelCase("swiglu_bwd", "", $"dout, gate, up{Dims(n, f)} -> dgate, dup{Dims(n, f)}",
            // bytes: read dout, gate, up; write dgate, dup (5*N*F)
            Bytes: 4.0 * 5 * n * f,
            // flops per element: sigmoid 3, silu 1, dup 1, dgate = dout*up*sig*(1+g*(1-sig)) 5 -> 10
            Flops: 10.0 * n * f,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor tg = inst.F32(gate, n, f), tu = inst.F32(up, n, f), td = inst.F32(dout, n, f);
                Tensor dgate = inst.Zeros(n, f), dup = inst.Zeros(n, f);
                inst.Launch = () => inst.Context.SwiGluBackward(td, tg, tu, dgate, dup);
                inst.Output("dgate", dgate);
                inst.Output("dup", dup);
            },
            (outputs, rng) =>
                Sample(outputs, "dgate", rng, e =>
                {
                    double sig = Sigmoid(gate[e]);
                    return (double)dout[e] * up[e] * sig * (1 + gate[e] * (1 - sig));
                })
                .Concat(Sample(outputs, "dup", rng, e => (double)dout[e] * gate[e] * Sigmoid(gate[e]))));
    }

    public static KernelCase EmbeddingForward(BenchShapes s)
    {
        long n = s.N, c = s.C, v = s.V;
        float[] table = HostData.Uniform(161, v * c);
        int[] ids = HostData.Indices(162, n, s.V);
        return new KernelCase("embedding_fwd", "f32 table", $"table{Dims(v, c)} ids{Dims(n)} -> out{Dims(n, c)}",
            // bytes: read ids (N) and the N gathered rows (N*C), write out (N*C)
            Bytes: 4.0 * (n + 2 * n * c),
            // flops: none (a gather)
            Flops: 0,
            ComputeRoof.None, Tolerance.Exact,
            inst =>
            {
                Tensor tt = inst.F32(table, v, c), ti = inst.I32(ids, n), output = inst.Zeros(n, c);
                inst.Launch = () => inst.Context.EmbeddingForward(tt, ti, output);
                inst.Output("out", output);
            },
            (outputs, rng) => Sample(outputs, "out", rng, e => table[ids[e / c] * c + e % c]));
    }

    public static KernelCase EmbeddingBackward(BenchShapes s)
    {
        long n = s.N, c = s.C, v = s.V;
        int[] ids = HostData.Indices(162, n, s.V);
        float[] dout = HostData.Uniform(163, n * c);
        return new KernelCase("embedding_bwd", "", $"dout{Dims(n, c)} ids{Dims(n)} -> dtable{Dims(v, c)} +=",
            // bytes: read ids (N) and dout (N*C); read and write the N touched rows of dtable (2*N*C)
            Bytes: 4.0 * (n + 3 * n * c),
            // flops: one add per dout element
            Flops: 1.0 * n * c,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor td = inst.F32(dout, n, c), ti = inst.I32(ids, n), dtable = inst.Zeros(v, c);
                inst.Launch = () => inst.Context.EmbeddingBackward(td, ti, dtable);
                inst.Output("dtable", dtable);
            },
            (outputs, rng) => TouchedRows(outputs["dtable"], rng, ids, c, (row, col) =>
            {
                double sum = 0;
                for (long k = 0; k < n; k++)
                    if (ids[k] == row) sum += dout[k * c + col];
                return sum;
            }));
    }

    public static KernelCase CrossEntropyForward(BenchShapes s)
    {
        long n = s.N, v = s.V;
        float[] logits = HostData.Uniform(171, n * v, -4f, 4f);
        int[] targets = Targets(s);
        return new KernelCase("cross_entropy_fwd", "", $"logits{Dims(n, v)} -> losses, lse{Dims(n)}",
            // bytes: read logits (N*V) and targets (N); write losses and lse (2*N)
            Bytes: 4.0 * (n * v + 3 * n),
            // flops per logit: max, subtract, exp, add -> 4 (exp counted as one)
            Flops: 4.0 * n * v,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor tl = inst.F32(logits, n, v), tt = inst.I32(targets, n), losses = inst.Zeros(n), lse = inst.Zeros(n);
                inst.Launch = () => inst.Context.CrossEntropyForward(tl, tt, IgnoreIndex, losses, lse);
                inst.Output("losses", losses);
                inst.Output("lse", lse);
            },
            (outputs, rng) =>
                Sample(outputs, "losses", rng, row => targets[row] == IgnoreIndex ? 0 : LogSumExp(logits, row, v) - logits[row * v + targets[row]])
                .Concat(Sample(outputs, "lse", rng, row => LogSumExp(logits, row, v))));
    }

    public static KernelCase CrossEntropyBackward(BenchShapes s)
    {
        long n = s.N, v = s.V;
        float[] logits = HostData.Uniform(171, n * v, -4f, 4f);
        int[] targets = Targets(s);
        float dloss = 1f / targets.Count(id => id != IgnoreIndex);
        return new KernelCase("cross_entropy_bwd", "", $"logits{Dims(n, v)} lse{Dims(n)} -> dlogits{Dims(n, v)}",
            // bytes: read logits (N*V), targets and lse (2*N); write dlogits (N*V)
            Bytes: 4.0 * (2 * n * v + 2 * n),
            // flops per logit: subtract, exp, subtract the one-hot, scale -> 4
            Flops: 4.0 * n * v,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor tl = inst.F32(logits, n, v), tt = inst.I32(targets, n), losses = inst.Zeros(n), lse = inst.Zeros(n), dlogits = inst.Zeros(n, v);
                inst.Context.CrossEntropyForward(tl, tt, IgnoreIndex, losses, lse);
                inst.Launch = () => inst.Context.CrossEntropyBackward(tl, tt, lse, IgnoreIndex, dloss, dlogits);
                inst.Output("dlogits", dlogits);
            },
            (outputs, rng) => Sample(outputs, "dlogits", rng, e =>
            {
                long row = e / v, col = e % v;
                if (targets[row] == IgnoreIndex) return 0;
                double p = Math.Exp(logits[e] - LogSumExp(logits, row, v));
                return dloss * (p - (col == targets[row] ? 1 : 0));
            }));
    }

    private static KernelCase Rope(BenchShapes s, bool forward)
    {
        long b = s.B, t = s.T, h = s.H, hd = s.D, half = hd / 2;
        float[] x = HostData.Uniform(forward ? 181UL : 182UL, b * t * h * hd);    // (B, T, H, D) queries or their gradient
        return new KernelCase(forward ? "rope_fwd" : "rope_bwd", "", $"{(forward ? "x" : "dy")}{Dims(b, t, h, hd)} theta {RopeTheta}",
            // bytes: read x and write y (2*B*T*H*D)
            Bytes: 4.0 * 2 * b * t * h * hd,
            // flops per element: two multiplies and an add (cos/sin not counted)
            Flops: 3.0 * b * t * h * hd,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor tx = inst.F32(x, b, t, h, hd), y = inst.Zeros(b, t, h, hd);
                inst.Launch = forward
                    ? () => inst.Context.RopeForward(tx, y, invFreq: null, RopeTheta, posOffset: 0)
                    : () => inst.Context.RopeBackward(tx, y, invFreq: null, RopeTheta, posOffset: 0);
                inst.Output(forward ? "y" : "dx", y);
            },
            (outputs, rng) => Sample(outputs, forward ? "y" : "dx", rng, e =>
            {
                long di = e % hd, pos = e / hd / h % t, i = di % half;
                float invFreq = 1.0f / MathF.Pow(RopeTheta, (float)(2 * i) / hd);   // Hugging Face builds inv_freq in f32
                float angle = pos * invFreq;                                          // and the angle in f32
                double cos = Math.Cos(angle), sin = Math.Sin(angle);
                long pair = di < half ? e + half : e - half;
                double sign = (di < half) == forward ? -1 : 1;                        // rotate by +angle forward, -angle backward
                return x[e] * cos + sign * x[pair] * sin;
            }));
    }

    // Targets in [0, V) with every 17th token ignored (padding), as a data loader produces them.
    private static int[] Targets(BenchShapes s)
    {
        int[] targets = HostData.Indices(172, s.N, s.V);
        for (int k = 5; k < targets.Length; k += 17) targets[k] = IgnoreIndex;
        return targets;
    }

    // Samples elements of (+=)-accumulated rows that some id touched (the others stay zero on every backend).
    private static IEnumerable<SpotSample> TouchedRows(float[] got, Random rng, int[] ids, long c, Func<long, long, double> expected)
    {
        for (int k = 0; k < SamplesPerOutput; k++)
        {
            long row = ids[rng.Next(ids.Length)], col = rng.NextInt64(c);
            yield return new SpotSample("dtable", row * c + col, got[row * c + col], expected(row, col));
        }
    }

    private static double Rstd(float[] x, long row, long c)
    {
        double sum = 0;
        for (long j = 0; j < c; j++) sum += (double)x[row * c + j] * x[row * c + j];
        return 1.0 / Math.Sqrt(sum / c + RmsEps);
    }

    private static double Sigmoid(double g) => 1.0 / (1.0 + Math.Exp(-g));

    private static double LogSumExp(float[] logits, long row, long v)
    {
        double max = double.NegativeInfinity, sum = 0;
        for (long j = 0; j < v; j++) max = Math.Max(max, logits[row * v + j]);
        for (long j = 0; j < v; j++) sum += Math.Exp(logits[row * v + j] - max);
        return max + Math.Log(sum);
    }

    // Host q, k, v of the attention cases and the float64 rows of softmax(scale Q K^T) the spot checks use.
    private sealed class AttentionData
    {
        private readonly BenchShapes _s;

        public AttentionData(BenchShapes s)
        {
            _s = s;
            Scale = 1f / MathF.Sqrt(s.D);
            Q = HostData.Uniform(131, (long)s.B * s.T * s.H * s.D);
            K = HostData.Uniform(132, (long)s.B * s.T * s.KVH * s.D);
            V = HostData.Uniform(133, (long)s.B * s.T * s.KVH * s.D);
        }

        public float Scale { get; }
        public float[] Q { get; }   // (B, T, H, D)
        public float[] K { get; }   // (B, T, KVH, D)
        public float[] V { get; }   // (B, T, KVH, D)

        public (Tensor Q, Tensor K, Tensor V) Upload(KernelInstance inst) => (
            inst.F32(Q, _s.B, _s.T, _s.H, _s.D), inst.F32(K, _s.B, _s.T, _s.KVH, _s.D), inst.F32(V, _s.B, _s.T, _s.KVH, _s.D));

        // (b, t, head, d) of a flat index into a (B, T, heads, D) tensor.
        public (int B, int T, int Head, int D) Split(long e, int heads) =>
            ((int)(e / _s.D / heads / _s.T), (int)(e / _s.D / heads % _s.T), (int)(e / _s.D % heads), (int)(e % _s.D));

        public long QIndex(int b, int t, int h, int d) => (((long)b * _s.T + t) * _s.H + h) * _s.D + d;

        // Element d of the key/value row at position t that query head h reads (kv head h / (H/KVH)).
        public long KvIndex(int b, int t, int h, int d) => (((long)b * _s.T + t) * _s.KVH + h / (_s.H / _s.KVH)) * _s.D + d;

        // P[j] = softmax_j(scale q_t . k_j) over the causal keys j <= t, and the row's log-sum-exp.
        public (double[] P, double Lse) Row(int b, int h, int t)
        {
            var scores = new double[t + 1];
            double max = double.NegativeInfinity;
            for (int j = 0; j <= t; j++)
            {
                scores[j] = Scale * Dot(Q, QIndex(b, t, h, 0), K, KvIndex(b, j, h, 0), _s.D);
                max = Math.Max(max, scores[j]);
            }
            double sum = 0;
            for (int j = 0; j <= t; j++) sum += Math.Exp(scores[j] - max);
            double lse = max + Math.Log(sum);
            for (int j = 0; j <= t; j++) scores[j] = Math.Exp(scores[j] - lse);
            return (scores, lse);
        }

        // The row's P, dP[j] = dout_t . v_j and delta = sum_j P[j] dP[j] (= dout_t . out_t).
        public (double[] P, double[] DP, double Delta) RowGrad(int b, int h, int t, float[] dout)
        {
            (double[] p, _) = Row(b, h, t);
            var dp = new double[t + 1];
            double delta = 0;
            for (int j = 0; j <= t; j++)
            {
                dp[j] = Dot(dout, QIndex(b, t, h, 0), V, KvIndex(b, j, h, 0), _s.D);
                delta += p[j] * dp[j];
            }
            return (p, dp, delta);
        }
    }
}
