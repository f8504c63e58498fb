// QualityBench.cs — the paper's comparison on one model (`loraprune bench quality`): the unpruned model, the same
// LoRA fine-tuning without pruning, and a prune for every (criterion, ratio, layout) with the same data, steps and
// seed; each scored by the pinned perplexity protocol, with its parameters, peak allocator memory and time. Each run
// gets its own context (so peaks are per run) and leaves its row in its folder, so an interrupted benchmark resumes.
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.Eval;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Pruning;
using LoRAPrune.Core.Text;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Bench;

public sealed record QualityBenchSettings
{
    public required string ModelFolder { get; init; }

    /// <summary>The training recipe every run shares (data, steps, batch, seed...); its output folder is the bench's.</summary>
    public required RunSettings Run { get; init; }
    public LoraOptions Lora { get; init; } = new();
    public IReadOnlyList<string> EvalSets { get; init; } = PruneSettings.DefaultEvalSets;
    public int EvalWindow { get; init; } = PerplexityProtocol.DefaultWindow;
    public IReadOnlyList<PruneCriterion> Criteria { get; init; } = Enum.GetValues<PruneCriterion>();
    public IReadOnlyList<double> Ratios { get; init; } = [0.2, 0.5];

    /// <summary>Layouts to prune into: false = per-layer widths with the paper's exempt layers, true = uniform.</summary>
    public IReadOnlyList<bool> Uniform { get; init; } = [false, true];
}

/// <summary>One row of the comparison.</summary>
/// <param name="Name">The run's folder name ("lora-0.5-per-layer", "unpruned", "finetuned").</param>
/// <param name="Perplexity">Per evaluation set (in EvalSets order), the perplexity.</param>
/// <param name="ProtocolLines">The protocol line of each perplexity.</param>
/// <param name="PeakBytes">Peak allocator memory of the training run (0 for the unpruned model).</param>
public sealed record QualityRow(string Name, string Criterion, double? Ratio, string Layout, long Parameters, double[] Perplexity, string[] ProtocolLines,
    long PeakBytes, double TrainSeconds, double TokensPerSecond);

public sealed record QualityBenchResult(QualityBenchSettings Settings, IReadOnlyList<string> EvalNames, IReadOnlyList<QualityRow> Rows);

public static class QualityBench
{
    public const string RowFileName = "quality-row.json";

    public static QualityBenchResult Run(Backend backend, QualityBenchSettings s, ITokenizer tokenizer, ISampleSource train, Action<string, double>? progress)
    {
        LlamaConfig config = LlamaConfig.Load(Path.Combine(s.ModelFolder, LlamaCheckpoint.ConfigFileName));
        DataCache cache = DataCache.Resolve(s.Run.CacheFolder);
        List<EvalDataset> sets = s.EvalSets.Select(spec => DataCache.LooksLikeSplitName(spec) && !File.Exists(spec)
            ? EvalDataset.FromSplit(cache, spec, tokenizer, config.VocabSize)
            : EvalDataset.FromTextFile(spec, tokenizer, config.VocabSize)).ToList();
        var rows = new List<QualityRow>();
        Directory.CreateDirectory(s.Run.OutputFolder);

        rows.Add(Cached(s, "unpruned", () =>
        {
            using Context ctx = backend.CreateContext();
            (double[] ppl, string[] lines) = Score(ctx, s.ModelFolder, null, sets, s.EvalWindow, tokenizer, "unpruned", progress);
            return new QualityRow("unpruned", "none", null, "dense", Inference.ParameterCounts.Of(config).Total, ppl, lines, 0, 0, 0);
        }));

        rows.Add(Cached(s, "finetuned", () =>
        {
            string folder = Path.Combine(s.Run.OutputFolder, "finetuned");
            using Context ctx = backend.CreateContext();
            var settings = new FinetuneSettings { Run = RunIn(s, folder), Model = new LoraModelSettings { ModelFolder = s.ModelFolder, Lora = s.Lora } };
            TrainingOutcome outcome;
            using (var run = new FinetuneRun(ctx, settings, train, null))
                outcome = run.Run((r, _) => progress?.Invoke("finetuned: LoRA without pruning", (double)r.Step / run.TotalSteps), CancellationToken.None);
            long peak = (long)ctx.GetMemoryStats().PeakBytes;
            (double[] ppl, string[] lines) = Score(ctx, s.ModelFolder, outcome.OutputPath, sets, s.EvalWindow, tokenizer, "finetuned", progress);
            return new QualityRow("finetuned", "none", null, "dense + LoRA", Inference.ParameterCounts.Of(config).Total, ppl, lines, peak,
                outcome.Seconds, outcome.TokensPerSecond);
        }));

        foreach (double ratio in s.Ratios)
            foreach (bool uniform in s.Uniform)
                foreach (PruneCriterion criterion in s.Criteria)
                {
                    string layout = uniform ? "uniform" : "per-layer";
                    string name = $"{PruneOptions.Name(criterion)}-{ratio.ToString(System.Globalization.CultureInfo.InvariantCulture)}-{layout}";
                    rows.Add(Cached(s, name, () => Prune(backend, s, config, name, criterion, ratio, uniform, train, sets, tokenizer, progress)));
                }
        var result = new QualityBenchResult(s, sets.Select(d => $"{d.Name}:{d.Split}").ToList(), rows);
        return result;
    }

