// Validator.cs — decides whether an op's outputs are right before it is timed: against the cpu
// backend's outputs on identical inputs (normalised L2 error of every output), or, on the cpu
// backend itself, against float64 values of sampled elements. Non-finite values always fail.
using System.Globalization;

namespace LoRAPrune.Core.Bench;

/// <summary>How an op was validated.</summary>
public enum ValidationMethod
{
    /// <summary>Compared with the cpu backend's outputs on identical inputs.</summary>
    CpuCompare,
    /// <summary>Sampled elements compared with values computed in float64 by the benchmark (the cpu backend).</summary>
    SpotCheckFloat64,
}

/// <param name="Passed">True when every output is within the tolerance and finite.</param>
/// <param name="Method">What it was compared with.</param>
/// <param name="Error">The largest normalised L2 error over the outputs (0 for the conformance-suite method).</param>
/// <param name="Tolerance">The threshold and its reason.</param>
/// <param name="Detail">Per-output errors, or the first mismatches when it failed.</param>
public sealed record Validation(bool Passed, ValidationMethod Method, double Error, Tolerance Tolerance, string Detail)
{
    /// <summary>"vs cpu nerr 3.1e-07 &lt;= 1e-04", "f64 spot nerr 2.0e-08 &lt;= 1e-04", or the same prefixed with FAILED.</summary>
    public string Summary
    {
        get
        {
            string what = Method == ValidationMethod.CpuCompare ? "vs cpu" : "f64 spot";
            string verdict = $"{what} nerr {Validator.Format(Error)} {(Passed ? "<=" : ">")} {Validator.Format(Tolerance.Limit)}";
            return Passed ? verdict : "FAILED " + verdict;
        }
    }
}

public static class Validator
{
    /// <summary>Compares every output with the reference outputs of the same names (the cpu backend's).</summary>
    public static Validation CompareOutputs(IReadOnlyDictionary<string, float[]> got, IReadOnlyDictionary<string, float[]> reference, Tolerance tolerance)
    {
        var detail = new List<string>();
        double worst = 0;
        bool passed = true;
        foreach ((string name, float[] expected) in reference)
        {
            if (!got.TryGetValue(name, out float[]? values))
            {
                detail.Add($"{name}: missing");
                passed = false;
                continue;
            }
            (bool ok, double error, string text) = CompareOne(name, values, expected, tolerance);
            passed &= ok;
            worst = Math.Max(worst, double.IsNaN(error) ? double.PositiveInfinity : error);
            detail.Add(text);
        }
        return new Validation(passed, ValidationMethod.CpuCompare, worst, tolerance, string.Join("; ", detail));
    }

    /// <summary>
    /// Normalised L2 error ||got - reference|| / ||reference|| of one output (the absolute norm when the
    /// reference is all zeros), and whether it is within the tolerance with no NaN or infinity in got.
    /// </summary>
    public static (bool Passed, double Error, string Detail) CompareOne(string name, float[] got, float[] reference, Tolerance tolerance)
    {
        if (got.Length != reference.Length) return (false, double.PositiveInfinity, $"{name}: {got.Length} elements but the reference has {reference.Length}");
        double diff2 = 0, ref2 = 0, maxAbs = 0;
        long worst = -1, nonFinite = 0;
        for (long i = 0; i < got.Length; i++)
        {
            if (!float.IsFinite(got[i]))
            {
                nonFinite++;
                continue;
            }
            double d = (double)got[i] - reference[i];
            diff2 += d * d;
            ref2 += (double)reference[i] * reference[i];
            if (Math.Abs(d) > maxAbs)
            {
                maxAbs = Math.Abs(d);
                worst = i;
            }
        }
        double error = ref2 > 0 ? Math.Sqrt(diff2 / ref2) : Math.Sqrt(diff2);
        bool passed = nonFinite == 0 && error <= tolerance.Limit;
        string text = $"{name}: n={got.Length} nerr={Format(error)} maxabs={Format(maxAbs)}";
        if (nonFinite > 0) text += $", {nonFinite} non-finite value(s)";
        if (!passed && worst >= 0) text += $", worst [{worst}] got {got[worst].ToString("G9", CultureInfo.InvariantCulture)} want {reference[worst].ToString("G9", CultureInfo.InvariantCulture)}";
        return (passed, error, text);
    }

    /// <summary>
    /// Judges float64 spot samples: normalised L2 error over the samples of each output, and every
    /// output scanned for NaN or infinity.
    /// </summary>
    public static Validation CheckSamples(IReadOnlyDictionary<string, float[]> outputs, IEnumerable<SpotSample> samples, Tolerance tolerance)
    {
        var detail = new List<string>();
        double worst = 0;
        bool passed = true;
        foreach (IGrouping<string, SpotSample> group in samples.GroupBy(sample => sample.Output))
        {
            double diff2 = 0, ref2 = 0;
            SpotSample? worstSample = null;
            foreach (SpotSample sample in group)
            {
                double d = sample.Got - sample.Expected;
                diff2 += double.IsFinite(d) ? d * d : double.PositiveInfinity;
                ref2 += sample.Expected * sample.Expected;
                if (worstSample is null || Math.Abs(d) > Math.Abs(worstSample.Value.Got - worstSample.Value.Expected) || !double.IsFinite(d)) worstSample = sample;
            }
            double error = ref2 > 0 ? Math.Sqrt(diff2 / ref2) : Math.Sqrt(diff2);
            bool ok = error <= tolerance.Limit;
            passed &= ok;
            worst = Math.Max(worst, double.IsNaN(error) ? double.PositiveInfinity : error);
            string text = $"{group.Key}: {group.Count()} samples nerr={Format(error)}";
            if (!ok && worstSample is { } w)
                text += $", worst [{w.Index}] got {w.Got.ToString("G9", CultureInfo.InvariantCulture)} want {w.Expected.ToString("G9", CultureInfo.InvariantCulture)}";
            detail.Add(text);
        }
        foreach ((string name, float[] values) in outputs)
        {
            long nonFinite = values.LongCount(v => !float.IsFinite(v));
            if (nonFinite == 0) continue;
            passed = false;
            worst = double.PositiveInfinity;
            detail.Add($"{name}: {nonFinite} non-finite value(s)");
        }
        return new Validation(passed, ValidationMethod.SpotCheckFloat64, worst, tolerance, string.Join("; ", detail));
    }

    public static string Format(double value) =>
        value == 0 ? "0" : double.IsFinite(value) ? value.ToString("0.0e+00", CultureInfo.InvariantCulture) : value.ToString(CultureInfo.InvariantCulture);
}
