// KernelCases.Linear.cs — the matrix ops: the frozen lm_head GEMM, the LoRA linear layer forward and
// backward on the MLP up projection (f32 and bf16 base weights, p=0.05 dropout, a pruning mask) and
// the final LoRA merge, each with its bytes/FLOPs formula and float64 spot check.
using LoRAPrune.Native;

namespace LoRAPrune.Core.Bench;

public static partial class KernelCases
{
    /// <summary>The lm_head GEMM: logits (N,V) = x (N,C) . W^T, W (V,C) f32.</summary>
    public static KernelCase Gemm(BenchShapes s)
    {
        int n = s.N, c = s.C, v = s.V;
        float[] x = HostData.Uniform(101, (long)n * c);                          // (N, C)
        float[] w = HostData.Uniform(102, (long)v * c, -0.0625f, 0.0625f);      // (V, C)
        return new KernelCase("gemm", "lm_head", $"x{Dims(n, c)} W{Dims(v, c)}^T -> {Dims(n, v)}",
            // bytes: read x (N*C) and W (V*C), write logits (N*V); all f32
            Bytes: 4.0 * ((double)n * c + (double)v * c + (double)n * v),
            // flops: a multiply and an add for every (n, v, c)
            Flops: 2.0 * n * v * c,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                Tensor tx = inst.F32(x, n, c), tw = inst.F32(w, v, c), logits = inst.Zeros(n, v);
                inst.Launch = () => inst.Context.Gemm(tx, tw, logits, transA: false, transB: true, alpha: 1f, beta: 0f);
                inst.Output("logits", logits);
            },
            (outputs, rng) => Sample(outputs, "logits", rng, i => Dot(x, i / v * c, w, i % v * c, c)));
    }

    /// <summary>lp_op_lora_linear_forward on the MLP up projection (IN=C, OUT=F).</summary>
    public static KernelCase LoraLinearForward(BenchShapes s, LpDType wType)
    {
        var d = new LoraData(s, wType);
        long n = d.N, i = d.In, o = d.Out, r = d.R;
        return new KernelCase("lora_linear_fwd", d.WName, $"x{Dims(n, i)} W{Dims(o, i)} A{Dims(r, i)} B{Dims(o, r)} -> y{Dims(n, o)}",
            // bytes: read x (N*IN), W (OUT*IN at its element size), A (R*IN), B (OUT*R), mask (OUT);
            //        write y (N*OUT) and xa (N*R)
            Bytes: 4.0 * (n * i + r * i + o * r + o + n * o + n * r) + d.WBytes * o * i,
            // flops: x W^T 2*N*OUT*IN + drop(x) A^T 2*N*R*IN + xa B^T 2*N*OUT*R
            //        + dropout N*IN + scale, add and mask 3*N*OUT
            Flops: 2.0 * n * o * i + 2.0 * n * r * i + 2.0 * n * o * r + (double)n * i + 3.0 * n * o,
            d.Roof, d.Tolerance,
            inst =>
            {
                LoraTensors t = d.Upload(inst);
                Tensor y = inst.Zeros(n, o), xa = inst.Zeros(n, r);
                inst.Launch = () => inst.Context.LoraLinearForward(t.X, t.W, t.A, t.B, t.Mask, LoraData.Scale, LoraData.P, LoraData.Seed, LoraData.Offset, y, xa);
                inst.Output("y", y);
                inst.Output("xa", xa);
            },
            (outputs, rng) =>
                Sample(outputs, "y", rng, k => d.Y(k / o, k % o))
                .Concat(Sample(outputs, "xa", rng, k => d.Xa(k / r, (int)(k % r)))));
    }

    /// <summary>lp_op_lora_linear_backward on the MLP up projection: dx (=), dA and dB (+=), no dW (LoRA mode).</summary>
    public static KernelCase LoraLinearBackward(BenchShapes s, LpDType wType)
    {
        var d = new LoraData(s, wType);
        long n = d.N, i = d.In, o = d.Out, r = d.R;
        float[] dy = HostData.Uniform(111, n * o);                             // (N, OUT)
        float[] da0 = HostData.Uniform(112, r * i, -0.01f, 0.01f);             // (R, IN) earlier accumulation
        float[] db0 = HostData.Uniform(113, o * r, -0.01f, 0.01f);             // (OUT, R)
        // g B (N, R) with g = dy (.) mask, filled on first use by the spot check
        var gB = new Lazy<double[]>(() =>
        {
            var result = new double[n * r];
            for (long row = 0; row < n; row++)
                for (int k = 0; k < r; k++)
                {
                    double sum = 0;
                    for (long col = 0; col < o; col++) sum += (double)dy[row * o + col] * d.Mask[col] * d.Bm[col * r + k];
                    result[row * r + k] = sum;
                }
            return result;
        });
        return new KernelCase("lora_linear_bwd", d.WName, $"dy{Dims(n, o)} x{Dims(n, i)} W{Dims(o, i)} -> dx{Dims(n, i)} dA{Dims(r, i)} dB{Dims(o, r)}",
            // bytes: read dy (N*OUT), x (N*IN), W (OUT*IN at its element size), A (R*IN), B (OUT*R), mask (OUT),
            //        xa (N*R); write dx (N*IN); read and write dA (R*IN) and dB (OUT*R)
            Bytes: 4.0 * (n * o + n * i + r * i + o * r + o + n * r + n * i + 2 * r * i + 2 * o * r) + d.WBytes * o * i,
            // flops: g W 2*N*OUT*IN + g B 2*N*OUT*R + (gB) A 2*N*R*IN + dA 2*N*R*IN + dB 2*N*OUT*R
            //        + mask N*OUT + dropout and add 2*N*IN
            Flops: 2.0 * n * o * i + 4.0 * n * o * r + 4.0 * n * r * i + (double)n * o + 2.0 * n * i,
            d.Roof, d.Tolerance,
            inst =>
            {
                LoraTensors t = d.Upload(inst);
                Tensor tdy = inst.F32(dy, n, o), y = inst.Zeros(n, o), xa = inst.Zeros(n, r);
                Tensor dx = inst.Zeros(n, i), da = inst.F32(da0, r, i), db = inst.F32(db0, o, r);
                inst.Context.LoraLinearForward(t.X, t.W, t.A, t.B, t.Mask, LoraData.Scale, LoraData.P, LoraData.Seed, LoraData.Offset, y, xa);
                inst.Launch = () => inst.Context.LoraLinearBackward(tdy, t.X, t.W, t.A, t.B, t.Mask, xa, LoraData.Scale, LoraData.P, LoraData.Seed,
                                                                    LoraData.Offset, dx, da, db, dw: null);
                inst.Output("dx", dx);
                inst.Output("dA", da);
                inst.Output("dB", db);
            },
            (outputs, rng) =>
                Sample(outputs, "dx", rng, k =>
                {
                    long row = k / i, col = k % i;
                    double sum = 0, lora = 0;
                    for (long q = 0; q < o; q++) sum += (double)dy[row * o + q] * d.Mask[q] * d.W[q * i + col];
                    for (int q = 0; q < r; q++) lora += gB.Value[row * r + q] * d.A[q * i + col];
                    return sum + LoraData.Scale * lora * d.Drop(row, col);
                })
                .Concat(Sample(outputs, "dA", rng, k =>
                {
                    long rank = k / i, col = k % i;
                    double sum = 0;
                    for (long row = 0; row < n; row++) sum += gB.Value[row * r + rank] * d.X[row * i + col] * d.Drop(row, col);
                    return da0[k] + LoraData.Scale * sum;
                }))
                .Concat(Sample(outputs, "dB", rng, k =>
                {
                    long col = k / r;
                    int rank = (int)(k % r);
                    double sum = 0;
                    for (long row = 0; row < n; row++) sum += (double)dy[row * o + col] * d.Mask[col] * d.Xa(row, rank);
                    return db0[k] + LoraData.Scale * sum;
                })));
    }

    /// <summary>lp_op_lora_merge of the up projection's adapter into its f32 base weight: W += scale * B A.</summary>
    public static KernelCase LoraMerge(BenchShapes s)
    {
        var d = new LoraData(s, LpDType.F32);
        long i = d.In, o = d.Out, r = d.R;
        return new KernelCase("lora_merge", "f32 W", $"W{Dims(o, i)} += B{Dims(o, r)} A{Dims(r, i)}",
            // bytes: read and write W (OUT*IN), read A (R*IN) and B (OUT*R)
            Bytes: 4.0 * (2 * o * i + r * i + o * r),
            // flops: B A 2*OUT*IN*R + scale and add 2*OUT*IN
            Flops: 2.0 * o * i * r + 2.0 * o * i,
            ComputeRoof.GemmF32, Tolerance.F32,
            inst =>
            {
                LoraTensors t = d.Upload(inst);
                inst.Launch = () => inst.Context.LoraMerge(t.W, t.A, t.B, LoraData.Scale);
                inst.Output("W", t.W);
            },
            (outputs, rng) => Sample(outputs, "W", rng, k => d.W[k] + LoraData.Scale * Dot(d.Bm, k / i * r, 1, d.A, k % i, i, r)));
    }

    private sealed record LoraTensors(Tensor X, Tensor W, Tensor A, Tensor B, Tensor Mask);

    // Host inputs of one LoRA-adapted linear (the up projection: IN = C, OUT = F) and the float64
    // pieces the spot checks need.
    private sealed class LoraData
    {
        public const float Scale = 2f;      // lora_alpha / r = 16 / 8
        public const float P = 0.05f;       // LoRA dropout during pruning (docs/method.md §1.2)
        public const ulong Seed = 20260611, Offset = 4096;

        public LoraData(BenchShapes s, LpDType wType)
        {
            N = s.N;
            In = s.C;
            Out = s.F;
            R = s.R;
            WType = wType;
            float bound = 1f / MathF.Sqrt(In);
            X = HostData.Uniform(121, (long)N * In);
            W = wType == LpDType.BF16 ? HostData.UniformBf16(122, (long)Out * In, -bound, bound) : HostData.Uniform(122, (long)Out * In, -bound, bound);
            A = HostData.Uniform(123, (long)R * In, -bound, bound);
            Bm = HostData.Uniform(124, (long)Out * R, -0.1f, 0.1f);
            Mask = HostData.Mask(125, Out, 0.1f);
        }

        public int N { get; }
        public int In { get; }
        public int Out { get; }
        public int R { get; }
        public LpDType WType { get; }
        public float[] X { get; }      // (N, IN)
        public float[] W { get; }      // (OUT, IN), bf16-representable when WType is bf16
        public float[] A { get; }      // (R, IN)
        public float[] Bm { get; }     // (OUT, R)
        public float[] Mask { get; }   // (OUT)

        public string WName => WType == LpDType.BF16 ? "bf16 W" : "f32 W";
        public double WBytes => WType.Size();
        public ComputeRoof Roof => WType == LpDType.BF16 ? ComputeRoof.GemmBf16 : ComputeRoof.GemmF32;
        public Tolerance Tolerance => WType == LpDType.BF16 ? Tolerance.Bf16Weights : Tolerance.F32;

        public LoraTensors Upload(KernelInstance inst) => new(
            inst.F32(X, N, In), inst.Weight(WType, W, Out, In), inst.F32(A, R, In), inst.F32(Bm, Out, R), inst.F32(Mask, Out));

        // Dropout keep-and-scale factor of x[row, col].
        public double Drop(long row, long col) => HostData.DropoutFactor(P, Seed, Offset, (ulong)(row * In + col));

        // xa[row, rank] = sum_col drop(x)[row, col] * A[rank, col]
        public double Xa(long row, int rank)
        {
            double sum = 0;
            for (long col = 0; col < In; col++) sum += X[row * In + col] * Drop(row, col) * A[(long)rank * In + col];
            return sum;
        }

        // y[row, o] = mask[o] * (x[row] . W[o] + scale * xa[row] . B[o])
        public double Y(long row, long o)
        {
            double lora = 0;
            for (int k = 0; k < R; k++) lora += Xa(row, k) * Bm[o * R + k];
            return Mask[o] * (Dot(X, row * In, W, o * In, In) + Scale * lora);
        }
    }
}
