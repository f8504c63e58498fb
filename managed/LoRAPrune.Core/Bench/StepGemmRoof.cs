// StepGemmRoof.cs — the GEMM roof of one training step, measured in the same run at the step's own shapes: every
// frozen-base GEMM a step must do (forward and activation backward through each base linear and the LM head, plus the
// weight gradients of the scored linears for the grad criterion), each timed alone through lp_op_gemm. The roof is
// the step's GEMM FLOPs over the sum of those times: how fast the step would be if it did nothing but its GEMMs.
using LoRAPrune.Core.IO;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Bench;

/// <summary>One GEMM of a step: C (M,N) = op(A) op(B) with inner dimension K, done Count times per step.</summary>
/// <param name="What">"q_proj fwd", "lm_head dx", ...</param>
public sealed record StepGemm(string What, int M, int N, int K, bool TransA, bool TransB, int Count)
{
    /// <summary>A multiply and an add for every (m, n, k), per call.</summary>
    public double Flops => 2.0 * M * N * K;

    public string Shape => $"{M}x{N}x{K}";
}

/// <summary>A GEMM shape and its measured throughput.</summary>
public sealed record GemmRoofShape(StepGemm Gemm, double Seconds)
{
    public double Gflops => Gemm.Flops / Seconds / 1e9;
}

public static class StepGemmRoof
{
    /// <summary>
    /// The base GEMMs of one optimizer step of <paramref name="microBatches"/> micro-batches of <paramref name="tokens"/>
    /// tokens: for every linear y = x W^T (N,IN)x(OUT,IN)^T and dx = g W (N,OUT)x(OUT,IN); the LM head the same with
    /// (V, C); with <paramref name="weightGradients"/> (the grad criterion's scored linears) also dW = g^T x.
    /// LoRA's rank-R products, attention's score matrices and the importance are not counted: they are the overhead
    /// the roof holds the step to.
    /// </summary>
    public static IReadOnlyList<StepGemm> Gemms(LlamaConfig config, int tokens, int microBatches, ISet<string> weightGradients)
    {
        var merged = new Dictionary<(string What, int M, int N, int K, bool TA, bool TB), int>();
        void Add(string what, int m, int n, int k, bool ta, bool tb) =>
            merged[(what, m, n, k, ta, tb)] = merged.GetValueOrDefault((what, m, n, k, ta, tb)) + microBatches;
        for (int l = 0; l < config.NumHiddenLayers; l++)
            foreach (LlamaLinear lin in Enum.GetValues<LlamaLinear>())
            {
                (int outF, int inF) = lin.Shape(config, l);
                string name = lin.ModuleName();
                Add($"{name} fwd", tokens, outF, inF, false, true);
                Add($"{name} dx", tokens, inF, outF, false, false);
                if (weightGradients.Contains(LlamaTensorLayout.Weight(lin, l))) Add($"{name} dW", outF, inF, tokens, true, false);
            }
        Add("lm_head fwd", tokens, config.VocabSize, config.HiddenSize, false, true);
        Add("lm_head dx", tokens, config.HiddenSize, config.VocabSize, false, false);
        return merged.Select(kv => new StepGemm(kv.Key.What, kv.Key.M, kv.Key.N, kv.Key.K, kv.Key.TA, kv.Key.TB, kv.Value)).ToList();
    }

    /// <summary>Times each distinct GEMM shape alone on <paramref name="context"/> (operands in <paramref name="dtype"/>,
    /// f32 result): the best of <paramref name="repeat"/> samples after <paramref name="warmup"/> calls, per call.</summary>
    public static IReadOnlyDictionary<StepGemm, double> Measure(Context context, IReadOnlyList<StepGemm> gemms, LpDType dtype, int warmup, int repeat)
    {
        var byShape = new Dictionary<(int, int, int, bool, bool), double>();
        var result = new Dictionary<StepGemm, double>();
        foreach (StepGemm g in gemms)
        {
            var key = (g.M, g.N, g.K, g.TransA, g.TransB);
            if (!byShape.TryGetValue(key, out double seconds)) byShape[key] = seconds = TimeOne(context, g, dtype, warmup, repeat);
            result[g] = seconds;
        }
        return result;
    }

    private static double TimeOne(Context context, StepGemm g, LpDType dtype, int warmup, int repeat)
    {
        // Stored shapes of A (M,K) or (K,M) and B (K,N) or (N,K), as the row-major op of lp.h takes them.
        (long aRows, long aCols) = g.TransA ? (g.K, g.M) : (g.M, g.K);
        (long bRows, long bCols) = g.TransB ? (g.N, g.K) : (g.K, g.N);
        using Tensor a = Operand(context, dtype, 401, aRows, aCols), b = Operand(context, dtype, 402, bRows, bCols);
        using Tensor c = context.NewTensor(LpDType.F32, g.M, g.N);
        Timing timing = BenchTimer.Measure(context, () => context.Gemm(a, b, c, g.TransA, g.TransB, 1f, 0f), warmup, repeat);
        return timing.MinSeconds;
    }

    private static Tensor Operand(Context context, LpDType dtype, ulong seed, long rows, long cols)
    {
        float[] values = HostData.Uniform(seed, rows * cols);
        return dtype == LpDType.BF16 ? context.UploadBf16(values, rows, cols) : context.Upload(values, rows, cols);
    }
}
