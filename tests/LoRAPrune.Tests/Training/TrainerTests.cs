// TrainerTests.cs — the optimizer loop on the cpu backend with a tiny random GQA model: gradient
// accumulation gives the gradients of the whole step's mean loss however the batch is split, clipping
// uses the true global norm, the LR schedule is HF's linear one, and training lowers held-out loss.
using LoRAPrune.Core.Data;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;
using LoRAPrune.Tests.Conformance;
using Xunit.Abstractions;

namespace LoRAPrune.Tests.Training;

public sealed class TrainerTests(ITestOutputHelper output)
{
    private const int Seq = 12;

    /// <summary>Samples over an id stream with a different number of ignored targets in each sample
    /// (sample i ignores its first 2i mod T targets), so micro-batches carry unequal token counts.</summary>
    private sealed class UnevenSamples(int[] ids, int seq) : ISampleSource
    {
        private readonly TrainingFixtures.MemoryBlocks _blocks = new(ids, seq);
        public int Count => _blocks.Count;
        public int SequenceLength => seq;
        public string Description => "uneven samples";

        public TrainingSample this[int index]
        {
            get
            {
                TrainingSample s = _blocks[index];
                int[] targets = (int[])s.Targets.Clone();
                Array.Fill(targets, TrainingSample.IgnoreIndex, 0, 2 * index % seq);
                return new TrainingSample(s.Tokens, targets);
            }
        }
    }

    private sealed class Model : IDisposable
    {
        public required Context Ctx;
        public required LlamaWeights Weights;
        public required LoraAdapters Lora;

        public static Model Create()
        {
            var ctx = TestBackends.Get("cpu").CreateContext();
            var weights = LlamaWeights.Random(ctx, TrainingFixtures.Tiny, seed: 3, LpDType.F32, std: 0.3);
            var lora = LoraAdapters.Create(ctx, TrainingFixtures.Tiny, new LoraOptions { Rank = 2, Alpha = 4, Dropout = 0 }, seed: 4);
            // Non-zero B so that A gets gradients too.
            var rng = new Random(5);
            float[] values = lora.Params.Download();
            foreach (TensorArena.Entry e in lora.Params.Entries.Where(e => e.Name.Contains("lora_B")))
                for (long i = 0; i < e.Count; i++) values[e.Offset + i] = (rng.NextSingle() - 0.5f) * 0.6f;
            lora.Params.Upload(values);
            return new Model { Ctx = ctx, Weights = weights, Lora = lora };
        }

        public void Dispose()
        {
            Lora.Dispose();
            Weights.Dispose();
            Ctx.Dispose();
        }
    }

    private static UnevenSamples Data() => new(TrainingFixtures.RandomIds(16 * Seq + 1, TrainingFixtures.Tiny.VocabSize, seed: 11), Seq);

    // The gradients the first step hands to AfterClip, and its report.
    private static (float[] Grads, StepReport Report) FirstStep(int micro, int accum, double maxGradNorm)
    {
        using Model m = Model.Create();
        UnevenSamples data = Data();
        using var graph = new LlamaGraph(m.Weights, m.Lora, null, micro, Seq);
        var options = new TrainerOptions { MicroBatch = micro, GradAccum = accum, MaxSteps = 3, LearningRate = 1e-3, MaxGradNorm = maxGradNorm, Seed = 1 };
        using var trainer = new Trainer(graph, [new TrainableArena(m.Lora.Params, m.Lora.Grads)], data, new DataCursor(data.Count, 9), options);
        float[]? grads = null;
        trainer.AfterClip = step =>
        {
            Assert.Equal(0, step);
            grads = m.Lora.Grads.Download();
        };
        StepReport report = trainer.RunStep();
        return (grads!, report);
    }

    [Fact]
    public void Gradient_accumulation_gives_the_gradient_of_the_whole_step_however_the_batch_is_split()
    {
        (float[] one, StepReport r1) = FirstStep(micro: 4, accum: 1, maxGradNorm: 0);
        (float[] two, StepReport r2) = FirstStep(micro: 2, accum: 2, maxGradNorm: 0);
        (float[] four, StepReport r4) = FirstStep(micro: 1, accum: 4, maxGradNorm: 0);
        double scale = one.Max(Math.Abs);
        Assert.True(scale > 1e-4, $"gradients are too small to compare ({scale})");
        // f32 sums over a different split of the same rows: a few ulps of the largest gradient.
        double worst2 = one.Zip(two, (a, b) => Math.Abs(a - b)).Max() / scale;
        double worst4 = one.Zip(four, (a, b) => Math.Abs(a - b)).Max() / scale;
        output.WriteLine($"max |g| {scale:E3}; 1x4 vs 2x2 {worst2:E2}, 1x4 vs 4x1 {worst4:E2}; loss {r1.Loss:F6} {r2.Loss:F6} {r4.Loss:F6}");
        Assert.True(worst2 < 1e-5, $"1x4 vs 2x2: normalised difference {worst2:E2}");
        Assert.True(worst4 < 1e-5, $"1x4 vs 4x1: normalised difference {worst4:E2}");
        Assert.Equal(r1.LossTokens, r2.LossTokens);
        Assert.Equal(r1.Loss, r2.Loss, 5);
        Assert.Equal(r1.GradNorm, r2.GradNorm, 5);
        Assert.Equal(r1.Loss, r4.Loss, 5);
    }

