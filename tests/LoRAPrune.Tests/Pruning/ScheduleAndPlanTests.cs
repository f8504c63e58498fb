// ScheduleAndPlanTests.cs — the cubic schedule, its prune events and the plan against the specification's numbers
// (docs/method.md §3), without loading weights: LLaMA-7B at 0.5 and 0.2 prunes 15 heads / 5503 channels and 6 / 2201
// in layers 3-30 (0-2 and 31 exempt); the exact variant applies the ratio itself; uniform rounding; --target-params.
using LoRAPrune.Core.Inference;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Pruning;

namespace LoRAPrune.Tests.Pruning;

public class ScheduleAndPlanTests
{
    /// <summary>LLaMA-1 7B (MHA): 32 layers, hidden 4096, 32 heads of 128, MLP 11008, vocab 32000.</summary>
    public static LlamaConfig Llama7B => new()
    {
        ModelType = "llama", HiddenSize = 4096, NumAttentionHeads = 32, NumKeyValueHeads = 32, HeadDim = 128,
        IntermediateSize = 11008, NumHiddenLayers = 32, VocabSize = 32000, MaxPositionEmbeddings = 2048,
    };

    // The authors' script: about 20.2k optimizer steps per epoch of LaMini, 2 epochs.
    private const long PaperSteps = 40_400;

    [Theory]
    [InlineData(0.5, 15, 5503)]
    [InlineData(0.2, 6, 2201)]
    public void Llama7B_prunes_the_heads_and_channels_of_the_specification(double ratio, int heads, int channels)
    {
        foreach (long? steps in new long?[] { PaperSteps, 4_000, null })
        {
            PrunePlan plan = PrunePlan.Make(Llama7B, new PruneOptions { Ratio = ratio }, steps);
            Assert.Equal([0, 1, 2, 31], plan.Layers.Where(l => !l.Prunable).Select(l => l.Layer));
            foreach (LayerPlan l in plan.Layers.Where(l => l.Prunable))
            {
                Assert.Equal(32 - heads, l.HeadsKept);
                Assert.Equal(11008 - channels, l.ChannelsKept);
            }
            // Removed parameters, from the shapes: per pruned layer `heads` x 128 rows of q, k, v and columns of o, and
            // `channels` rows of gate and up and columns of down, each 4096 long.
            long removed = 28L * (heads * 128L * 4096 * 4 + channels * 4096L * 3);
            Assert.Equal(6_738_415_616, plan.ParametersBefore);
            Assert.Equal(removed, plan.ParametersBefore - plan.ParametersAfter);
            Assert.Equal(ParameterCounts.Of(plan.Pruned).Total, plan.ParametersAfter);
        }
    }

    [Fact]
    public void The_removed_fractions_are_the_specifications_41_and_16_percent()
    {
        Assert.Equal(0.412, PrunePlan.Make(Llama7B, new PruneOptions { Ratio = 0.5 }, PaperSteps).RemovedFraction, 3);
        Assert.Equal(0.165, PrunePlan.Make(Llama7B, new PruneOptions { Ratio = 0.2 }, PaperSteps).RemovedFraction, 3);
    }

    [Fact]
    public void The_exact_schedule_applies_the_ratio_itself()
    {
        PrunePlan plan = PrunePlan.Make(Llama7B, new PruneOptions { Ratio = 0.5, Schedule = ScheduleVariant.Exact }, PaperSteps);
        Assert.All(plan.Layers.Where(l => l.Prunable), l => Assert.Equal((16, 5504), (l.HeadsKept, l.ChannelsKept)));
        Assert.Equal(0.5, plan.AppliedRatio);
    }

    [Fact]
    public void Hundred_steps_prune_at_20_to_80_with_the_cubic_ratios()
    {
        var schedule = new SparsitySchedule(new PruneOptions { Ratio = 0.5 }, 100);
        // Warm-up ends at t = 10 (r(10) = r0 = 0: no event), the cool-down starts after t = 90 (r(90) = r1: not below it).
        Assert.Equal([20L, 30, 40, 50, 60, 70, 80], schedule.PruneSteps());
        Assert.Equal(0.0, schedule.At(10));
        Assert.Equal(0.5 * (1 - 0.875 * 0.875 * 0.875), schedule.At(20), 15);   // u = 10/80
        Assert.Equal(0.5 * (1 - 0.125 * 0.125 * 0.125), schedule.At(80), 15);   // u = 70/80
        Assert.Equal(0.5, schedule.At(90));
        Assert.Equal(0.5, schedule.At(99));
        Assert.Equal(91, schedule.FirstCooldownStep);

        var exact = new SparsitySchedule(new PruneOptions { Ratio = 0.5, Schedule = ScheduleVariant.Exact }, 100);
        Assert.Equal([20L, 30, 40, 50, 60, 70, 80, 91], exact.PruneSteps());
    }

    [Fact]
    public void Paper_events_stay_strictly_between_the_ratios_and_the_last_is_below_the_target()
    {
        var schedule = new SparsitySchedule(new PruneOptions { Ratio = 0.5, InitRatio = 0.1, Frequency = 7 }, 1000);
        long[] events = schedule.PruneSteps().ToArray();
        Assert.NotEmpty(events);
        Assert.All(events, t =>
        {
            Assert.Equal(0, t % 7);
            Assert.InRange(schedule.At(t), 0.1 + 1e-12, 0.5 - 1e-12);
        });
        Assert.True(events.Zip(events.Skip(1)).All(p => schedule.At(p.First) < schedule.At(p.Second)), "r(t) must grow from event to event");
    }

    [Fact]
    public void Uniform_mode_prunes_every_layer_alike_with_channels_a_multiple_of_8()
    {
        PrunePlan plan = PrunePlan.Make(Llama7B, new PruneOptions { Ratio = 0.5, Uniform = true, ExemptFirst = 0, ExemptLast = 0 }, PaperSteps);
        Assert.All(plan.Layers, l =>
        {
            Assert.True(l.Prunable);
            Assert.Equal(17, l.HeadsKept);
            Assert.Equal(5512, l.ChannelsKept); // 5505 kept by the floor, rounded up to a multiple of 8
        });
        Assert.True(plan.Pruned.IsUniform);
        Assert.Throws<ArgumentException>(() => new PruneOptions { Uniform = true }.Validate()); // exempt layers would break uniformity
    }

    [Theory]
    [InlineData(0.8)]
    [InlineData(0.6)]
    public void Target_params_finds_the_smallest_ratio_that_leaves_at_most_that_fraction(double keep)
    {
        var options = new PruneOptions();
        double ratio = PrunePlan.SolveRatio(Llama7B, options, PaperSteps, keep);
        double Kept(double r) => (double)PrunePlan.Make(Llama7B, options with { Ratio = r }, PaperSteps).ParametersAfter / 6_738_415_616;
        Assert.True(Kept(ratio) <= keep, $"ratio {ratio} keeps {Kept(ratio):P3}");
        Assert.True(Kept(ratio - 1e-6) > keep, $"a slightly smaller ratio than {ratio} would do");
        Assert.InRange(Kept(ratio), keep - 0.005, keep); // one more head or channel per layer is ~0.3 % of the model at most
    }

    [Fact]
    public void Target_params_below_what_pruning_can_reach_is_refused_with_the_reason()
    {
        var e = Assert.Throws<ArgumentException>(() => PrunePlan.SolveRatio(Llama7B, new PruneOptions(), PaperSteps, 0.1));
        Assert.Contains("embeddings, norms and exempt layers are never pruned", e.Message);
    }
}