    private static QualityRow Prune(Backend backend, QualityBenchSettings s, LlamaConfig config, string name, PruneCriterion criterion, double ratio, bool uniform,
                                    ISampleSource train, IReadOnlyList<EvalDataset> sets, ITokenizer tokenizer, Action<string, double>? progress)
    {
        string folder = Path.Combine(s.Run.OutputFolder, name);
        var options = new PruneOptions { Criterion = criterion, Ratio = ratio, Uniform = uniform, ExemptFirst = uniform ? 0 : 0.1, ExemptLast = uniform ? 0 : 1 };
        var settings = new PruneSettings { Run = RunIn(s, folder), Model = new LoraModelSettings { ModelFolder = s.ModelFolder, Lora = s.Lora }, Prune = options, EvalSets = [] };
        using Context ctx = backend.CreateContext();
        PruneResult result;
        using (var run = new PruneRun(ctx, settings, config, train, null, ModelTokenizer.ForModel(s.ModelFolder, config, required: false)))
        {
            run.StageProgress = (stage, f) => progress?.Invoke($"{name}: {stage}", f);
            run.Run((r, _) => progress?.Invoke($"{name}: pruning", (double)r.Step / run.TotalSteps), CancellationToken.None);
            result = run.Result!;
        }
        (double[] ppl, string[] lines) = Score(ctx, Path.Combine(folder, PruneRun.ModelFolderName), null, sets, s.EvalWindow, tokenizer, name, progress);
        return new QualityRow(name, PruneOptions.Name(criterion), ratio, uniform ? "uniform" : "per-layer", result.ParametersAfter, ppl, lines,
            result.PeakDeviceBytes, result.TrainSeconds, result.TokensPerSecond);
    }

    // Every run trains on the same data with the same recipe and seed, into its own folder.
    private static RunSettings RunIn(QualityBenchSettings s, string folder) => s.Run with { OutputFolder = folder, Resume = false, SaveEvery = 0, EvalData = null };

    // A row already measured (its folder holds the row file) is read back instead of run again.
    private static QualityRow Cached(QualityBenchSettings s, string name, Func<QualityRow> measure)
    {
        string path = Path.Combine(s.Run.OutputFolder, name, RowFileName);
        if (File.Exists(path) && JsonSerializer.Deserialize<QualityRow>(File.ReadAllText(path)) is { } row) return row;
        string folder = Path.Combine(s.Run.OutputFolder, name);
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); // an unfinished run: start it over
        QualityRow measured = measure();
        Directory.CreateDirectory(folder);
        AtomicFile.WriteText(path, JsonSerializer.Serialize(measured, new JsonSerializerOptions { WriteIndented = true }));
        return measured;
    }

    private static (double[] Perplexity, string[] Lines) Score(Context ctx, string modelFolder, string? adapterFolder, IReadOnlyList<EvalDataset> sets, int window,
                                                               ITokenizer tokenizer, string name, Action<string, double>? progress)
    {
        using LlamaCheckpoint checkpoint = LlamaCheckpoint.Open(modelFolder);
        using LlamaWeights weights = LlamaWeights.Load(ctx, checkpoint, LpDType.F32);
        PeftAdapter? peft = adapterFolder is null ? null : PeftAdapter.Load(adapterFolder, checkpoint.Config);
        using LoraAdapters? lora = peft is null ? null : LoraAdapters.FromPeft(ctx, checkpoint.Config, peft, peft.Config with { Dropout = 0 });
        var results = sets.Select(ds => new EvalResult(ds, PerplexityProtocol.Evaluate(weights, lora, ds.Ids, window, batch: 4,
            p => progress?.Invoke($"{name}: perplexity {ds.Name}:{ds.Split}", (double)p.WindowsDone / p.Windows)))).ToList();
        var run = new EvalRun(Path.GetFullPath(modelFolder), ModelFingerprint.OfModel(checkpoint), adapterFolder is null ? null : Path.GetFullPath(adapterFolder),
            adapterFolder is null ? null : ModelFingerprint.OfAdapter(adapterFolder), tokenizer.Name, ctx.Backend.Name, "f32", 4, results, DateTimeOffset.UtcNow);
        return (results.Select(r => r.Perplexity.Perplexity).ToArray(), results.Select(r => EvalReport.ProtocolLine(run, r)).ToArray());
    }
}
