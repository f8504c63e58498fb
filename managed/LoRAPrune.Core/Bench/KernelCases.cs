// KernelCases.cs — the list of benchmarked ops (every op of lp.h a LoRAPrune step runs) and the
// helpers of their float64 spot checks, which take the expected values from the project's one float64
// oracle (LoRAPrune.Reference, the conformance tests' Ref) run on the slice of the inputs a sampled
// element depends on. Cases are produced one at a time, so the host inputs of a LLaMA-7B-sized case are
// garbage before the next one is generated.
namespace LoRAPrune.Core.Bench;

public static partial class KernelCases
{
    /// <summary>Spot-checked elements per output.</summary>
    public const int SamplesPerOutput = 8;

    /// <summary>Every case at one set of shapes, in table order; each is generated when enumerated.</summary>
    public static IEnumerable<Func<KernelCase>> All(BenchShapes s)
    {
        yield return () => Gemm(s);
        yield return () => LoraLinearForward(s, Native.LpDType.F32);
        yield return () => LoraLinearForward(s, Native.LpDType.BF16);
        yield return () => LoraLinearBackward(s, Native.LpDType.F32);
        yield return () => LoraLinearBackward(s, Native.LpDType.BF16);
        yield return () => AttentionForward(s);
        yield return () => AttentionBackward(s);
        yield return () => RmsNormForward(s);
        yield return () => RmsNormBackward(s);
        yield return () => RopeForward(s);
        yield return () => RopeBackward(s);
        yield return () => SwiGluForward(s);
        yield return () => SwiGluBackward(s);
        yield return () => EmbeddingForward(s);
        yield return () => EmbeddingBackward(s);
        yield return () => CrossEntropyForward(s);
        yield return () => CrossEntropyBackward(s);
        yield return () => CrossEntropyForwardBackward(s);
        yield return () => AdamW(s);
        yield return () => GradNorm(s);
        yield return () => ImportanceAccumulate(s, axis: 0);
        yield return () => ImportanceAccumulate(s, axis: 1);
        yield return () => ImportanceGroupNormalize(s, heads: true);
        yield return () => ImportanceGroupNormalize(s, heads: false);
        yield return () => ImportanceEma(s);
        yield return () => GatherRows(s);
        yield return () => GatherCols(s);
        yield return () => LoraMerge(s);
    }

    // Samples SamplesPerOutput random elements of one output and pairs each with its float64 value.
    private static IEnumerable<SpotSample> Sample(IReadOnlyDictionary<string, float[]> outputs, string name, Random rng, Func<long, double> expected)
    {
        float[] got = outputs[name];
        int count = Math.Min(SamplesPerOutput, got.Length);
        for (int k = 0; k < count; k++)
        {
            long index = got.Length <= SamplesPerOutput ? k : rng.NextInt64(got.Length);
            yield return new SpotSample(name, index, got[index], expected(index));
        }
    }

    // src[start .. start + count) as float64: the oracle's input slice.
    private static double[] D(float[] src, long start, long count)
    {
        var result = new double[count];
        for (long k = 0; k < count; k++) result[k] = src[start + k];
        return result;
    }

    private static double[] D(float[] src) => D(src, 0, src.LongLength);

    // Column `col` of a row-major (rows, cols) array as float64.
    private static double[] Column(float[] src, long rows, long cols, long col)
    {
        var result = new double[rows];
        for (long row = 0; row < rows; row++) result[row] = src[row * cols + col];
        return result;
    }

    private static string Dims(params long[] shape) => "(" + string.Join(",", shape) + ")";
}
