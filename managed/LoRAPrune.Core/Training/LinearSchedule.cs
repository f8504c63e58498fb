// LinearSchedule.cs — the learning rate of each optimizer step: linear warm-up from 0, then linear
// decay to 0 at the last step, exactly HF's get_linear_schedule_with_warmup (docs/method.md §3.5), where
// step is the 0-based global step whose optimizer.step() uses the rate.
namespace LoRAPrune.Core.Training;

public sealed record LinearSchedule(double PeakRate, long WarmupSteps, long TotalSteps)
{
    /// <summary>The rate of 0-based step <paramref name="step"/>:
    /// step &lt; W: peak * step / max(1, W); else peak * max(0, (T - step) / max(1, T - W)).</summary>
    public double At(long step)
    {
        if (step < WarmupSteps) return PeakRate * step / Math.Max(1, WarmupSteps);
        return PeakRate * Math.Max(0.0, (double)(TotalSteps - step) / Math.Max(1, TotalSteps - WarmupSteps));
    }
}
