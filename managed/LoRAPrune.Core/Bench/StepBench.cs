// StepBench.cs — `bench step`: full LoRAPrune optimizer steps (forward, backward, importance, AdamW: docs/method.md
// §3.2) of one model and batch, once per criterion, in one run. Each criterion gets a fresh context with the same
// weights, adapters and batches, built from the project's own training and pruning code (LlamaGraph, Trainer with its
// AfterClip hook, ImportanceEstimator, the grad criterion's base-gradient arena); it reports tokens/s, peak memory, a
// per-op-class time breakdown and the GEMM throughput against a roof measured at the step's own shapes.
using System.Diagnostics;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Pruning;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Bench;

public sealed record StepBenchSettings
{
    /// <summary>The model's config (with random weights unless <see cref="ModelFolder"/> is given).</summary>
    public required LlamaConfig Config { get; init; }

    /// <summary>A model folder whose weights are loaded; null for seeded random weights (LlamaWeights.Random).</summary>
    public string? ModelFolder { get; init; }

    public LpDType BaseDType { get; init; } = LpDType.F32;

    /// <summary>The dtype of the graph's stored activations; null for the backend's default (LlamaGraph.DefaultActivations:
    /// bf16 on the CUDA backends, f32 on cpu).</summary>
    public LpDType? Activations { get; init; }
    public LoraOptions Lora { get; init; } = new();
    /// <summary>The rows, in order: a criterion's prune step, or null for the plain LoRA fine-tuning step of `finetune`
    /// (no masks, no importance): the baseline a prune step's cost is measured against (docs/method.md §2.6).</summary>
    public IReadOnlyList<PruneCriterion?> Criteria { get; init; } = [PruneCriterion.Lora, PruneCriterion.Grad, PruneCriterion.Magnitude];
    public int Batch { get; init; } = 8;
    public int MicroBatch { get; init; } = 8;
    public int Seq { get; init; } = 128;

    /// <summary>Untimed steps first (scratch growth, page faults, BLAS warm-up, and .NET's tiered JIT, which recompiles
    /// the step's managed code in the background over its first steps: after 2 warm-up steps the first timed steps of a run
    /// were still 10-25% slow).</summary>
    public int Warmup { get; init; } = DefaultWarmup;

    public const int DefaultWarmup = 5;

    /// <summary>Timed steps; tokens/s is taken from their median.</summary>
    public int Repeat { get; init; } = 5;

    /// <summary>Steps run afterwards with per-op timing, for the breakdown (0: none).</summary>
    public int ProfileSteps { get; init; } = 2;

    public int Seed { get; init; } = 42;

    public void Validate()
    {
        if (Batch < 1 || MicroBatch < 1 || Seq < 1) throw new ArgumentException($"batch, micro-batch and sequence must be positive (got {Batch}, {MicroBatch}, {Seq})");
        if (Batch % MicroBatch != 0) throw new ArgumentException($"--batch {Batch} is not a multiple of --micro-batch {MicroBatch}");
        if (Warmup < 0 || Repeat < 1 || ProfileSteps < 0) throw new ArgumentException($"warm-up {Warmup}, repeat {Repeat} and profile steps {ProfileSteps} must be >= 0, >= 1, >= 0");
        if (Criteria.Count == 0) throw new ArgumentException("no criterion to run");
        if (Criteria.Contains(PruneCriterion.Random)) throw new ArgumentException("the random criterion computes no importance; bench lora, grad, magnitude or the finetune step");
        Lora.Validate();
    }

    public int TokensPerStep => Batch * Seq;
}

/// <summary>The measurements of one criterion.</summary>
/// <param name="StepSeconds">Every timed step's wall time, in order.</param>
/// <param name="WeightBytes">Allocator bytes held by the weights alone (before the step's state is built).</param>
/// <param name="PeakAllocatorBytes">The context's allocator high-water mark over the whole run of this criterion.</param>
/// <param name="PeakRssBytes">The process's peak resident set over this criterion (null where it cannot be reset and read).</param>
/// <param name="ProfiledStepSeconds">Mean wall time of a profiled step (each op synchronised and timed).</param>
/// <param name="ClassSeconds">Mean seconds per profiled step in each op class; Other is what the ops leave of the step.</param>
/// <param name="Roof">The step's base GEMMs and the time each takes alone.</param>
public sealed record StepBenchResult(PruneCriterion? Criterion, int TokensPerStep, IReadOnlyList<double> StepSeconds, ulong WeightBytes, ulong PeakAllocatorBytes,
                                     long? PeakRssBytes, double ProfiledStepSeconds, IReadOnlyDictionary<OpClass, double> ClassSeconds,
                                     IReadOnlyDictionary<string, double> OpSeconds, IReadOnlyList<GemmRoofShape> Roof, int ScoredLayers, long BaseGradientElements)
{
    public double MedianStepSeconds => Median(StepSeconds);

    public double TokensPerSecond => TokensPerStep / MedianStepSeconds;

    /// <summary>FLOPs of the step's base GEMMs (the work the roof counts).</summary>
    public double GemmFlops => Roof.Sum(r => r.Gemm.Flops * r.Gemm.Count);

    /// <summary>Seconds the step's base GEMMs take when each runs alone at its measured speed.</summary>
    public double RoofSeconds => Roof.Sum(r => r.Seconds * r.Gemm.Count);

    public double RoofTokensPerSecond => TokensPerStep / RoofSeconds;

    /// <summary>GEMM FLOPs per second of the whole step.</summary>
    public double AchievedGflops => GemmFlops / MedianStepSeconds / 1e9;

    public double RoofGflops => GemmFlops / RoofSeconds / 1e9;

    /// <summary>The step's speed as a fraction of its GEMM roof.</summary>
    public double FractionOfRoof => RoofSeconds / MedianStepSeconds;

    /// <summary>The slowest and the fastest timed step as fractions of the same roof: how far the median could move.</summary>
    public (double Slowest, double Fastest) FractionOfRoofRange => (RoofSeconds / StepSeconds.Max(), RoofSeconds / StepSeconds.Min());

    private static double Median(IReadOnlyList<double> values)
    {
        double[] sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    }
}

