// KernelCases.Layers.cs — the model-layer ops of one LoRAPrune step: causal GQA attention, RMSNorm,
// RoPE, SwiGLU, embedding and the fused cross-entropy, forward and backward, each with its
// bytes/FLOPs formula and its spot check against Ref on the slice a sampled element depends on.
using LoRAPrune.Native;
using LoRAPrune.Reference;

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
            // out[b, t, h, :] and lse[b, h, t] from Ref.AttentionForward of (batch b, head h and its kv head)
            (outputs, rng) =>
                Sample(outputs, "out", rng, e =>
                {
                    (int bi, int ti, int hi, int di) = d.Split(e, s.H);
                    return d.Forward(bi, hi).Output[ti * s.D + di];
                })
                .Concat(Sample(outputs, "lse", rng, e => d.Forward((int)(e / t / h), (int)(e / t % h)).Lse[e % t])));
    }

    public static KernelCase AttentionBackward(BenchShapes s)
    {
        var d = new AttentionData(s);
        long b = s.B, t = s.T, h = s.H, kvh = s.KVH, hd = s.D;
        float[] dout = HostData.Uniform(134, b * t * h * hd);     // (B, T, H, D)
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
            // dq, dk, dv from Ref.AttentionBackward of (batch b, kv head g and its query heads)
            (outputs, rng) =>
                Sample(outputs, "dq", rng, e =>
                {
                    (int bi, int ti, int hi, int di) = d.Split(e, s.H);
                    int rep = s.H / s.KVH;
                    return d.Backward(bi, hi / rep, dout).Dq[(ti * rep + hi % rep) * s.D + di];
                })
                .Concat(Sample(outputs, "dk", rng, e =>
                {
                    (int bi, int si, int kv, int di) = d.Split(e, s.KVH);
                    return d.Backward(bi, kv, dout).Dk[si * s.D + di];
                }))
                .Concat(Sample(outputs, "dv", rng, e =>
                {
                    (int bi, int si, int kv, int di) = d.Split(e, s.KVH);
                    return d.Backward(bi, kv, dout).Dv[si * s.D + di];
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
            // y[row, :] and rstd[row] from Ref.RmsNormForward of the row
            (outputs, rng) =>
                Sample(outputs, "y", rng, e => Ref.RmsNormForward(D(x, e / c * c, c), 1, (int)c, D(w), RmsEps).y[e % c])
                .Concat(Sample(outputs, "rstd", rng, row => Ref.RmsNormForward(D(x, row * c, c), 1, (int)c, D(w), RmsEps).rstd[0])));
    }

    public static KernelCase RmsNormBackward(BenchShapes s)
    {
        long n = s.N, c = s.C;
        float[] x = HostData.Uniform(141, n * c), w = HostData.Uniform(142, c, 0.5f, 1.5f);
        float[] dy = HostData.Uniform(143, n * c), dw0 = HostData.Uniform(144, c, -0.1f, 0.1f);
        var dweight = new Lazy<double[]>(() => Ref.RmsNormBackward(D(dy), D(x), (int)n, (int)c, D(w), RmsEps).dw);
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
            // dx[row, :] from Ref.RmsNormBackward of the row; dweight sums over every row, so from all of them
            (outputs, rng) =>
                Sample(outputs, "dx", rng, e => Ref.RmsNormBackward(D(dy, e / c * c, c), D(x, e / c * c, c), 1, (int)c, D(w), RmsEps).dx[e % c])
                .Concat(Sample(outputs, "dweight", rng, col => dw0[col] + dweight.Value[col])));
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
            (outputs, rng) => Sample(outputs, "out", rng, e => Ref.SwiGluForward(D(gate, e, 1), D(up, e, 1))[0]));
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
                Sample(outputs, "dgate", rng, e => Ref.SwiGluBackward(D(dout, e, 1), D(gate, e, 1), D(up, e, 1)).dgate[0])
                .Concat(Sample(outputs, "dup", rng, e => Ref.SwiGluBackward(D(dout, e, 1), D(gate, e, 1), D(up, e, 1)).dup[0])));
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
            // out[n, :] = Ref.EmbeddingForward of the one table row ids[n] reads
            (outputs, rng) => Sample(outputs, "out", rng, e => Ref.EmbeddingForward(D(table, ids[e / c] * c, c), 1, (int)c, [0])[e % c]));
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
            // dtable[row, col] = Ref.EmbeddingBackward of column col of the dout rows whose id is `row`
            (outputs, rng) => TouchedRows(outputs["dtable"], rng, ids, c, (row, col) =>
            {
                double[] rows = Enumerable.Range(0, (int)n).Where(k => ids[k] == row).Select(k => (double)dout[k * c + col]).ToArray();
                return Ref.EmbeddingBackward(rows, new int[rows.Length], 1, 1)[0];
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
            // losses[row] and lse[row] from Ref.CrossEntropyForward of the row
            (outputs, rng) =>
                Sample(outputs, "losses", rng, row => Ref.CrossEntropyForward(D(logits, row * v, v), 1, (int)v, [targets[row]], IgnoreIndex).losses[0])
                .Concat(Sample(outputs, "lse", rng, row => Ref.CrossEntropyForward(D(logits, row * v, v), 1, (int)v, [targets[row]], IgnoreIndex).lse[0])));
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
            // dlogits[row, :] from Ref.CrossEntropyBackward of the row
            (outputs, rng) => Sample(outputs, "dlogits", rng, e =>
                Ref.CrossEntropyBackward(D(logits, e / v * v, v), 1, (int)v, [targets[e / v]], IgnoreIndex, dloss)[e % v]));
    }

    public static KernelCase CrossEntropyForwardBackward(BenchShapes s)
    {
        long n = s.N, v = s.V;
        float[] logits = HostData.Uniform(171, n * v, -4f, 4f);
        int[] targets = Targets(s);
        float dloss = 1f / targets.Count(id => id != IgnoreIndex);
        return new KernelCase("cross_entropy_fwd_bwd", "", $"logits{Dims(n, v)} -> losses, lse{Dims(n)}, dlogits{Dims(n, v)}",
            // bytes: read logits (N*V) and targets (N); write losses and lse (2*N) and dlogits (N*V)
            Bytes: 4.0 * (2 * n * v + 3 * n),
            // flops per logit: max, subtract, exp, add, scale, one-hot -> 6 (exp counted as one)
            Flops: 6.0 * n * v,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor tl = inst.F32(logits, n, v), tt = inst.I32(targets, n), losses = inst.Zeros(n), lse = inst.Zeros(n), dlogits = inst.Zeros(n, v);
                inst.Launch = () => inst.Context.CrossEntropyForwardBackward(tl, tt, IgnoreIndex, dloss, losses, lse, dlogits);
                inst.Output("losses", losses);
                inst.Output("lse", lse);
                inst.Output("dlogits", dlogits);
            },
            // every output of a row from Ref.CrossEntropyForwardBackward of the row
            (outputs, rng) =>
                Sample(outputs, "losses", rng, row => Ref.CrossEntropyForwardBackward(D(logits, row * v, v), 1, (int)v, [targets[row]], IgnoreIndex, dloss).losses[0])
                .Concat(Sample(outputs, "lse", rng, row => Ref.CrossEntropyForwardBackward(D(logits, row * v, v), 1, (int)v, [targets[row]], IgnoreIndex, dloss).lse[0]))
                .Concat(Sample(outputs, "dlogits", rng, e =>
                    Ref.CrossEntropyForwardBackward(D(logits, e / v * v, v), 1, (int)v, [targets[e / v]], IgnoreIndex, dloss).dlogits[e % v])));
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
            // y[b, t, h, :] from Ref.RopeForward (RopeBackward) of that head's vector at position t
            (outputs, rng) => Sample(outputs, forward ? "y" : "dx", rng, e =>
            {
                long pos = e / hd / h % t;
                double[] head = D(x, e / hd * hd, hd), invFreq = Ref.RopeInvFreq((int)hd, RopeTheta);
                double[] rotated = forward ? Ref.RopeForward(head, 1, 1, 1, (int)hd, invFreq, pos) : Ref.RopeBackward(head, 1, 1, 1, (int)hd, invFreq, pos);
                return rotated[e % hd];
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

    // Host q, k, v of the attention cases and the oracle's results for one (batch, head) or (batch, kv head) slice.
    private sealed class AttentionData
    {
        private readonly BenchShapes _s;
        private readonly Dictionary<(int, int), (double[] Output, double[] Lse)> _forward = new();
        private readonly Dictionary<(int, int), (double[] Dq, double[] Dk, double[] Dv)> _backward = new();

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

        // Ref.AttentionForward of batch b, query head h and its kv head: out (T, D), lse (T).
        public (double[] Output, double[] Lse) Forward(int b, int h)
        {
            if (_forward.TryGetValue((b, h), out var cached)) return cached;
            int g = h / (_s.H / _s.KVH);
            return _forward[(b, h)] = Ref.AttentionForward(Heads(Q, b, _s.H, h, 1), Heads(K, b, _s.KVH, g, 1), Heads(V, b, _s.KVH, g, 1),
                                                           1, _s.T, 1, 1, _s.D, Scale);
        }

        // Ref.AttentionBackward of batch b, kv head g and its n_rep query heads: dq (T, n_rep, D), dk and dv (T, D).
        public (double[] Dq, double[] Dk, double[] Dv) Backward(int b, int g, float[] dout)
        {
            if (_backward.TryGetValue((b, g), out var cached)) return cached;
            int rep = _s.H / _s.KVH;
            return _backward[(b, g)] = Ref.AttentionBackward(Heads(Q, b, _s.H, g * rep, rep), Heads(K, b, _s.KVH, g, 1), Heads(V, b, _s.KVH, g, 1),
                                                             Heads(dout, b, _s.H, g * rep, rep), 1, _s.T, rep, 1, _s.D, Scale);
        }

        // Heads [h0, h0 + count) of batch b of a (B, T, heads, D) tensor, as float64 (T, count, D).
        private double[] Heads(float[] src, int b, int heads, int h0, int count)
        {
            var result = new double[(long)_s.T * count * _s.D];
            for (int t = 0; t < _s.T; t++)
                for (int j = 0; j < count; j++)
                    for (int d = 0; d < _s.D; d++)
                        result[((long)t * count + j) * _s.D + d] = src[(((long)b * _s.T + t) * heads + h0 + j) * _s.D + d];
            return result;
        }
    }
}
