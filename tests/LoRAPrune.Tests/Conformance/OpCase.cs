// OpCase.cs — one named conformance case ("rmsnorm_backward(rows=5,cols=13)") and the seeded
// input generators the cases share. Cases are grouped in families (one file each) and looked up
// by name, so xunit sees plain strings as theory data and lists every case separately.
using LoRAPrune.Native;

namespace LoRAPrune.Tests.Conformance;

public sealed record OpCase(string Name, Action<OpHarness> Run)
{
    public override string ToString() => Name;
}

public static class Gen
{
    /// <summary>Uniform f32 values in [lo, hi), deterministic in the seed.</summary>
    public static float[] Floats(int seed, long n, float lo = -1f, float hi = 1f)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = lo + (hi - lo) * (float)rng.NextDouble();
        return a;
    }

    /// <summary>Uniform values already rounded to bf16, so backend and reference see the same numbers.</summary>
    public static float[] Bf16(int seed, long n, float lo = -1f, float hi = 1f) =>
        Floats(seed, n, lo, hi).Select(x => Half16.Bf16ToFloat(Half16.FloatToBf16(x))).ToArray();

    public static float[] RoundTo(LpDType dtype, float[] values) => dtype switch
    {
        LpDType.BF16 => values.Select(x => Half16.Bf16ToFloat(Half16.FloatToBf16(x))).ToArray(),
        LpDType.F16 => values.Select(x => (float)(Half)x).ToArray(), // System.Half: an independent IEEE binary16 rounding
        _ => values,
    };

    public static int[] Ints(int seed, long n, int lo, int hi)
    {
        var rng = new Random(seed);
        var a = new int[n];
        for (long i = 0; i < n; i++) a[i] = rng.Next(lo, hi);
        return a;
    }

    /// <summary>A 0/1 mask with at least one zero and one one (when n &gt;= 2).</summary>
    public static float[] Mask(int seed, long n)
    {
        var rng = new Random(seed);
        var m = new float[n];
        for (long i = 0; i < n; i++) m[i] = rng.NextDouble() < 0.3 ? 0f : 1f;
        if (n >= 2) { m[0] = 0f; m[n - 1] = 1f; }
        return m;
    }

    public static double[] D(float[] a) => Array.ConvertAll(a, x => (double)x);

    public static double[] Plus(double[] a, double[] b) => a.Select((x, i) => x + b[i]).ToArray();
}