public static class StepBench
{
    /// <summary>Runs every criterion of <paramref name="settings"/> on <paramref name="backend"/>; progress lines go to <paramref name="progress"/>.</summary>
    public static IReadOnlyList<StepBenchResult> Run(Backend backend, StepBenchSettings settings, Action<string>? progress = null)
    {
        settings.Validate();
        progress?.Invoke("GEMM roof: every base GEMM shape of the step, alone");
        List<IReadOnlyList<StepGemm>> gemms = settings.Criteria.Select(c => StepGemmRoof.Gemms(
            settings.Config, settings.MicroBatch * settings.Seq, settings.Batch / settings.MicroBatch, ScoredWeights(settings.Config, c, settings.Lora.Targets))).ToList();
        List<StepGemm> distinct = gemms.SelectMany(g => g).Distinct().ToList();
        IReadOnlyDictionary<StepGemm, double> before = MeasureRoof(backend, settings, distinct);
        var results = new List<StepBenchResult>();
        for (int i = 0; i < settings.Criteria.Count; i++)
        {
            PruneCriterion? criterion = settings.Criteria[i];
            progress?.Invoke($"{Name(criterion)}: building the model on {backend.Name}");
            results.Add(RunCriterion(backend, settings, criterion, gemms[i].Select(g => new GemmRoofShape(g, before[g])).ToList(), progress));
        }
        // A shared machine's speed drifts over a run: the roof is measured again after the steps, and each shape keeps
        // the faster of its two passes, so a slow first pass cannot flatter the steps' share of it.
        progress?.Invoke("GEMM roof again, after the steps (each shape keeps its faster pass)");
        IReadOnlyDictionary<StepGemm, double> after = MeasureRoof(backend, settings, distinct);
        return results.Select((r, i) => r with { Roof = gemms[i].Select(g => new GemmRoofShape(g, Math.Min(before[g], after[g]))).ToList() }).ToList();
    }

    private static IReadOnlyDictionary<StepGemm, double> MeasureRoof(Backend backend, StepBenchSettings settings, IReadOnlyList<StepGemm> gemms)
    {
        using Context context = backend.CreateContext();
        return StepGemmRoof.Measure(context, gemms, settings.BaseDType, RoofWarmup, RoofRepeat);
    }

    /// <summary>Untimed calls and best-of samples of each roof GEMM shape.</summary>
    private const int RoofWarmup = 2, RoofRepeat = 7;

    /// <summary>The base weights whose gradients a criterion computes (the grad criterion's scored linears), by name.</summary>
    public static ISet<string> ScoredWeights(LlamaConfig config, PruneCriterion? criterion, IReadOnlyList<LlamaLinear> targets) =>
        criterion != PruneCriterion.Grad ? new HashSet<string>()
            : ScoredLayers(config).SelectMany(l => targets.Select(lin => LlamaTensorLayout.Weight(lin, l))).ToHashSet();

    /// <summary>The criterion's name as on the command line; "finetune" for the plain fine-tuning step.</summary>
    public static string Name(PruneCriterion? criterion) => criterion?.ToString().ToLowerInvariant() ?? FinetuneName;

    public const string FinetuneName = "finetune";

    /// <summary>
    /// The layers the bench scores: every layer, as `prune --uniform` does. A few-layer stand-in for a deep model (two
    /// LLaMA-7B layers for 32) would otherwise exempt half its layers, where LLaMA-7B exempts 4 of 32 (docs/method.md §3.4).
    /// </summary>
    public static IReadOnlyList<int> ScoredLayers(LlamaConfig config) => Enumerable.Range(0, config.NumHiddenLayers).ToList();

