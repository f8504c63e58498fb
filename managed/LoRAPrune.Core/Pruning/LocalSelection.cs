// LocalSelection.cs — the per-layer ("local") selection of LoRAPrune (docs/method.md §3.2): at a prune event every
// prunable layer removes the same fraction of its KV groups and of its MLP channels, choosing the lowest moving-average
// scores among what it still keeps. Pruned units never return; ties go to the lower original index.
namespace LoRAPrune.Core.Pruning;

public static class LocalSelection
{
    /// <summary>Units of <paramref name="total"/> that are removed once ratio <paramref name="ratio"/> applies. In uniform
    /// mode MLP channels (<paramref name="roundKept"/>) keep a multiple of 8, rounded up so no more is removed than asked.</summary>
    public static int TargetRemoved(SparsitySchedule schedule, int total, double ratio, bool roundKept)
    {
        int removed = Math.Clamp(schedule.PrunedCount(total, ratio), 0, total - 1);
        if (!roundKept) return removed;
        int m = PruneOptions.UniformChannelMultiple;
        int kept = Math.Min(total, (total - removed + m - 1) / m * m);
        return total - kept;
    }

    /// <summary>The original indices to remove now: the (target - already removed) kept units with the lowest score,
    /// ties broken by the lower original index. <paramref name="scores"/> holds one score per kept unit, in kept order
    /// (the authors' code ranks score x mask, where pruned units score 0 and sort first: the same choice).</summary>
    public static int[] Choose(IReadOnlyList<int> kept, ReadOnlySpan<float> scores, int total, int targetRemoved)
    {
        if (scores.Length != kept.Count) throw new ArgumentException($"{scores.Length} scores for {kept.Count} kept units", nameof(scores));
        int fresh = targetRemoved - (total - kept.Count);
        if (fresh <= 0) return [];
        var order = new int[kept.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        float[] s = scores.ToArray();
        Array.Sort(order, (a, b) => s[a] != s[b] ? s[a].CompareTo(s[b]) : kept[a].CompareTo(kept[b]));
        return order.Take(fresh).Select(i => kept[i]).Order().ToArray();
    }
}
