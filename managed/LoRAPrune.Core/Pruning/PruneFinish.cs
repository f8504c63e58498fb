// PruneFinish.cs — what a completed prune writes and measures (docs/method.md §4-5): <out>/model (compacted, merged,
// source dtype, tokenizer), <out>/adapter (the pre-merge PEFT adapter in the original shapes, pruned rows and columns
// zero), <out>/masks.safetensors (kept indices per layer), then perplexity of the original and the saved pruned model
// under the pinned protocol, and report.md with its plots. Each folder is staged and renamed into place.
using System.Diagnostics;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.Eval;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Text;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Pruning;

/// <summary>Perplexity of one data set before and after pruning (the same ids, window and protocol).</summary>
public sealed record PrunedEvaluation(EvalDataset Dataset, PerplexityResult Before, PerplexityResult After, string BeforeLine, string AfterLine);

/// <summary>What a completed prune measured.</summary>
/// <param name="Original">The config before pruning.</param>
/// <param name="Pruned">The saved model's config.</param>
/// <param name="PeakDeviceBytes">The allocator's high-water mark over the training (weights, adapters, optimizer, activations).</param>
/// <param name="TrainSeconds">Wall time of the training loop over every session (from metrics.jsonl).</param>
/// <param name="TokensPerSecond">Training throughput of the last session.</param>
/// <param name="Evaluations">Before/after perplexities; empty with <paramref name="EvalNote"/> saying why.</param>
/// <param name="FinalScores">The moving-average importance at the end, per prunable layer and block.</param>
public sealed record PruneResult(LlamaConfig Original, LlamaConfig Pruned, long ParametersBefore, long ParametersAfter, long PeakDeviceBytes,
    double TrainSeconds, double TokensPerSecond, IReadOnlyList<PrunedEvaluation> Evaluations, string? EvalNote, string Device, DateTimeOffset Finished,
    IReadOnlyList<UnitScores> FinalScores);

/// <summary>The final importance of one layer's KV groups (Attention) or MLP channels: one score per unit the device
/// still held (every original unit in masked runs, the kept ones in progressive runs), and whether it was kept.</summary>
public sealed record UnitScores(int Layer, bool Attention, float[] Scores, bool[] Kept);

internal static class PruneFinish
{
    public static PruneResult Run(PruneRun run, Context ctx, TrainingRun.RunResult result, KeptStructure loraLayout, string stagingSuffix)
    {
        long peak = (long)ctx.GetMemoryStats().PeakBytes;
        PruneSettings s = run.Spec;
        LlamaConfig pruned;
        using (LlamaCheckpoint source = LlamaCheckpoint.Open(s.Model.ModelFolder))
        {
            pruned = Staged(run.ModelFolder, stagingSuffix, staging =>
            {
                LlamaConfig config = PrunedModelWriter.Write(staging, source, run.Kept, run.Lora, loraLayout, ctx,
                    f => run.StageProgress?.Invoke("writing the pruned model", f));
                run.Tokenizer?.WriteTo(staging);
                return config;
            });
        }
        Staged(run.AdapterFolder, stagingSuffix, staging =>
        {
            OriginalShapeAdapter(run, loraLayout).Save(staging);
            return 0;
        });
        WriteMasks(run);
        IReadOnlyList<UnitScores> scores = FinalScores(run, loraLayout);
        run.ReleaseDevice();

        (IReadOnlyList<PrunedEvaluation> evaluations, string? note) = Evaluate(run, ctx);
        var pruneResult = new PruneResult(run.Config, pruned, Inference.ParameterCounts.Of(run.Config).Total, Inference.ParameterCounts.Of(pruned).Total, peak,
            TotalTrainSeconds(run.Settings.OutputFolder, result.Seconds), result.TokensPerSecond, evaluations, note, run.Settings.Device, DateTimeOffset.UtcNow, scores);
        run.StageProgress?.Invoke("writing report.md and plots", 0);
        PruneReport.Write(run, pruneResult);
        run.StageProgress?.Invoke("writing report.md and plots", 1);
        return pruneResult;
    }

    // Builds a folder beside its final place and renames it there, so a reader never sees half of one.
    private static T Staged<T>(string folder, string suffix, Func<string, T> write)
    {
        string staging = folder + suffix;
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        T value = write(staging);
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        Directory.Move(staging, folder);
        return value;
    }

