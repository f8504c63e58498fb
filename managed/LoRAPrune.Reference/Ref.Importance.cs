// Ref.Importance.cs — float64 reference of the LoRAPrune importance ops (docs/method.md §2): the
// per-module score |G (.) W'| reduced over rows or columns (materialising the (OUT,IN) matrices,
// which the oracle may do), the group sum + L2 normalisation, and the NaN-guarded moving average.
using MathNet.Numerics.LinearAlgebra;

namespace LoRAPrune.Reference;

public static partial class Ref
{
    public const int ImportanceLora = 0;
    public const int ImportanceGrad = 1;
    public const int ImportanceMagnitude = 2;

    /// <summary>
    ///   W' = W + scale B A (W' = W when a/b are null)
    ///   G  = gB A + B gA - gB gA (mode 0, lora) | gW (mode 1, grad) | 1 (mode 2, magnitude)
    ///   S  = |G (.) W'|
    /// axis 0: returns (OUT) row sums of S; axis 1: returns (IN) column sums. The result is the
    /// contribution to add to the accumulator. w, gw (OUT,IN); a, ga (R,IN); b, gb (OUT,R). As in lp.h,
    /// ga/gb are given in lora mode only and gw in grad mode only.
    /// </summary>
    public static double[] ImportanceAccumulate(double[] w, int OUT, int IN, double[]? a, double[]? b, int R,
                                                double[]? ga, double[]? gb, double[]? gw, double scale, int mode, int axis)
    {
        if (mode != ImportanceLora && (ga is not null || gb is not null))
            throw new ArgumentException("ga, gb: only in lora mode");
        if (mode != ImportanceGrad && gw is not null)
            throw new ArgumentException("gw: only in grad mode", nameof(gw));
        Matrix<double> W = Mat(w, OUT, IN); // (OUT, IN)
        Matrix<double> merged = HasLora(a, b) ? W + scale * (Mat(b!, OUT, R) * Mat(a!, R, IN)) : W; // (OUT, IN) W'
        Matrix<double> G = mode switch // (OUT, IN)
        {
            ImportanceLora => LoraGuidedGradient(a, b, ga, gb, OUT, IN, R),
            ImportanceGrad => Mat(gw ?? throw new ArgumentNullException(nameof(gw), "gw: required in grad mode"), OUT, IN),
            ImportanceMagnitude => Matrix<double>.Build.Dense(OUT, IN, 1.0),
            _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "mode: 0 lora, 1 grad or 2 magnitude"),
        };
        Matrix<double> S = G.PointwiseMultiply(merged).PointwiseAbs(); // (OUT, IN)
        return axis switch
        {
            0 => S.RowSums().ToArray(),
            1 => S.ColumnSums().ToArray(),
            _ => throw new ArgumentOutOfRangeException(nameof(axis), axis, "axis: 0 rows or 1 columns"),
        };
    }

    /// <summary>G = gB A + B gA - gB gA (docs/method.md §2.1), (OUT,IN).</summary>
    static Matrix<double> LoraGuidedGradient(double[]? a, double[]? b, double[]? ga, double[]? gb, int OUT, int IN, int R)
    {
        if (a is null || b is null || ga is null || gb is null)
            throw new ArgumentException("a, b, ga, gb: all required in lora mode");
        Matrix<double> A = Mat(a, R, IN), gA = Mat(ga, R, IN);     // (R, IN)
        Matrix<double> Bm = Mat(b, OUT, R), gB = Mat(gb, OUT, R);  // (OUT, R)
        return gB * A + Bm * gA - gB * gA;
    }

    /// <summary>g[k] = sum of group k of <paramref name="groupSize"/> elements; returns g / (||g||_2 + 1e-8).</summary>
    public static double[] ImportanceGroupNormalize(double[] v, long groupSize)
    {
        ArgumentNullException.ThrowIfNull(v);
        if (groupSize <= 0 || v.LongLength % groupSize != 0)
            throw new ArgumentException($"groupSize: {groupSize} does not divide {v.LongLength}", nameof(groupSize));
        var g = new double[v.LongLength / groupSize];
        for (long i = 0; i < v.LongLength; i++)
            g[i / groupSize] += v[i];
        double norm = Math.Sqrt(SumSquares(g));
        return g.Select(x => x / (norm + 1e-8)).ToArray();
    }

    /// <summary>
    /// If any element of fresh is NaN: (copy of ema, false). Else (decay ema + (1-decay) fresh, true).
    /// </summary>
    public static (double[] ema, bool applied) ImportanceEma(double[] ema, double[] fresh, double decay)
    {
        NeedSameLength(ema, fresh, nameof(ema), nameof(fresh));
        if (fresh.Any(double.IsNaN))
            return ((double[])ema.Clone(), false);
        var updated = new double[ema.Length];
        for (int i = 0; i < ema.Length; i++)
            updated[i] = decay * ema[i] + (1.0 - decay) * fresh[i];
        return (updated, true);
    }
}
