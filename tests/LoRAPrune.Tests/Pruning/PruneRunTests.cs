// PruneRunTests.cs — whole prune runs on a small random GQA model: a masked run (kept-only normalisation) and a
// progressively compacted one lose the same step for step and keep the same structure (cpu and cudaemu); the saved
// model scores exactly like the original model + adapter + masks it came from; a run stopped at any step (right after
// a prune event or a compaction included) and resumed ends byte-identical (cpu); a step without counted targets leaves
// the importance average alone.
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Pruning;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;
using LoRAPrune.Tests.Conformance;
using LoRAPrune.Tests.Training;
using Xunit.Abstractions;

namespace LoRAPrune.Tests.Pruning;

/// <summary>The model, data and settings the prune tests share.</summary>
internal static class PruneFixtures
{
    /// <summary>A small GQA model: C=32, 4 layers, H=8, KVH=4 (n_rep 2), D=4, F=48, V=64.</summary>
    public static LlamaConfig Config => TrainingFixtures.Tiny with
    {
        HiddenSize = 32, NumHiddenLayers = 4, NumAttentionHeads = 8, NumKeyValueHeads = 4, HeadDim = 4, IntermediateSize = 48, VocabSize = 64,
    };

    public const int Seq = 16;

    /// <summary>A learnable pattern with noise, so the loss moves and the gradients carry information.</summary>
    public static TrainingFixtures.MemoryBlocks Data(int seed = 3)
    {
        int[] ids = TrainingFixtures.Pattern(40 * Seq + 1, Config.VocabSize);
        var rng = new Random(seed);
        for (int i = 0; i < ids.Length; i += 7) ids[i] = rng.Next(Config.VocabSize);
        return new TrainingFixtures.MemoryBlocks(ids, Seq, "pattern");
    }

    public static PruneSettings Settings(string model, string output, PruneOptions prune, double dropout = 0.05, int steps = 40, bool resume = false) => new()
    {
        Run = new RunSettings
        {
            OutputFolder = output, Data = new DataSpec(DataSpec.Tokens, ["pattern"]), Steps = steps, Batch = 4, MicroBatch = 2, Seq = Seq,
            LearningRate = 5e-3, SaveEvery = 5, Seed = 17, Resume = resume,
        },
        Model = new LoraModelSettings { ModelFolder = model, Lora = new LoraOptions { Rank = 4, Alpha = 8, Dropout = dropout } },
        Prune = prune with { Frequency = 5 },
        EvalSets = [],
    };

    /// <summary>Options of a compaction mode, with the normalisation it needs (progressive: over kept groups only).</summary>
    public static PruneOptions Options(CompactionMode compaction) => new()
    {
        Compaction = compaction,
        Normalization = compaction == CompactionMode.Progressive ? ScoreNormalization.KeptGroups : ScoreNormalization.AllGroups,
    };

    public static PruneRun Open(Context ctx, PruneSettings settings, ISampleSource data) =>
        new(ctx, settings, LlamaConfig.Load(Path.Combine(settings.Model.ModelFolder, LlamaCheckpoint.ConfigFileName)), data, null, null);
}

public sealed class PruneRunTests(ITestOutputHelper output) : IDisposable
{
    private readonly TrainingFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string Model(string kind = "llama")
    {
        string model = _folder.Sub($"model-{kind}");
        LlamaConfig config = kind switch
        {
            "qwen2" => PruneFixtures.Config with { ModelType = "qwen2", QkvBias = true },           // q/k/v biases, pruned with their rows
            "llama+biases" => PruneFixtures.Config with { QkvBias = true, OutputBias = true, MlpBias = true }, // o/down biases stay whole
            _ => PruneFixtures.Config,
        };
        if (!Directory.Exists(model)) TrainingFixtures.WriteModel(model, config, seed: 9, std: 0.3); // biases too are normal(0, 0.3)
        return model;
    }

    public static IEnumerable<object[]> CpuAndEmulator =>
        TestBackends.Variants.Where(v => v.Name is "cpu" or "cudaemu/forward").Select(v => new object[] { v.Name });

    private (TrainingOutcome Outcome, List<double> Losses, KeptStructure Kept) Run(BackendVariant backend, PruneSettings settings, long stopAfter = long.MaxValue)
    {
        using Context ctx = backend.CreateContext();
        using PruneRun run = PruneFixtures.Open(ctx, settings, PruneFixtures.Data());
        var losses = new List<double>();
        using var stop = new CancellationTokenSource();
        TrainingOutcome outcome = run.Run((report, _) =>
        {
            losses.Add(report.Loss);
            if (report.Step == stopAfter) stop.Cancel();
        }, stop.Token);
        return (outcome, losses, run.Kept.Clone());
    }