    /// <summary>The adapters as trained, in the original model's shapes: B rows of pruned q/k/v/gate/up outputs and A
    /// columns of pruned o/down inputs are zero (they are dead parameters); with masks.safetensors it rebuilds the pruned
    /// model from the original one.</summary>
    private static PeftAdapter OriginalShapeAdapter(PruneRun run, KeptStructure loraLayout)
    {
        LoraAdapters lora = run.Lora;
        LlamaConfig original = run.Config;
        float[] values = lora.Params.Download();
        var byName = lora.Params.Entries.ToDictionary(e => e.Name);
        IReadOnlyList<LayerKeep> kept = run.Kept.PositionsIn(loraLayout);
        IReadOnlyList<LayerKeep> inOriginal = run.Kept.PositionsInOriginal();
        int r = lora.Options.Rank;
        var config = new PeftAdapterConfig
        {
            Rank = r, Alpha = lora.Options.Alpha, Dropout = lora.Options.Dropout, TargetModules = lora.Options.Targets.Distinct().Order().ToList(),
            BaseModelNameOrPath = Path.GetFullPath(run.Spec.Model.ModelFolder),
        };
        return PeftAdapter.Create(config, original, (layer, lin) =>
        {
            (int outF, int inF) = lin.Shape(original, layer);
            TensorArena.Entry ea = byName[LoraAdapters.Name(layer, lin, isB: false)], eb = byName[LoraAdapters.Name(layer, lin, isB: true)];
            float[] a = values.AsSpan((int)ea.Offset, (int)ea.Count).ToArray(), b = values.AsSpan((int)eb.Offset, (int)eb.Count).ToArray();
            int layoutIn = (int)ea.Shape[1];
            var fullA = new float[(long)r * inF];
            var fullB = new float[(long)outF * r];
            (int[]? rowsNow, int[]? colsNow) = PrunedModelWriter.Slices(lin, kept[layer]);
            (int[]? rowsThen, int[]? colsThen) = PrunedModelWriter.Slices(lin, inOriginal[layer]);
            for (int k = 0; k < r; k++)
            {
                if (colsNow is null) Array.Copy(a, (long)k * layoutIn, fullA, (long)k * inF, inF);
                else
                    for (int j = 0; j < colsNow.Length; j++) fullA[(long)k * inF + colsThen![j]] = a[(long)k * layoutIn + colsNow[j]];
            }
            if (rowsNow is null) Array.Copy(b, fullB, fullB.Length);
            else
                for (int i = 0; i < rowsNow.Length; i++) Array.Copy(b, (long)rowsNow[i] * r, fullB, (long)rowsThen![i] * r, r);
            return new LoraWeights(r, inF, outF, fullA, fullB);
        });
    }

    private static IReadOnlyList<UnitScores> FinalScores(PruneRun run, KeptStructure deviceLayout) =>
        run.PrunableLayers.SelectMany(l => new[] { true, false }.Select(attention =>
        {
            IReadOnlyList<int> units = attention ? deviceLayout.Groups(l) : deviceLayout.Channels(l);
            var kept = (attention ? run.Kept.Groups(l) : run.Kept.Channels(l)).ToHashSet();
            return new UnitScores(l, attention, run.Importance.Scores(l, attention), units.Select(kept.Contains).ToArray());
        })).ToList();

    /// <summary>masks.safetensors: per layer the kept KV groups, query heads and MLP channels (I32, original indices).</summary>
    private static void WriteMasks(PruneRun run)
    {
        var writer = new SafetensorsWriter()
            .AddMetadata("format", "loraprune-masks")
            .AddMetadata("criterion", PruneOptions.Name(run.Spec.Prune.Criterion))
            .AddMetadata("ratio", run.Spec.Prune.Ratio.ToString("R", System.Globalization.CultureInfo.InvariantCulture))
            .AddMetadata("head_dim", run.Config.HeadDim.ToString(System.Globalization.CultureInfo.InvariantCulture));
        for (int l = 0; l < run.Kept.Layers; l++)
        {
            TrainingCheckpoint.AddInt32s(writer, MaskTensor(l, "kept_kv_groups"), run.Kept.Groups(l));
            TrainingCheckpoint.AddInt32s(writer, MaskTensor(l, "kept_heads"), run.Kept.QueryHeads(l));
            TrainingCheckpoint.AddInt32s(writer, MaskTensor(l, "kept_channels"), run.Kept.Channels(l));
        }
        writer.Save(run.MasksPath);
    }

