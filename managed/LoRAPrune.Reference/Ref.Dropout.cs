// Ref.Dropout.cs — float64 reference of lp_op_dropout: the counter-based splitmix64 draw of lp.h,
// the keep-and-scale factors and the op itself (which is also its own backward).
namespace LoRAPrune.Reference;

public static partial class Ref
{
    /// <summary>
    /// u of the element at counter c (= offset + row-major index) for a draw at seed, as lp.h writes it:
    ///   z = seed + 0x9E3779B97F4A7C15 (c + 1), then the splitmix64 finaliser, u = (z &gt;&gt; 40) 2^-24.
    /// z is the (c+1)-th output of splitmix64 started at state = seed. u is a multiple of 2^-24 in
    /// [0, 1), so the f32 value of lp.h is this double exactly.
    /// </summary>
    public static double DropoutUniform(ulong seed, ulong counter)
    {
        unchecked
        {
            ulong z = seed + 0x9E3779B97F4A7C15UL * (counter + 1UL);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (z >> 40) * (1.0 / 16777216.0);
        }
    }

    /// <summary>
    /// Per element i of a tensor of <paramref name="count"/> elements: 1/(1-p) if u(seed, offset+i) &gt;= p
    /// else 0. The keep test compares the exact u with the exact f32 p, as the native f32 comparison
    /// does. The scale is 1/(1 - (double)p) exactly, not the f32 quotient 1.0f/(1.0f-p): the oracle
    /// is the real number, and backends differ from it by one f32 rounding.
    /// </summary>
    public static double[] DropoutFactors(int count, float p, ulong seed, ulong offset)
    {
        if (!(p >= 0.0f && p < 1.0f))
            throw new ArgumentOutOfRangeException(nameof(p), p, "p: must lie in [0, 1)");
        double keepScale = 1.0 / (1.0 - p);
        var factors = new double[count];
        for (int i = 0; i < count; i++)
            factors[i] = DropoutUniform(seed, offset + (ulong)i) >= p ? keepScale : 0.0;
        return factors;
    }

    /// <summary>y = x (.) factors. Applied to dy with the same (p, seed, offset) it is the backward.</summary>
    public static double[] Dropout(double[] x, float p, ulong seed, ulong offset)
    {
        ArgumentNullException.ThrowIfNull(x);
        double[] factors = DropoutFactors(x.Length, p, seed, offset);
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
            y[i] = x[i] * factors[i];
        return y;
    }
}