    [Theory]
    [MemberData(nameof(CpuAndEmulator))]
    public void Masked_and_progressively_compacted_runs_lose_the_same_step_for_step(string backend)
    {
        // No LoRA dropout: its random stream is laid out over o/down inputs, whose width compaction changes.
        // f32 activations on every backend: compaction reorders f32 sums by an ulp, and a bf16 activation store would
        // round some of those to a different bf16 value (2^-8 apart), which 40 steps amplify to a 1-2% loss difference.
        var masked = new PruneOptions { Normalization = ScoreNormalization.KeptGroups };
        var progressive = masked with { Compaction = CompactionMode.Progressive };
        PruneSettings F32(PruneSettings s) => s with { Run = s.Run with { Activations = LpDType.F32 } };
        var a = Run(TestBackends.Get(backend), F32(PruneFixtures.Settings(Model(), _folder.Sub("masked"), masked, dropout: 0)));
        var b = Run(TestBackends.Get(backend), F32(PruneFixtures.Settings(Model(), _folder.Sub("progressive"), progressive, dropout: 0)));
        Assert.True(a.Outcome.Completed && b.Outcome.Completed);
        output.WriteLine($"losses {a.Losses[0]:F5} -> {a.Losses[^1]:F5} (masked), {b.Losses[0]:F5} -> {b.Losses[^1]:F5} (progressive)");
        // Compaction removes exactly-zero terms from f32 sums, so the losses agree to rounding (~1e-7 relative per step,
        // compounding mildly over 40 AdamW steps); a different selection or a wrong gather would differ by 1e-2 or more.
        for (int i = 0; i < a.Losses.Count; i++)
            Assert.True(Math.Abs(a.Losses[i] - b.Losses[i]) <= 1e-4 * Math.Abs(a.Losses[i]), $"step {i + 1}: masked {a.Losses[i]:R} vs progressive {b.Losses[i]:R}");
        for (int l = 0; l < PruneFixtures.Config.NumHiddenLayers; l++)
        {
            Assert.Equal(a.Kept.Groups(l), b.Kept.Groups(l));
            Assert.Equal(a.Kept.Channels(l), b.Kept.Channels(l));
        }
        Assert.True(a.Kept.Groups(0).Count < PruneFixtures.Config.NumKeyValueHeads, "the run pruned nothing");
    }

    [Theory]
    [InlineData(CompactionMode.End, "llama")]
    [InlineData(CompactionMode.Progressive, "llama")]
    [InlineData(CompactionMode.End, "qwen2")]
    [InlineData(CompactionMode.Progressive, "llama+biases")]
    public void The_saved_model_scores_exactly_like_the_original_with_the_adapter_and_masks(CompactionMode compaction, string kind)
    {
        PruneOptions options = PruneFixtures.Options(compaction);
        string outFolder = _folder.Sub("out");
        var (outcome, _, kept) = Run(TestBackends.Get("cpu"), PruneFixtures.Settings(Model(kind), outFolder, options));
        Assert.True(outcome.Completed);
        Assert.Equal(Path.Combine(outFolder, PruneRun.ModelFolderName), outcome.OutputPath);

        // masks.safetensors lists, per layer, the kept KV groups, their query heads (n_rep = 2) and the kept channels.
        using (SafetensorsFile masks = SafetensorsFile.Open(Path.Combine(outFolder, PruneRun.MasksFileName)))
            for (int l = 0; l < kept.Layers; l++)
            {
                int[] groups = Ints(masks, $"model.layers.{l}.self_attn.kept_kv_groups");
                Assert.Equal(kept.Groups(l), groups);
                Assert.Equal(groups.SelectMany(g => new[] { 2 * g, 2 * g + 1 }), Ints(masks, $"model.layers.{l}.self_attn.kept_heads"));
                Assert.Equal(kept.Channels(l), Ints(masks, $"model.layers.{l}.mlp.kept_channels"));
            }

        var rng = new Random(8);
        int[] tokens = Enumerable.Range(0, 2 * PruneFixtures.Seq).Select(_ => rng.Next(PruneFixtures.Config.VocabSize)).ToArray();
        int[] targets = tokens.Skip(1).Append(0).ToArray();
        using Context ctx = TestBackends.Get("cpu").CreateContext();
        double expected;
        using (LlamaCheckpoint original = LlamaCheckpoint.Open(Model(kind)))
        using (LlamaWeights weights = LlamaWeights.Load(ctx, original, LpDType.F32))
        {
            PeftAdapter peft = PeftAdapter.Load(Path.Combine(outFolder, PruneRun.AdapterFolderName), original.Config);
            using LoraAdapters lora = LoraAdapters.FromPeft(ctx, original.Config, peft, peft.Config);
            using var masks = new OutputMasks(ctx, original.Config);
            for (int l = 0; l < kept.Layers; l++)
            {
                masks.SetKvGroups(l, kept.GroupFlags(l));
                masks.SetChannels(l, kept.ChannelFlags(l));
            }
            using var graph = new LlamaGraph(weights, lora, masks, 2, PruneFixtures.Seq);
            expected = graph.Forward(tokens, targets).Mean;
        }
        using LlamaCheckpoint saved = LlamaCheckpoint.Open(Path.Combine(outFolder, PruneRun.ModelFolderName));
        Assert.Equal(kept.PrunedConfig().Intermediate(0), saved.Config.Intermediate(0));
        using LlamaWeights savedWeights = LlamaWeights.Load(ctx, saved, LpDType.F32);
        using var savedGraph = new LlamaGraph(savedWeights, null, null, 2, PruneFixtures.Seq);
        double actual = savedGraph.Forward(tokens, targets).Mean;
        output.WriteLine($"loss original+adapter+masks {expected:R}, saved pruned model {actual:R}");
        // The merge W += s B A is one f32 rounding per weight and the compacted sums skip exact zeros: ~1e-7 relative.
        Assert.Equal(expected, actual, 1e-5 * expected);
        Assert.True(saved.Config.LayerIntermediateSizes is not null, "layers differ in width, so config.json carries the per-layer loraprune_* fields");
    }