    private static StepBenchResult RunCriterion(Backend backend, StepBenchSettings s, PruneCriterion? criterion, IReadOnlyList<GemmRoofShape> roof,
                                                Action<string>? progress)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        bool rssReset = ProcessMemory.ResetPeakResident();
        using Context context = backend.CreateContext();
        using LlamaWeights weights = LoadWeights(context, s);
        ulong weightBytes = context.GetMemoryStats().CurrentBytes;
        LlamaConfig config = s.Config;
        IReadOnlyList<int> scored = criterion is null ? [] : ScoredLayers(config);
        var data = new RandomTokenSamples(config.VocabSize, s.Seq, s.Batch * 4, s.Seed);
        int steps = s.Warmup + s.Repeat + s.ProfileSteps;
        var options = new TrainerOptions
        {
            MicroBatch = s.MicroBatch, GradAccum = s.Batch / s.MicroBatch, MaxSteps = steps, LearningRate = 1e-4, Seed = (ulong)s.Seed,
        };

        using LoraAdapters lora = LoraAdapters.Create(context, config, s.Lora, FinetuneRun.LoraSeed((ulong)s.Seed));
        // The finetune row builds what `finetune` builds: no masks, no importance, no base gradients.
        using OutputMasks? masks = criterion is null ? null : new OutputMasks(context, config);
        using TensorArena? baseGrads = criterion is { } c ? PruneRun.BaseGradients(context, config, scored, c, s.Lora.Targets) : null;
        using var graph = new LlamaGraph(weights, lora, masks, s.MicroBatch, s.Seq, baseGrads, activations: s.Activations);
        using ImportanceEstimator? importance = criterion is { } pc
            ? new ImportanceEstimator(context, config, scored, new PruneOptions { Criterion = pc, ExemptFirst = 0, ExemptLast = 0, Uniform = true })
            : null;
        using var trainer = new Trainer(graph, [new TrainableArena(lora.Params, lora.Grads)], data, new DataCursor(data.Count, (ulong)s.Seed), options)
        {
            AfterClip = importance is null ? null : step => importance.Update(weights, lora, null, baseGrads, (ulong)s.Seed, step),
        };

        string name = Name(criterion);
        for (int i = 0; i < s.Warmup; i++)
        {
            progress?.Invoke($"{name}: warm-up step {i + 1}/{s.Warmup}");
            trainer.RunStep();
        }
        var times = new List<double>();
        for (int i = 0; i < s.Repeat; i++)
        {
            long start = Stopwatch.GetTimestamp();
            trainer.RunStep();
            times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            progress?.Invoke(FormattableString.Invariant($"{name}: step {i + 1}/{s.Repeat} {times[^1] * 1e3:0.0} ms ({s.TokensPerStep / times[^1]:0} tokens/s)"));
        }

        var recorder = new OpClassRecorder();
        double profiled = 0;
        if (s.ProfileSteps > 0)
        {
            progress?.Invoke($"{name}: {s.ProfileSteps} profiled step(s)");
            context.OpTimer = recorder;
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < s.ProfileSteps; i++) trainer.RunStep();
            profiled = Stopwatch.GetElapsedTime(start).TotalSeconds / s.ProfileSteps;
            context.OpTimer = null;
        }
        var classes = Enum.GetValues<OpClass>().ToDictionary(c => c, c => s.ProfileSteps > 0 ? recorder.Seconds(c) / s.ProfileSteps : 0);
        if (s.ProfileSteps > 0) classes[OpClass.Other] = Math.Max(0, profiled - recorder.Total / s.ProfileSteps);
        var perOp = recorder.PerOp.ToDictionary(kv => kv.Key, kv => kv.Value / Math.Max(1, s.ProfileSteps));

        ulong peak = context.GetMemoryStats().PeakBytes;
        long? rss = rssReset ? ProcessMemory.PeakResident() : null;

        return new StepBenchResult(criterion, s.TokensPerStep, times, weightBytes, peak, rss, profiled, classes, perOp, roof, scored.Count,
                                   baseGrads?.Count ?? 0);
    }

    private static LlamaWeights LoadWeights(Context context, StepBenchSettings s)
    {
        if (s.ModelFolder is null) return LlamaWeights.Random(context, s.Config, s.Seed, s.BaseDType);
        using LlamaCheckpoint checkpoint = LlamaCheckpoint.Open(s.ModelFolder);
        return LlamaWeights.Load(context, checkpoint, s.BaseDType);
    }
}

/// <summary>Seeded uniform random token ids, each sample's targets the next ids (every target counted): the batches of
/// the step benchmark, identical for every criterion.</summary>
public sealed class RandomTokenSamples : ISampleSource
{
    private readonly TrainingSample[] _samples;

    public RandomTokenSamples(int vocab, int seq, int count, int seed)
    {
        SequenceLength = seq;
        int[] ids = HostData.Indices((ulong)seed, (long)count * seq + 1, vocab);
        _samples = Enumerable.Range(0, count)
            .Select(i => new TrainingSample(ids.AsSpan(i * seq, seq).ToArray(), ids.AsSpan(i * seq + 1, seq).ToArray())).ToArray();
        Description = $"{count} random samples of {seq} tokens";
    }

    public int Count => _samples.Length;
    public int SequenceLength { get; }
    public string Description { get; }
    public TrainingSample this[int index] => _samples[index];
}
