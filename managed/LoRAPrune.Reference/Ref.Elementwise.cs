// Ref.Elementwise.cs — float64 reference of the elementwise ops of lp.h: SwiGLU (forward and
// backward), add, axpy, and convert (rounding to an f32/f16/bf16 value, kept in a double).
namespace LoRAPrune.Reference;

/// <summary>The float dtypes of lp.h, numbered as lp_dtype.</summary>
public enum RefFloat
{
    F32 = 0,
    F16 = 1,
    BF16 = 2,
}

public static partial class Ref
{
    /// <summary>out = silu(gate) * up, silu(g) = g / (1 + exp(-g)). gate, up (N,F).</summary>
    public static double[] SwiGluForward(double[] gate, double[] up)
    {
        NeedSameLength(gate, up, nameof(gate), nameof(up));
        var output = new double[gate.Length]; // (N, F)
        for (int i = 0; i < gate.Length; i++)
            output[i] = gate[i] * Sigmoid(gate[i]) * up[i];
        return output;
    }

    /// <summary>
    /// d silu(g)/dg = sigmoid(g) (1 + g (1 - sigmoid(g))):
    ///   dgate = dout * up * sigmoid(g) (1 + g (1 - sigmoid(g))),  dup = dout * silu(g).
    /// </summary>
    public static (double[] dgate, double[] dup) SwiGluBackward(double[] dout, double[] gate, double[] up)
    {
        NeedSameLength(gate, up, nameof(gate), nameof(up));
        NeedSameLength(gate, dout, nameof(gate), nameof(dout));
        var dgate = new double[gate.Length]; // (N, F)
        var dup = new double[gate.Length];   // (N, F)
        for (int i = 0; i < gate.Length; i++)
        {
            double g = gate[i], s = Sigmoid(g);
            dgate[i] = dout[i] * up[i] * s * (1.0 + g * (1.0 - s));
            dup[i] = dout[i] * g * s;
        }
        return (dgate, dup);
    }

    /// <summary>out = a + b.</summary>
    public static double[] Add(double[] a, double[] b)
    {
        NeedSameLength(a, b, nameof(a), nameof(b));
        var output = new double[a.Length];
        for (int i = 0; i < a.Length; i++)
            output[i] = a[i] + b[i];
        return output;
    }

    /// <summary>out = a * b, elementwise.</summary>
    public static double[] Mul(double[] a, double[] b)
    {
        NeedSameLength(a, b, nameof(a), nameof(b));
        var output = new double[a.Length];
        for (int i = 0; i < a.Length; i++)
            output[i] = a[i] * b[i];
        return output;
    }

    /// <summary>Returns y + alpha * x (lp_op_axpy's y after the call).</summary>
    public static double[] Axpy(double alpha, double[] x, double[] y)
    {
        NeedSameLength(x, y, nameof(x), nameof(y));
        var output = new double[y.Length];
        for (int i = 0; i < y.Length; i++)
            output[i] = y[i] + alpha * x[i];
        return output;
    }

    /// <summary>
    /// lp_op_convert: each value rounded to the nearest value of <paramref name="target"/>, ties to
    /// even, beyond the largest finite value to infinity, NaN stays NaN. The inputs are values of the
    /// source dtype (so they are exact doubles and one rounding is the whole conversion).
    /// </summary>
    public static double[] ConvertRound(double[] src, RefFloat target)
    {
        ArgumentNullException.ThrowIfNull(src);
        var (precision, minExponent, maxExponent) = target switch
        {
            RefFloat.F32 => (24, -126, 127),
            RefFloat.F16 => (11, -14, 15),
            RefFloat.BF16 => (8, -126, 127),
            _ => throw new ArgumentOutOfRangeException(nameof(target), target, "target: not a float dtype"),
        };
        var dst = new double[src.Length];
        for (int i = 0; i < src.Length; i++)
            dst[i] = RoundToFormat(src[i], precision, minExponent, maxExponent);
        return dst;
    }

    /// <summary>
    /// Rounds x to a binary format with <paramref name="precision"/> significand bits (implicit bit
    /// included) and normal exponents in [minExponent, maxExponent], subnormals included: the spacing
    /// of representable values at x's binade (never below that of the smallest normal binade) is
    /// 2^(e - precision + 1); x / spacing is rounded half to even.
    /// </summary>
    static double RoundToFormat(double x, int precision, int minExponent, int maxExponent)
    {
        if (double.IsNaN(x) || double.IsInfinity(x) || x == 0.0)
            return x;
        int exponent = Math.Max(Math.ILogB(x), minExponent);
        double spacing = Math.ScaleB(1.0, exponent - precision + 1);
        double rounded = Math.Round(x / spacing, MidpointRounding.ToEven) * spacing;
        double maxFinite = (2.0 - Math.ScaleB(1.0, 1 - precision)) * Math.ScaleB(1.0, maxExponent);
        return Math.Abs(rounded) > maxFinite ? Math.CopySign(double.PositiveInfinity, x) : rounded;
    }

    static double Sigmoid(double g) => 1.0 / (1.0 + Math.Exp(-g));
}
