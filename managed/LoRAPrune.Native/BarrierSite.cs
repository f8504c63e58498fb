// BarrierSite.cs — one barrier call site of the CUDA sources as the emulated backend reports it
// (lp_context_take_emulation_barrier_sites): how often it released a block, the most times in one
// block (2 or more inside a loop that ran at least twice) and the threads a knockout let through.
using System.Globalization;

namespace LoRAPrune.Native;

/// <summary>A barrier site "file:line" and what the launches of a context did there.</summary>
public sealed record BarrierSite(string Site, long Passes, long MaxPassesPerBlock, long Skipped)
{
    /// <summary>Reads the native text: one "file:line passes max_passes_per_block skipped" line per site.</summary>
    internal static IReadOnlyList<BarrierSite> ParseLines(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' '))
            .Select(f => new BarrierSite(f[0], long.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[2], CultureInfo.InvariantCulture),
                                         long.Parse(f[3], CultureInfo.InvariantCulture)))
            .ToList();
}
