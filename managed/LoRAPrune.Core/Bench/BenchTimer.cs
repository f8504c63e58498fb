// BenchTimer.cs — wall-clock timing of one op on one context: warm-up calls, then `repeat` samples,
// each bracketed by Context.Synchronize() so device backends are timed to completion. Ops faster
// than about a millisecond are called several times per sample so the clock's resolution and the
// synchronisation cost do not dominate; the time reported is per call.
using System.Diagnostics;

namespace LoRAPrune.Core.Bench;

/// <param name="MedianSeconds">Median over the samples of the time per call.</param>
/// <param name="MinSeconds">Fastest sample's time per call.</param>
/// <param name="CallsPerSample">Back-to-back calls inside one sample.</param>
/// <param name="Samples">Number of samples.</param>
public sealed record Timing(double MedianSeconds, double MinSeconds, int CallsPerSample, int Samples);

public static class BenchTimer
{
    /// <summary>Samples shorter than this get more calls.</summary>
    public const double TargetSampleSeconds = 1e-3;

    public const int MaxCallsPerSample = 1000;

    public static Timing Measure(Native.Context context, Action launch, int warmup, int repeat)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(warmup);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeat, 1);
        for (int i = 0; i < warmup; i++) launch();
        context.Synchronize();

        // One call decides the calls per sample; when one call is long enough it is the first sample.
        double single = Sample(context, launch, 1);
        int calls = single >= TargetSampleSeconds ? 1 : (int)Math.Min(MaxCallsPerSample, Math.Ceiling(TargetSampleSeconds / Math.Max(single, 1e-7)));

        var perCall = new double[repeat];
        int first = 0;
        if (calls == 1) perCall[first++] = single;
        for (int i = first; i < repeat; i++) perCall[i] = Sample(context, launch, calls) / calls;
        Array.Sort(perCall);
        double median = repeat % 2 == 1 ? perCall[repeat / 2] : 0.5 * (perCall[repeat / 2 - 1] + perCall[repeat / 2]);
        return new Timing(median, perCall[0], calls, repeat);
    }

    private static double Sample(Native.Context context, Action launch, int calls)
    {
        context.Synchronize();
        long start = Stopwatch.GetTimestamp();
        for (int k = 0; k < calls; k++) launch();
        context.Synchronize();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }
}