    [Fact]
    public void Clipping_uses_the_true_global_norm_of_the_mean_loss_gradient()
    {
        // Manual: one forward/backward over the first step's 4 samples with dloss = 1 / counted targets.
        UnevenSamples data = Data();
        var cursor = new DataCursor(data.Count, 9);
        TrainingSample[] samples = Enumerable.Range(0, 4).Select(_ => data[cursor.Next()]).ToArray();
        int counted = samples.Sum(Trainer.CountedTargets);
        double[] manual;
        using (Model m = Model.Create())
        using (var graph = new LlamaGraph(m.Weights, m.Lora, null, 4, Seq))
        {
            graph.Forward(samples.SelectMany(s => s.Tokens).ToArray(), samples.SelectMany(s => s.Targets).ToArray(), training: true, dropoutSeed: 0);
            graph.Backward((float)(1.0 / counted));
            manual = m.Lora.Grads.Download().Select(x => (double)x).ToArray();
        }
        double norm = Math.Sqrt(manual.Sum(g => g * g));
        double maxNorm = norm / 4;

        (float[] clipped, StepReport report) = FirstStep(micro: 2, accum: 2, maxGradNorm: maxNorm);
        double coef = maxNorm / (norm + 1e-6);
        double scale = manual.Max(Math.Abs) * coef;
        double worst = clipped.Zip(manual, (c, g) => Math.Abs(c - g * coef)).Max() / scale;
        double clippedNorm = Math.Sqrt(clipped.Sum(g => (double)g * g));
        output.WriteLine($"true norm {norm:F7}, reported {report.GradNorm:F7}, clipped norm {clippedNorm:F7} (max {maxNorm:F7}), worst {worst:E2}");
        Assert.Equal(norm, report.GradNorm, norm * 1e-5);
        Assert.Equal(maxNorm, clippedNorm, maxNorm * 1e-5);
        Assert.True(worst < 1e-5, $"clipped gradients differ from g * max/(norm + 1e-6) by {worst:E2} (normalised)");
    }

    [Fact]
    public void Learning_rate_is_linear_decay_to_zero_with_optional_warm_up()
    {
        var plain = new LinearSchedule(1e-3, 0, 10);
        Assert.Equal(1e-3, plain.At(0), 15);
        Assert.Equal(5e-4, plain.At(5), 15);
        Assert.Equal(1e-4, plain.At(9), 15);
        Assert.Equal(0, plain.At(10), 15);
        var warm = new LinearSchedule(1e-3, 2, 10);
        Assert.Equal(0, warm.At(0), 15);       // HF: the first warm-up step runs at rate 0
        Assert.Equal(5e-4, warm.At(1), 15);
        Assert.Equal(1e-3, warm.At(2), 15);
        Assert.Equal(5e-4, warm.At(6), 15);    // (10 - 6) / (10 - 2)
        Assert.Equal(1.25e-4, warm.At(9), 15);

        using Model m = Model.Create();
        UnevenSamples data = Data();
        using var graph = new LlamaGraph(m.Weights, m.Lora, null, 2, Seq);
        var options = new TrainerOptions { MicroBatch = 2, MaxSteps = 4, LearningRate = 2e-3, WarmupSteps = 1 };
        using var trainer = new Trainer(graph, [new TrainableArena(m.Lora.Params, m.Lora.Grads)], data, new DataCursor(data.Count, 1), options);
        double[] rates = Enumerable.Range(0, 4).Select(_ => trainer.RunStep().LearningRate).ToArray();
        double[] expected = [0, 2e-3, 2e-3 * 2 / 3, 2e-3 / 3];
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], rates[i], 1e-12);
        Assert.True(trainer.IsComplete);
        Assert.Throws<InvalidOperationException>(() => trainer.RunStep());
    }

    [Fact]
    public void Finetuning_lowers_held_out_loss_on_a_learnable_pattern()
    {
        using var folder = new TrainingFolder();
        TrainingFixtures.WriteModel(folder.Sub("model"), TrainingFixtures.Tiny);
        int vocab = TrainingFixtures.Tiny.VocabSize;
        var train = new TrainingFixtures.MemoryBlocks(TrainingFixtures.Pattern(32 * 16 + 1, vocab), 16, "pattern");
        var eval = new TrainingFixtures.MemoryBlocks(TrainingFixtures.Pattern(8 * 16 + 1, vocab, phase: 5), 16, "pattern, other phase");
        var settings = new FinetuneSettings
        {
            Run = new RunSettings
            {
                OutputFolder = folder.Sub("out"), Data = new DataSpec(DataSpec.Tokens, ["pattern"]),
                Steps = 100, Batch = 4, MicroBatch = 2, Seq = 16, LearningRate = 1e-2, SaveEvery = 0, EvalEvery = 20,
            },
            Model = new LoraModelSettings { ModelFolder = folder.Sub("model"), Lora = new LoraOptions { Rank = 4, Alpha = 8, Dropout = 0.05 } },
        };
        using Context ctx = TestBackends.Get("cpu").CreateContext();
        using var run = new FinetuneRun(ctx, settings, train, eval);
        double before = run.MeasureEval();
        var losses = new List<double>();
        TrainingOutcome outcome = run.Run((r, _) => losses.Add(r.Loss), CancellationToken.None);
        double after = outcome.EvalLoss!.Value;
        output.WriteLine($"held-out loss {before:F4} -> {after:F4}; train loss {losses[0]:F4} -> {losses[^1]:F4}");
        Assert.True(outcome.Completed);
        Assert.Equal(100, losses.Count);
        Assert.True(after < 0.5 * before, $"held-out loss only went from {before:F4} to {after:F4}");
        Assert.True(File.Exists(Path.Combine(outcome.OutputPath!, "adapter_model.safetensors")));
        Assert.Equal(100, File.ReadAllLines(Path.Combine(settings.Run.OutputFolder, MetricsLog.FileName)).Length);
    }
}