    /// <summary>The tensor name of one kept-index list in masks.safetensors.</summary>
    public static string MaskTensor(int layer, string what) => what == "kept_channels" ? $"model.layers.{layer}.mlp.{what}" : $"model.layers.{layer}.self_attn.{what}";

    // elapsed_s of metrics.jsonl's last line: the training time of every session of the run.
    private static double TotalTrainSeconds(string outputFolder, double fallback)
    {
        string path = Path.Combine(outputFolder, MetricsLog.FileName);
        string? last = File.Exists(path) ? File.ReadLines(path).LastOrDefault() : null;
        return last is not null && System.Text.Json.Nodes.JsonNode.Parse(last)?["elapsed_s"] is { } e ? (double)e : fallback;
    }

    private static (IReadOnlyList<PrunedEvaluation>, string?) Evaluate(PruneRun run, Context ctx)
    {
        PruneSettings s = run.Spec;
        if (s.EvalSets is { Count: 0 }) return ([], "no evaluation asked for (--eval none)");
        ITokenizer? tokenizer = run.Tokenizer?.Tokenizer;
        if (tokenizer is null) return ([], "not evaluated: the model has no tokenizer to tokenize the evaluation text");
        DataCache cache = DataCache.Resolve(s.Run.CacheFolder);
        IReadOnlyList<string> sets = s.EvalSets ?? PruneSettings.DefaultEvalSets;
        if (s.EvalSets is null && !PruneSettings.DefaultEvalSets.All(name => Fetched(cache, name)))
            return ([], $"not evaluated: {string.Join(" and ", PruneSettings.DefaultEvalSets)} are not in the data cache {cache.Root}; run `loraprune data fetch`, or give --eval");
        var datasets = sets.Select(spec => DataCache.LooksLikeSplitName(spec) && !File.Exists(spec)
            ? EvalDataset.FromSplit(cache, spec, tokenizer, run.Config.VocabSize)
            : EvalDataset.FromTextFile(spec, tokenizer, run.Config.VocabSize)).ToList();

        var results = new List<PrunedEvaluation>();
        var before = Score(ctx, s.Model.ModelFolder, s.Model.BaseDType, datasets, s.EvalWindow, tokenizer, "before", run.StageProgress);
        var after = Score(ctx, run.ModelFolder, s.Model.BaseDType, datasets, s.EvalWindow, tokenizer, "after", run.StageProgress);
        for (int i = 0; i < datasets.Count; i++)
            results.Add(new PrunedEvaluation(datasets[i], before.Results[i].Perplexity, after.Results[i].Perplexity,
                EvalReport.ProtocolLine(before, before.Results[i]), EvalReport.ProtocolLine(after, after.Results[i])));
        return (results, null);
    }

    private static bool Fetched(DataCache cache, string split)
    {
        try
        {
            cache.ResolveSplit(split);
            return true;
        }
        catch (DataFileException)
        {
            return false;
        }
    }

    private static EvalRun Score(Context ctx, string modelFolder, LpDType dtype, IReadOnlyList<EvalDataset> datasets, int window, ITokenizer tokenizer,
                                 string when, Action<string, double>? progress)
    {
        using LlamaCheckpoint checkpoint = LlamaCheckpoint.Open(modelFolder);
        using LlamaWeights weights = LlamaWeights.Load(ctx, checkpoint, dtype);
        var results = datasets.Select(ds => new EvalResult(ds, PerplexityProtocol.Evaluate(weights, null, ds.Ids, window, batch: 4,
            p => progress?.Invoke($"perplexity {when}: {ds.Name}:{ds.Split}", (double)p.WindowsDone / p.Windows)))).ToList();
        return new EvalRun(Path.GetFullPath(modelFolder), ModelFingerprint.OfModel(checkpoint), null, null, tokenizer.Name, ctx.Backend.Name,
            dtype == LpDType.BF16 ? "bf16" : "f32", 4, results, DateTimeOffset.UtcNow);
    }
}