    private static int[] Ints(SafetensorsFile file, string name)
    {
        byte[] bytes = file.GetBytes(file.GetTensor(name)).ToArray();
        return Enumerable.Range(0, bytes.Length / 4).Select(i => BitConverter.ToInt32(bytes, i * 4)).ToArray();
    }

    [Theory]
    [InlineData(CompactionMode.End)]
    [InlineData(CompactionMode.Progressive)]
    public void A_run_stopped_at_any_step_and_resumed_ends_byte_identical(CompactionMode compaction)
    {
        PruneOptions options = PruneFixtures.Options(compaction);
        BackendVariant cpu = TestBackends.Get("cpu");
        string whole = _folder.Sub("whole");
        Run(cpu, PruneFixtures.Settings(Model(), whole, options));
        // 40 steps, events every 5 after the warm-up (t = 5, 10, ..., 35): stop right after the first event's step (6
        // completed; progressive runs have just compacted), a step later, and mid-way between two later events.
        foreach (int stopAt in new[] { 6, 7, 23 })
        {
            string split = _folder.Sub($"split-{stopAt}");
            var (first, _, _) = Run(cpu, PruneFixtures.Settings(Model(), split, options), stopAfter: stopAt);
            Assert.False(first.Completed);
            using (TrainingCheckpoint checkpoint = TrainingCheckpoint.Open(first.CheckpointPath)) Assert.Equal(stopAt, checkpoint.Step);
            var (second, _, _) = Run(cpu, PruneFixtures.Settings(Model(), split, options, resume: true));
            Assert.True(second.Completed);
            Assert.Equal(stopAt, second.StartStep);
            foreach (string file in new[] { "model/model.safetensors", "model/config.json", "adapter/adapter_model.safetensors", PruneRun.MasksFileName })
                Assert.True(File.ReadAllBytes(Path.Combine(whole, file)).SequenceEqual(File.ReadAllBytes(Path.Combine(split, file))), $"{file} differs after a stop at step {stopAt}");
            Assert.Equal(MetricLines(whole), MetricLines(split));
        }
    }

    // Every metrics.jsonl line without its timing fields.
    private static string[] MetricLines(string folder) =>
        File.ReadAllLines(Path.Combine(folder, MetricsLog.FileName))
            .Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!.AsObject())
            .Select(o =>
            {
                o.Remove("tokens_per_s");
                o.Remove("elapsed_s");
                return o.ToJsonString();
            }).ToArray();

    [Fact]
    public void A_step_without_counted_targets_leaves_the_importance_average_alone()
    {
        // Every other sample takes no loss; with one sample per step, those steps have zero gradients.
        var data = new HalfIgnored(PruneFixtures.Data());
        PruneSettings settings = PruneFixtures.Settings(Model(), _folder.Sub("out"), new PruneOptions());
        settings = settings with { Run = settings.Run with { Batch = 1, MicroBatch = 1, Steps = 30 } };
        using Context ctx = TestBackends.Get("cpu").CreateContext();
        using PruneRun run = PruneFixtures.Open(ctx, settings, data);
        float[] before = run.Importance.Ema.Download();
        int ignoredSteps = 0, countedSteps = 0;
        run.Run((report, _) =>
        {
            float[] after = run.Importance.Ema.Download();
            if (report.LossTokens == 0)
            {
                Assert.Equal(before, after);
                ignoredSteps++;
            }
            else
            {
                Assert.NotEqual(before, after);
                countedSteps++;
            }
            before = after;
        }, CancellationToken.None);
        output.WriteLine($"{ignoredSteps} steps without counted targets, {countedSteps} with");
        Assert.True(ignoredSteps > 3 && countedSteps > 3);
    }

    // Samples with an odd index take no loss (all targets ignored).
    private sealed class HalfIgnored(ISampleSource inner) : ISampleSource
    {
        public int Count => inner.Count;
        public int SequenceLength => inner.SequenceLength;
        public string Description => "half ignored";

        public TrainingSample this[int index] => index % 2 == 0
            ? inner[index]
            : new TrainingSample(inner[index].Tokens, Enumerable.Repeat(TrainingSample.IgnoreIndex, SequenceLength).ToArray());
    }
}
