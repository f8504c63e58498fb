// BarrierKnockoutTests.cs — evidence that the conformance suite depends on every barrier of the
// CUDA kernels. Every case runs once on the emulator, which records the barrier sites it meets;
// then each barrier site of native/src/cuda is knocked out in turn (the emulator skips it, as if the
// line were deleted) and the cases that meet it run in the three barrier orders until one fails.
// A site no case fails without is either redundant or untested: the test fails and names it.
// Also: two contexts in different barrier orders at the same time keep their own order.
using System.Diagnostics;
using System.Text;
using LoRAPrune.Native;
using Xunit.Abstractions;

namespace LoRAPrune.Tests.Conformance;

public class BarrierKnockoutTests(ITestOutputHelper output)
{
    /// <summary>A case that met a site without a knockout, with its run time (cheap cases are tried first).</summary>
    private sealed record Reach(OpCase Case, TimeSpan Time, long MaxPassesPerBlock);

    /// <summary>The table site | kernel | caught by | most passes in one block, also written to
    /// LORAPRUNE_KNOCKOUT_REPORT when that names a file (build.sh prints it).</summary>
    [EmulatorFact]
    public void every_barrier_site_fails_some_case_when_knocked_out()
    {
        var calls = BarrierSites.Scan();
        Assert.NotEmpty(calls);
        var reach = MeasureReach();

        var unscanned = reach.Keys.Except(calls.Select(c => c.Site)).ToList();
        Assert.True(unscanned.Count == 0, "barrier sites met at run time but not found by the source scan: " + string.Join(", ", unscanned));

        var table = new StringBuilder("| site | kernel | caught by | most passes in one block |\n|---|---|---|---|\n");
        var problems = new List<string>();
        foreach (var call in calls)
        {
            string caughtBy, passes = "-";
            if (!reach.TryGetValue(call.Site, out var cases))
            {
                caughtBy = "NOT REACHED by any case";
                problems.Add($"{call.Site} ({call.Function}): no conformance case reaches it");
            }
            else
            {
                var busiest = cases.MaxBy(r => r.MaxPassesPerBlock)!;
                passes = $"{busiest.MaxPassesPerBlock} ({busiest.Case.Name})";
                caughtBy = KnockOut(call, cases, problems);
            }
            table.Append($"| {call.Site} | {call.Function} | {caughtBy} | {passes} |\n");
        }
        output.WriteLine(table.ToString());
        if (Environment.GetEnvironmentVariable("LORAPRUNE_KNOCKOUT_REPORT") is { Length: > 0 } path) File.WriteAllText(path, table.ToString());
        Assert.True(problems.Count == 0, string.Join("\n", problems) + "\n" + table);
    }

    // Every case once on the emulator in forward order: which barrier sites it meets, how often in one block.
    private static Dictionary<string, List<Reach>> MeasureReach()
    {
        var forward = TestBackends.Emulated.First(v => v.Order == EmulationOrder.Forward);
        var reach = new Dictionary<string, List<Reach>>();
        foreach (var opCase in ConformanceTests.Cases.Values)
        {
            IReadOnlyList<BarrierSite> met = [];
            var clock = Stopwatch.StartNew();
            ConformanceTests.RunCase(forward, opCase, ctx => met = ctx.TakeEmulationBarrierSites());
            foreach (var site in met)
            {
                if (!reach.TryGetValue(site.Site, out var list)) reach[site.Site] = list = new List<Reach>();
                list.Add(new Reach(opCase, clock.Elapsed, site.MaxPassesPerBlock));
            }
        }
        return reach;
    }

    // Runs the cases that meet the site, cheapest first, with the site knocked out in every barrier
    // order; the first case that fails in some order catches it.
    private static string KnockOut(BarrierCall call, List<Reach> cases, List<string> problems)
    {
        foreach (var r in cases.OrderBy(r => r.Time))
        {
            var failedIn = new List<string>();
            foreach (var variant in TestBackends.Emulated)
            {
                try
                {
                    ConformanceTests.RunCase(variant with { Knockout = call.Site }, r.Case, ctx =>
                    {
                        var skipped = ctx.TakeEmulationBarrierSites().Where(s => s.Site == call.Site).Sum(s => s.Skipped);
                        if (skipped == 0) problems.Add($"{call.Site}: knocked out, yet {r.Case.Name} went through it no time in {variant.Name}");
                    });
                }
                catch (Exception)
                {
                    failedIn.Add(variant.Order.ToString().ToLowerInvariant());
                }
            }
            if (failedIn.Count > 0) return $"{r.Case.Name} ({string.Join(", ", failedIn)})";
        }
        problems.Add($"{call.Site} ({call.Function}): no case fails without it (tried {string.Join("; ", cases.Select(r => r.Case.Name))})");
        return "NOT CAUGHT";
    }

    /// <summary>Two threads create contexts in opposite barrier orders and run the same op at the same
    /// time, with the barrier of the bias column sum knocked out: read before the other phases of the
    /// block wrote, that sum is only right when the reading threads run last (reverse order). Every
    /// reverse run matches the run with the barrier and every forward run differs, so no launch took
    /// the other context's order. Each run has its own data, so what an earlier launch left in shared
    /// memory is never the right answer.</summary>
    [EmulatorFact]
    public void two_contexts_keep_their_own_barrier_order_at_the_same_time()
    {
        var site = BarrierSites.Scan().Single(c => c.File == "bias.cu").Site;
        var emulated = TestBackends.Emulated;
        var intact = emulated.First(v => v.Order == EmulationOrder.Forward);
        var reverse = emulated.First(v => v.Order == EmulationOrder.Reverse) with { Knockout = site };
        var forward = intact with { Knockout = site };
        const int rows = 300, cols = 37, rounds = 40;
        static float[] ColumnSums(BackendVariant variant, float[] dy)
        {
            using var ctx = variant.CreateContext();
            using var tdy = ctx.Upload(dy, rows, cols);
            using var dbias = ctx.Upload(new float[cols], cols);
            ctx.BiasBackward(tdy, null, dbias);
            return dbias.ToFloatArray();
        }
        // How many of the rounds of `variant` gave the same sums as the intact kernel.
        int Matching(BackendVariant variant, int seed)
        {
            int same = 0;
            for (int i = 0; i < rounds; i++)
            {
                var dy = Gen.Floats(seed + i, rows * cols);
                if (ColumnSums(variant, dy).SequenceEqual(ColumnSums(intact, dy))) same++;
            }
            return same;
        }
        var forwardRight = Task.Run(() => Matching(forward, 1000));
        int reverseRight = Matching(reverse, 2000);
        Assert.True(reverseRight == rounds && forwardRight.Result == 0,
                    $"{site} knocked out: {reverseRight} of {rounds} reverse runs right, {forwardRight.Result} of {rounds} forward runs right");
    }
}
