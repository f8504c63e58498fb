// PrunePlan.cs — what a pruning run will remove, known before it starts (docs/method.md §3.4): per layer the KV groups
// (and query heads) and MLP channels left once the schedule's last event has run, and the parameters before and after,
// so `--ratio` (a per-layer group fraction) can be read against the whole model. Also solves --target-params.
using LoRAPrune.Core.Inference;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Core.Pruning;

/// <summary>One layer of a plan: units before and after (heads = groups x n_rep).</summary>
public sealed record LayerPlan(int Layer, bool Prunable, int Groups, int GroupsKept, int QueryHeadsPerGroup, int Channels, int ChannelsKept)
{
    public int Heads => Groups * QueryHeadsPerGroup;
    public int HeadsKept => GroupsKept * QueryHeadsPerGroup;
}

/// <param name="AppliedRatio">The ratio of the last prune event (paper schedule: just below --ratio).</param>
/// <param name="LongRun">True when no step count was given: the counts are those of a long run (the last event's ratio
/// approaches --ratio from below).</param>
public sealed record PrunePlan(LlamaConfig Original, LlamaConfig Pruned, PruneOptions Options, IReadOnlyList<LayerPlan> Layers, double AppliedRatio,
    bool LongRun, long ParametersBefore, long ParametersAfter)
{
    /// <summary>Fraction of all parameters removed.</summary>
    public double RemovedFraction => 1.0 - (double)ParametersAfter / ParametersBefore;

    /// <summary>The plan of a run of <paramref name="totalSteps"/> optimizer steps, or of a long run when null.</summary>
    public static PrunePlan Make(LlamaConfig config, PruneOptions options, long? totalSteps)
    {
        options.Validate();
        var schedule = new SparsitySchedule(options, totalSteps ?? 1_000_000);
        double? applied = totalSteps is null ? null : LastEventRatio(schedule);
        var layers = new List<LayerPlan>();
        IReadOnlySet<int> prunable = PrunableLayers(config, options).ToHashSet();
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            int groups = config.KeyValueHeads(l), channels = config.Intermediate(l);
            int removedGroups = 0, removedChannels = 0;
            if (prunable.Contains(l))
            {
                removedGroups = Removed(schedule, options, groups, applied, roundKept: false);
                removedChannels = Removed(schedule, options, channels, applied, roundKept: options.Uniform);
            }
            layers.Add(new LayerPlan(l, prunable.Contains(l), groups, groups - removedGroups, config.AttentionHeads(l) / groups, channels, channels - removedChannels));
        }
        LlamaConfig pruned = config.WithLayerWidths(layers.Select(p => p.HeadsKept).ToList(), layers.Select(p => p.GroupsKept).ToList(),
            layers.Select(p => p.ChannelsKept).ToList());
        return new PrunePlan(config, pruned, options, layers, applied ?? options.Ratio, totalSteps is null,
            ParameterCounts.Of(config).Total, ParameterCounts.Of(pruned).Total);
    }

    /// <summary>Layers that may be pruned: index &gt;= floor(ExemptFirst x L) and &lt; L - ExemptLast.</summary>
    public static IEnumerable<int> PrunableLayers(LlamaConfig config, PruneOptions options)
    {
        int layers = config.NumHiddenLayers;
        int first = (int)Math.Floor(options.ExemptFirst * layers);
        for (int l = first; l < layers - options.ExemptLast; l++) yield return l;
    }

    // Removed units for a known last-event ratio, or in the long-run limit: the paper's events approach r1 from below, so
    // floor(G (r1 - eps)) = ceil(G r1) - 1; the exact variant applies r1 itself.
    private static int Removed(SparsitySchedule schedule, PruneOptions options, int total, double? applied, bool roundKept)
    {
        if (applied is { } r) return LocalSelection.TargetRemoved(schedule, total, r, roundKept);
        if (options.Schedule == ScheduleVariant.Exact) return LocalSelection.TargetRemoved(schedule, total, options.Ratio, roundKept);
        double product = total * options.Ratio;
        int removed = Math.Max(0, (int)Math.Ceiling(product - 1e-9) - 1);
        removed = Math.Clamp(removed, 0, total - 1);
        if (!roundKept) return removed;
        int m = PruneOptions.UniformChannelMultiple;
        return total - Math.Min(total, (total - removed + m - 1) / m * m);
    }

    /// <summary>The ratio the schedule's last event applies, or r0 when no event fits in the run.</summary>
    public static double LastEventRatio(SparsitySchedule schedule) =>
        schedule.PruneSteps().Select(schedule.At).DefaultIfEmpty(double.NaN).Last();

    /// <summary>The --ratio that leaves at most <paramref name="keepFraction"/> of all parameters, as close to it as the
    /// floors allow (bisection over the ratio; the remaining parameters fall monotonically as the ratio grows).</summary>
    public static double SolveRatio(LlamaConfig config, PruneOptions options, long? totalSteps, double keepFraction)
    {
        if (!(keepFraction > 0 && keepFraction < 1)) throw new ArgumentOutOfRangeException(nameof(keepFraction), $"--target-params must be in (0, 1), got {keepFraction}");
        long before = ParameterCounts.Of(config).Total;
        double Keep(double ratio) => (double)Make(config, options with { Ratio = ratio }, totalSteps).ParametersAfter / before;
        double lo = options.InitRatio + 1e-6, hi = 1 - 1e-6;
        if (Keep(hi) > keepFraction)
            throw new ArgumentException($"--target-params {keepFraction}: even --ratio {hi} keeps {Keep(hi):P1} of the parameters (embeddings, norms and exempt layers are never pruned)");
        for (int i = 0; i < 60; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (Keep(mid) > keepFraction) lo = mid;
            else hi = mid;
        }
        return hi;
    }
}
