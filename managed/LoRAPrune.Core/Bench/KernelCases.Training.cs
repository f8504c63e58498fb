// KernelCases.Training.cs — the ops that run between backward and the next step: AdamW and the
// gradient norm over the whole LoRA arena, the fused LoRA-guided importance (both axes), group
// normalisation, the importance EMA and the compaction gathers, with bytes/FLOPs and spot checks
// against Ref on the slice a sampled element depends on.
using LoRAPrune.Native;
using LoRAPrune.Reference;

namespace LoRAPrune.Core.Bench;

public static partial class KernelCases
{
    private const float LoraScale = 2f;

    public static KernelCase AdamW(BenchShapes s)
    {
        long p = s.LoraArena;
        const float lr = 1e-4f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, wd = 0.01f;
        const long step = 10;
        float[] param = HostData.Uniform(201, p, -0.1f, 0.1f), grad = HostData.Uniform(202, p, -0.01f, 0.01f);
        float[] m = HostData.Uniform(203, p, -0.01f, 0.01f), v = HostData.Uniform(204, p, 0f, 1e-4f);
        // One element's update by Ref.AdamWStep (in place on its one-element copies): (param, m, v).
        (double P, double M, double V) Step(long e)
        {
            double[] tp = D(param, e, 1), tm = D(m, e, 1), tv = D(v, e, 1);
            Ref.AdamWStep(tp, D(grad, e, 1), tm, tv, lr, beta1, beta2, eps, wd, step);
            return (tp[0], tm[0], tv[0]);
        }
        return new KernelCase("adamw", "LoRA arena", $"param, grad, m, v{Dims(p)}",
            // bytes: read grad (P); read and write param, m and v (6*P)
            Bytes: 4.0 * 7 * p,
            // flops per parameter: decay 2, m 3, v 4, bias corrections 2, sqrt, +eps, divide, *lr, subtract -> 16
            Flops: 16.0 * p,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor tp = inst.F32(param, p), tg = inst.F32(grad, p), tm = inst.F32(m, p), tv = inst.F32(v, p);
                inst.Launch = () => inst.Context.AdamWStep(tp, tg, tm, tv, lr, beta1, beta2, eps, wd, step);
                inst.Output("param", tp);
                inst.Output("m", tm);
                inst.Output("v", tv);
            },
            (outputs, rng) =>
                Sample(outputs, "param", rng, e => Step(e).P)
                .Concat(Sample(outputs, "m", rng, e => Step(e).M))
                .Concat(Sample(outputs, "v", rng, e => Step(e).V)));
    }

    public static KernelCase GradNorm(BenchShapes s)
    {
        long p = s.LoraArena;
        float[] grad = HostData.Uniform(211, p, -0.01f, 0.01f);
        const float sumsq0 = 0.25f;   // an earlier arena's contribution
        return new KernelCase("grad_norm", "LoRA arena", $"grad{Dims(p)} -> sumsq(1) +=",
            // bytes: read grad (P); read and write sumsq (2)
            Bytes: 4.0 * (p + 2),
            // flops: square and add per element
            Flops: 2.0 * p,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor tg = inst.F32(grad, p), sumsq = inst.F32(new[] { sumsq0 }, 1);
                inst.Launch = () => inst.Context.GradNormAccumulate(tg, sumsq);
                inst.Output("sumsq", sumsq);
            },
            (outputs, rng) => Sample(outputs, "sumsq", rng, _ => sumsq0 + Ref.SumSquares(D(grad))));
    }

    /// <summary>
    /// LoRA-mode importance of one adapted linear: axis 0 on the up projection (W (F,C), a score per
    /// output row), axis 1 on the down projection (W (C,F), a score per input column). Both give F scores.
    /// </summary>
    public static KernelCase ImportanceAccumulate(BenchShapes s, int axis)
    {
        long o = axis == 0 ? s.F : s.C, i = axis == 0 ? s.C : s.F, r = s.R, len = axis == 0 ? o : i;
        float bound = 1f / MathF.Sqrt(i);
        ulong seed = axis == 0 ? 220UL : 230UL;
        float[] w = HostData.Uniform(seed + 1, o * i, -bound, bound);       // (OUT, IN)
        float[] a = HostData.Uniform(seed + 2, r * i, -bound, bound);       // (R, IN)
        float[] b = HostData.Uniform(seed + 3, o * r, -0.1f, 0.1f);         // (OUT, R)
        float[] ga = HostData.Uniform(seed + 4, r * i, -1e-3f, 1e-3f);      // (R, IN)
        float[] gb = HostData.Uniform(seed + 5, o * r, -1e-3f, 1e-3f);      // (OUT, R)
        float[] acc0 = HostData.Uniform(seed + 6, len, 0f, 1e-3f);
        return new KernelCase("importance_accumulate", axis == 0 ? "lora, axis 0" : "lora, axis 1",
            $"W{Dims(o, i)} A,gA{Dims(r, i)} B,gB{Dims(o, r)} -> acc{Dims(len)} +=",
            // bytes: read W (OUT*IN), A and gA (2*R*IN), B and gB (2*OUT*R); read and write acc (2*len)
            Bytes: 4.0 * (o * i + 2 * r * i + 2 * o * r + 2 * len),
            // flops per (row, col): four R-long dot products (gB.A, B.gA, gB.gA, B.A) 8R, then combine G,
            //        scale-and-add W', multiply, abs, accumulate -> OUT*IN*(8R+5)
            Flops: 1.0 * o * i * (8 * r + 5),
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor tw = inst.F32(w, o, i), ta = inst.F32(a, r, i), tb = inst.F32(b, o, r), tga = inst.F32(ga, r, i), tgb = inst.F32(gb, o, r);
                Tensor acc = inst.F32(acc0, len);
                inst.Launch = () => inst.Context.ImportanceAccumulate(tw, ta, tb, tga, tgb, gw: null, LoraScale, ImportanceMode.Lora, axis, acc);
                inst.Output("acc", acc);
            },
            // acc[k] += Ref.ImportanceAccumulate of row k (axis 0) or column k (axis 1) of W, A, gA, B, gB (LoRAPrune §2.2)
            (outputs, rng) => Sample(outputs, "acc", rng, k => acc0[k] + (axis == 0
                ? Ref.ImportanceAccumulate(D(w, k * i, i), 1, (int)i, D(a), D(b, k * r, r), (int)r, D(ga), D(gb, k * r, r), null, LoraScale, Ref.ImportanceLora, 0)[0]
                : Ref.ImportanceAccumulate(Column(w, o, i, k), (int)o, 1, Column(a, r, i, k), D(b), (int)r, Column(ga, r, i, k), D(gb), null, LoraScale,
                                           Ref.ImportanceLora, 1)[0])));
    }

    /// <summary>Group sum + L2 normalisation of one module's scores: per head (H*D rows in groups of D) or per MLP channel (F, groups of 1).</summary>
    public static KernelCase ImportanceGroupNormalize(BenchShapes s, bool heads)
    {
        long n = heads ? (long)s.H * s.D : s.F, group = heads ? s.D : 1, groups = n / group;
        float[] v = HostData.Uniform(heads ? 241UL : 242UL, n, 0f, 1f);
        float[] out0 = HostData.Uniform(heads ? 243UL : 244UL, groups, 0f, 1f);
        var normalized = new Lazy<double[]>(() => Ref.ImportanceGroupNormalize(D(v), group));
        return new KernelCase("importance_group_normalize", heads ? $"heads, group {group}" : "channels, group 1",
            $"v{Dims(n)} -> out{Dims(groups)} +=",
            // bytes: read v (n); read and write out (2*n/group)
            Bytes: 4.0 * (n + 2 * groups),
            // flops: group sums n, squares and sum 2*n/group, divide and add 2*n/group
            Flops: n + 4.0 * groups,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor tv = inst.F32(v, n), output = inst.F32(out0, groups);
                inst.Launch = () => inst.Context.ImportanceGroupNormalize(tv, group, output);
                inst.Output("out", output);
            },
            (outputs, rng) => Sample(outputs, "out", rng, k => out0[k] + normalized.Value[k]));
    }

    public static KernelCase ImportanceEma(BenchShapes s)
    {
        long n = s.ImportanceArena;
        const float decay = 0.9f;
        float[] ema = HostData.Uniform(251, n, 0f, 1f), fresh = HostData.Uniform(252, n, 0f, 1f);
        return new KernelCase("importance_ema", "all layers", $"ema, fresh{Dims(n)}",
            // bytes: read ema and fresh, write ema (3*n); the NaN guard re-reads fresh from cache
            Bytes: 4.0 * 3 * n,
            // flops per entry: NaN test, two multiplies and an add -> 4
            Flops: 4.0 * n,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor te = inst.F32(ema, n), tf = inst.F32(fresh, n);
                bool applied = false;
                inst.Launch = () => applied = inst.Context.ImportanceEma(te, tf, decay);
                inst.Output("ema", te);
                inst.Output("applied", () => new[] { applied ? 1f : 0f });
            },
            (outputs, rng) =>
            {
                (double[] expected, bool applied) = Ref.ImportanceEma(D(ema), D(fresh), decay);
                return Sample(outputs, "ema", rng, e => expected[e]).Concat(Sample(outputs, "applied", rng, _ => applied ? 1 : 0));
            });
    }

    /// <summary>Compaction of the up projection: keep every other output row of W (F,C).</summary>
    public static KernelCase GatherRows(BenchShapes s)
    {
        long rows = s.F, c = s.C;
        float[] w = HostData.Uniform(261, rows * c);
        int[] idx = HostData.EveryOther(s.F);
        long k = idx.Length;
        return new KernelCase("gather_rows", "50% of W rows", $"W{Dims(rows, c)} idx{Dims(k)} -> {Dims(k, c)}",
            // bytes: read idx (K) and the K kept rows (K*C); write them (K*C)
            Bytes: 4.0 * (k + 2 * k * c),
            // flops: none (a copy)
            Flops: 0,
            ComputeRoof.None, Tolerance.Exact,
            inst =>
            {
                Tensor src = inst.F32(w, rows, c), ti = inst.I32(idx, k), dst = inst.Zeros(k, c);
                inst.Launch = () => inst.Context.GatherRows(src, ti, dst);
                inst.Output("dst", dst);
            },
            (outputs, rng) => Sample(outputs, "dst", rng, e => Ref.GatherRows(D(w, idx[e / c] * c, c), 1, (int)c, [0])[e % c]));
    }

    /// <summary>Compaction of the down projection: keep every other input column of W (C,F).</summary>
    public static KernelCase GatherCols(BenchShapes s)
    {
        long rows = s.C, cols = s.F;
        float[] w = HostData.Uniform(271, rows * cols);
        int[] idx = HostData.EveryOther(s.F);
        long k = idx.Length;
        return new KernelCase("gather_cols", "50% of W cols", $"W{Dims(rows, cols)} idx{Dims(k)} -> {Dims(rows, k)}",
            // bytes: read idx (K) and the kept columns (R*K); write them (R*K)
            Bytes: 4.0 * (k + 2 * rows * k),
            // flops: none (a copy)
            Flops: 0,
            ComputeRoof.None, Tolerance.Exact,
            inst =>
            {
                Tensor src = inst.F32(w, rows, cols), ti = inst.I32(idx, k), dst = inst.Zeros(rows, k);
                inst.Launch = () => inst.Context.GatherCols(src, ti, dst);
                inst.Output("dst", dst);
            },
            (outputs, rng) => Sample(outputs, "dst", rng, e => Ref.GatherCols(D(w, e / k * cols, cols), 1, (int)cols, [idx[e % k]])[0]));
    }
}
