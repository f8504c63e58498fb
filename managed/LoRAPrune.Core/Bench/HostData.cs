// HostData.cs — seeded host inputs of the kernel benchmark (uniform values, bf16-representable values,
// indices, masks). Inputs are generated on the host once per case, so every backend sees identical bytes;
// the float64 expectations come from LoRAPrune.Reference.
using LoRAPrune.Native;

namespace LoRAPrune.Core.Bench;

public static class HostData
{
    /// <summary>n uniform f32 values in [lo, hi), deterministic in the seed (splitmix64 stream).</summary>
    public static float[] Uniform(ulong seed, long n, float lo = -1f, float hi = 1f)
    {
        var values = new float[n];
        float width = hi - lo;
        ulong state = seed * 0xD1B54A32D192ED03UL + 1;
        for (long i = 0; i < n; i++)
        {
            state += 0x9E3779B97F4A7C15UL;
            values[i] = lo + width * ((float)(Mix(state) >> 40) * (1.0f / 16777216.0f));
        }
        return values;
    }

    /// <summary>Uniform values rounded to bf16, so a bf16 upload and the float64 reference hold the same numbers.</summary>
    public static float[] UniformBf16(ulong seed, long n, float lo = -1f, float hi = 1f)
    {
        float[] values = Uniform(seed, n, lo, hi);
        for (long i = 0; i < n; i++) values[i] = Half16.Bf16ToFloat(Half16.FloatToBf16(values[i]));
        return values;
    }

    /// <summary>n integers in [0, bound), deterministic in the seed.</summary>
    public static int[] Indices(ulong seed, long n, int bound)
    {
        var values = new int[n];
        ulong state = seed * 0xD1B54A32D192ED03UL + 7;
        for (long i = 0; i < n; i++)
        {
            state += 0x9E3779B97F4A7C15UL;
            values[i] = (int)((Mix(state) >> 33) % (ulong)bound);
        }
        return values;
    }

    /// <summary>A 0/1 pruning mask (f32) with about `zeroFraction` of the entries zero.</summary>
    public static float[] Mask(ulong seed, long n, float zeroFraction)
    {
        float[] u = Uniform(seed, n, 0f, 1f);
        return Array.ConvertAll(u, x => x < zeroFraction ? 0f : 1f);
    }

    /// <summary>Every other index of [0, n): the kept rows/columns of a 50% compaction, sorted.</summary>
    public static int[] EveryOther(int n) => Enumerable.Range(0, n / 2).Select(k => 2 * k + 1).ToArray();

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
