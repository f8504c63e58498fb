// SparsitySchedule.cs — the cubic sparsity schedule of LoRAPrune (docs/method.md §3.1, the movement-pruning shape):
// r(t) = r0 until warm-up, r1 after T - cool-down, r1 + (r0 - r1)(1 - u)^3 between; prune events every `freq` steps
// while r0 < r(t) < r1 strictly (paper), plus one applying r1 at the first cool-down step (exact). Counts are floors.
namespace LoRAPrune.Core.Pruning;

public sealed class SparsitySchedule
{
    private readonly PruneOptions _options;

    public SparsitySchedule(PruneOptions options, long totalSteps)
    {
        options.Validate();
        if (totalSteps < 1) throw new ArgumentOutOfRangeException(nameof(totalSteps), $"the run needs at least one step, got {totalSteps}");
        _options = options;
        TotalSteps = totalSteps;
        FirstCooldownStep = (long)Math.Floor(totalSteps - options.Cooldown * totalSteps) + 1;
    }

    public long TotalSteps { get; }

    /// <summary>The first 0-based step with t &gt; T - cool-down x T (where r(t) = r1).</summary>
    public long FirstCooldownStep { get; }

    /// <summary>r(t) at 0-based optimizer step <paramref name="step"/>, with the float operations in the authors' order.</summary>
    public double At(long step)
    {
        double t = step, total = TotalSteps, r0 = _options.InitRatio, r1 = _options.Ratio;
        double w0 = _options.Warmup, w1 = _options.Cooldown;
        if (t <= w0 * total) return r0;
        if (t > total - w1 * total) return r1;
        double warmupSteps = w0 * total;
        double scheduleSteps = (w1 + w0) * total;
        double mulCoeff = 1 - (t - warmupSteps) / (total - scheduleSteps);
        return r1 + (r0 - r1) * (mulCoeff * mulCoeff * mulCoeff);
    }

    /// <summary>True when step <paramref name="step"/> rewrites the masks (docs/method.md §3.2).</summary>
    public bool IsPruneStep(long step)
    {
        if (step < 0 || step >= TotalSteps) return false;
        double r = At(step);
        bool paperEvent = step % _options.Frequency == 0 && r > _options.InitRatio && r < _options.Ratio;
        return paperEvent || (_options.Schedule == ScheduleVariant.Exact && step == FirstCooldownStep);
    }

    /// <summary>Every prune step of the run, in order.</summary>
    public IEnumerable<long> PruneSteps()
    {
        for (long t = 0; t < TotalSteps; t++)
            if (IsPruneStep(t)) yield return t;
    }

    /// <summary>Groups removed out of <paramref name="groups"/> at ratio <paramref name="ratio"/>: Python's int(G * r) as
    /// the authors' code does (paper), or the floor with a 1e-9 guard so an exact product such as 0.29 x 100 is not
    /// lost to rounding (exact).</summary>
    public int PrunedCount(int groups, double ratio) => _options.Schedule == ScheduleVariant.Paper
        ? (int)(groups * ratio)
        : (int)Math.Floor(groups * ratio + 1e-9);

    /// <summary>Groups removed out of <paramref name="groups"/> once every event has run (the ratio of the last event).</summary>
    public int FinalPrunedCount(int groups) => PruneSteps().Select(t => PrunedCount(groups, At(t))).DefaultIfEmpty(0).Max();
}
