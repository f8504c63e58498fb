// KernelCases.Linear.cs — the matrix ops: the frozen lm_head GEMM, the LoRA linear layer forward and
// backward on the MLP up projection (f32 and bf16 base weights, p=0.05 dropout, a pruning mask) and
// the final LoRA merge, each with its bytes/FLOPs formula and its spot check against Ref on a slice.
using LoRAPrune.Native;
using LoRAPrune.Reference;

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
            // logits[row, col] = Ref.Gemm of x's row and W's row col
            (outputs, rng) => Sample(outputs, "logits", rng, i => Ref.Gemm(D(x, i / v * c, c), 1, c, D(w, i % v * c, c), 1, c, false, true, 1, 0, null)[0]));
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
            // y[row, col] and xa[row, :] = Ref.LoraLinearForward of x's row and output col
            (outputs, rng) =>
                Sample(outputs, "y", rng, k => d.Forward(k / o, k % o).Y[0])
                .Concat(Sample(outputs, "xa", rng, k => d.Forward(k / r, 0).Xa[k % r])));
    }

    /// <summary>lp_op_lora_linear_backward on the MLP up projection: dx (=), dA and dB (+=), no dW (LoRA mode).</summary>
    public static KernelCase LoraLinearBackward(BenchShapes s, LpDType wType)
    {
        var d = new LoraData(s, wType);
        long n = d.N, i = d.In, o = d.Out, r = d.R;
        float[] dy = HostData.Uniform(111, n * o);                             // (N, OUT)
        float[] da0 = HostData.Uniform(112, r * i, -0.01f, 0.01f);             // (R, IN) earlier accumulation
        float[] db0 = HostData.Uniform(113, o * r, -0.01f, 0.01f);             // (OUT, R)
        var dy64 = new Lazy<double[]>(() => D(dy));   // (N, OUT), for the spot checks of dA
        var x64 = new Lazy<double[]>(() => D(d.X));   // (N, IN), for the spot checks of dB
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
            // Ref.LoraLinearBackward on the slice each output element depends on:
            //   dx[row, col]:  dy's row, x[row, col] and column col of W and A (dropout offset of x[row, col]);
            //   dA[rank, col]: all rows, column col of x (dropped out by Ref.DropoutFactors, then p = 0), W and A;
            //   dB[col, rank]: all rows of dy's column col and of x, row col of W and B.
            (outputs, rng) =>
                Sample(outputs, "dx", rng, k =>
                {
                    long row = k / i, col = k % i;
                    return Ref.LoraLinearBackward(D(dy, row * o, o), D(d.X, row * i + col, 1), 1, 1, Column(d.W, o, i, col), (int)o, Column(d.A, r, i, col),
                                                  D(d.Bm), (int)r, D(d.Mask), LoraData.Scale, LoraData.P, LoraData.Seed, LoraData.Offset + (ulong)(row * i + col)).dx[0];
                })
                .Concat(Sample(outputs, "dA", rng, k =>
                {
                    long rank = k / i, col = k % i;
                    var dropped = new double[n];
                    for (long row = 0; row < n; row++)
                        dropped[row] = d.X[row * i + col] * Ref.DropoutFactors(1, LoraData.P, LoraData.Seed, LoraData.Offset + (ulong)(row * i + col))[0];
                    return da0[k] + Ref.LoraLinearBackward(dy64.Value, dropped, (int)n, 1, Column(d.W, o, i, col), (int)o, Column(d.A, r, i, col), D(d.Bm), (int)r,
                                                           D(d.Mask), LoraData.Scale, 0f, 0, 0).da![rank];
                }))
                .Concat(Sample(outputs, "dB", rng, k =>
                {
                    long col = k / r, rank = k % r;
                    return db0[k] + Ref.LoraLinearBackward(Column(dy, n, o, col), x64.Value, (int)n, (int)i, D(d.W, col * i, i), 1, D(d.A), D(d.Bm, col * r, r), (int)r,
                                                           [d.Mask[col]], LoraData.Scale, LoraData.P, LoraData.Seed, LoraData.Offset).db![rank];
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
            // W[row, col] = Ref.LoraMerge of W[row, col], column col of A and row `row` of B
            (outputs, rng) => Sample(outputs, "W", rng, k => Ref.LoraMerge(D(d.W, k, 1), 1, 1, Column(d.A, r, i, k % i), D(d.Bm, k / i * r, r), (int)r, LoraData.Scale)[0]));
    }

    private sealed record LoraTensors(Tensor X, Tensor W, Tensor A, Tensor B, Tensor Mask);

    // Host inputs of one LoRA-adapted linear (the up projection: IN = C, OUT = F) and the oracle's forward of one
    // row and output.
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

        // Ref.LoraLinearForward of x's row `row` and output `col` (dropout at that row's offset): y (1) and xa (R).
        public (double[] Y, double[] Xa) Forward(long row, long col) =>
            Ref.LoraLinearForward(D(X, row * In, In), 1, In, D(W, col * In, In), 1, D(A), D(Bm, col * R, R), R, [Mask[col]], Scale, P, Seed, Offset + (ulong)(row * In));
    }
}
