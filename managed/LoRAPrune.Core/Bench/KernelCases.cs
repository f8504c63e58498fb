// KernelCases.cs — the list of benchmarked ops (every op of lp.h a LoRAPrune step runs) and the
// helpers their float64 spot checks share. Cases are produced one at a time, so the host inputs of
// a LLaMA-7B-sized case are garbage before the next one is generated.
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

    // sum_k a[aOff + k*aStride] * b[bOff + k*bStride] in float64.
    private static double Dot(float[] a, long aOff, long aStride, float[] b, long bOff, long bStride, long count)
    {
        double sum = 0;
        for (long k = 0; k < count; k++) sum += (double)a[aOff + k * aStride] * b[bOff + k * bStride];
        return sum;
    }

    private static double Dot(float[] a, long aOff, float[] b, long bOff, long count) => Dot(a, aOff, 1, b, bOff, 1, count);

    private static string Dims(params long[] shape) => "(" + string.Join(",", shape) + ")";
}
