// PruneReport.cs — <out>/report.md of a prune: the before/after table (parameters, widths, perplexity with its protocol
// line, peak memory, time, throughput), the per-layer widths, the prune events, every setting that decided the result,
// and the plots (PrunePlots) from metrics.jsonl. Written atomically; a person reads it, so numbers come with units.
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using LoRAPrune.Core.Eval;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Training;

namespace LoRAPrune.Core.Pruning;

public static class PruneReport
{
    public const string FileName = "report.md";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Write(PruneRun run, PruneResult result)
    {
        string folder = run.Settings.OutputFolder;
        IReadOnlyList<PruneStepMetrics> steps = ReadMetrics(Path.Combine(folder, MetricsLog.FileName));
        PrunePlots.Loss(Path.Combine(folder, PrunePlots.LossFile), steps);
        PrunePlots.Schedule(Path.Combine(folder, PrunePlots.ScheduleFile), steps, run.Spec.Prune.Ratio);
        PrunePlots.Widths(Path.Combine(folder, PrunePlots.WidthsFile), result.Original, result.Pruned);
        PrunePlots.Importance(Path.Combine(folder, PrunePlots.ImportanceFile), result.FinalScores);
        AtomicFile.WriteText(Path.Combine(folder, FileName), Markdown(run, result, steps));
    }

    /// <summary>The step lines of metrics.jsonl (loss, held-out loss, r(t), prune events), numbered by the 0-based step t
    /// that the schedule and the prune events use (metrics.jsonl counts completed steps, t + 1).</summary>
    public static IReadOnlyList<PruneStepMetrics> ReadMetrics(string path) =>
        File.ReadLines(path).Select(line => JsonNode.Parse(line)!.AsObject()).Select(o => new PruneStepMetrics(
            (long)o["step"]! - 1, (double?)o["loss"], (double?)o["eval_loss"], (double?)o["sparsity"] ?? 0, (bool?)o["prune_event"] ?? false)).ToList();

    private static string Markdown(PruneRun run, PruneResult r, IReadOnlyList<PruneStepMetrics> steps)
    {
        PruneSettings s = run.Spec;
        PruneOptions o = s.Prune;
        var md = new StringBuilder();
        md.AppendLine("# LoRAPrune report").AppendLine();
        md.AppendLine($"- model: `{Path.GetFullPath(s.Model.ModelFolder)}` → `{Path.GetFullPath(run.ModelFolder)}`");
        md.AppendLine($"- command: `{s.Run.CommandLine}`");
        md.AppendLine($"- criterion **{PruneOptions.Name(o.Criterion)}**, ratio {Num(o.Ratio)} per prunable layer ({Describe(o)}), " +
                      $"{run.Trainer.Options.MaxSteps:N0} steps of {run.Trainer.Options.Batch} × {s.Run.Seq} tokens on {r.Device}");
        md.AppendLine($"- finished {r.Finished.ToString("yyyy-MM-dd HH:mm", Inv)} UTC").AppendLine();

        md.AppendLine("## Before and after").AppendLine();
        md.Append(SummaryTable(r));
        md.AppendLine();
        if (r.EvalNote is not null) md.AppendLine($"Perplexity: {r.EvalNote}.").AppendLine();
        else
        {
            md.AppendLine("Protocol lines (`loraprune eval` prints the same for any model):").AppendLine().AppendLine("```");
            foreach (PrunedEvaluation e in r.Evaluations) md.AppendLine(e.BeforeLine).AppendLine(e.AfterLine);
            md.AppendLine("```").AppendLine().AppendLine(EvalReport.Caveat).AppendLine();
        }

        md.AppendLine("## Per layer").AppendLine();
        md.AppendLine("| layer | pruned? | heads | KV heads | MLP channels | parameters |").AppendLine("|---:|:---:|---:|---:|---:|---:|");
        var before = Inference.ParameterCounts.Of(r.Original).Layers;
        var after = Inference.ParameterCounts.Of(r.Pruned).Layers;
        for (int l = 0; l < r.Original.NumHiddenLayers; l++)
            md.AppendLine($"| {l} | {(run.PrunableLayers.Contains(l) ? "yes" : "exempt")} | {r.Original.AttentionHeads(l)} → {r.Pruned.AttentionHeads(l)} | " +
                          $"{r.Original.KeyValueHeads(l)} → {r.Pruned.KeyValueHeads(l)} | {r.Original.Intermediate(l):N0} → {r.Pruned.Intermediate(l):N0} | " +
                          $"{before[l].Total:N0} → {after[l].Total:N0} |");
        md.AppendLine();

        md.AppendLine("## Prune events").AppendLine();
        md.AppendLine("| step | r(t) | KV groups kept (prunable layers) | MLP channels kept | parameters |").AppendLine("|---:|---:|---:|---:|---:|");
        foreach (PruneEvent e in run.Events) md.AppendLine($"| {e.Step} | {e.Ratio:F6} | {e.GroupsKept} | {e.ChannelsKept:N0} | {e.Parameters:N0} |");
        md.AppendLine();

        md.AppendLine("## Plots").AppendLine();
        md.AppendLine($"![loss]({PrunePlots.LossFile})").AppendLine();
        md.AppendLine($"![schedule]({PrunePlots.ScheduleFile})").AppendLine();
        md.AppendLine($"![widths]({PrunePlots.WidthsFile})").AppendLine();
        md.AppendLine($"![importance]({PrunePlots.ImportanceFile})").AppendLine();

        md.AppendLine("## Settings").AppendLine();
        md.AppendLine("| setting | value |").AppendLine("|---|---|");
        foreach ((string key, JsonNode? value) in run.RunIdentity) md.AppendLine($"| {key} | {value?.ToJsonString() ?? "null"} |");
        md.AppendLine();
        md.AppendLine($"Outputs: `{PruneRun.ModelFolderName}/` (merged, compacted model in the source dtype), `{PruneRun.AdapterFolderName}/` " +
                      $"(pre-merge PEFT adapter in the original shapes, pruned rows and columns zero), `{PruneRun.MasksFileName}` (kept indices), " +
                      $"`{MetricsLog.FileName}` (one line per step), `{TrainingCheckpoint.FileName}` (to continue or inspect the run).");
        return md.ToString();
    }

    /// <summary>The before/after table (markdown): parameters, widths, perplexity and inference time per data set,
    /// peak memory, training time and throughput. The report opens with it and `prune` prints it at the end.</summary>
    public static string SummaryTable(PruneResult r)
    {
        var md = new StringBuilder();
        md.AppendLine("| | before | after |").AppendLine("|---|---:|---:|");
        md.AppendLine($"| parameters | {r.ParametersBefore:N0} | {r.ParametersAfter:N0} ({Pct(1 - (double)r.ParametersAfter / r.ParametersBefore)} removed) |");
        md.AppendLine($"| attention heads / KV heads (all layers) | {Sum(r.Original, r.Original.AttentionHeads)} / {Sum(r.Original, r.Original.KeyValueHeads)} | " +
                      $"{Sum(r.Pruned, r.Pruned.AttentionHeads)} / {Sum(r.Pruned, r.Pruned.KeyValueHeads)} |");
        md.AppendLine($"| MLP channels (all layers) | {Sum(r.Original, r.Original.Intermediate):N0} | {Sum(r.Pruned, r.Pruned.Intermediate):N0} |");
        foreach (PrunedEvaluation e in r.Evaluations)
            md.AppendLine($"| perplexity {e.Dataset.Name}:{e.Dataset.Split} (window {e.Before.Window}) | {e.Before.Perplexity:F2} | {e.After.Perplexity:F2} |");
        foreach (PrunedEvaluation e in r.Evaluations)
            md.AppendLine($"| inference {e.Dataset.Name}:{e.Dataset.Split}, ms per window (tokens/s) | {e.Before.MillisecondsPerWindow:F1} ({e.Before.TokensPerSecond:N0}) | " +
                          $"{e.After.MillisecondsPerWindow:F1} ({e.After.TokensPerSecond:N0}) |");
        md.AppendLine($"| peak device memory while pruning (allocator) | | {Mib(r.PeakDeviceBytes)} |");
        md.AppendLine($"| training time (all sessions) | | {TimeSpan.FromSeconds(r.TrainSeconds):hh\\:mm\\:ss} |");
        md.AppendLine($"| training throughput (last session) | | {r.TokensPerSecond:N0} tokens/s |");
        return md.ToString();
    }

    private static string Describe(PruneOptions o) =>
        $"{PruneOptions.Name(o.Schedule)} schedule, warm-up {Num(o.Warmup)}, cool-down {Num(o.Cooldown)}, every {o.Frequency} steps, " +
        $"{(o.Uniform ? "uniform widths" : $"exempt first {Num(o.ExemptFirst)} of layers and last {o.ExemptLast}")}, " +
        $"{PruneOptions.Name(o.Compaction)} compaction";

    private static int Sum(LlamaConfig c, Func<int, int> f) => Enumerable.Range(0, c.NumHiddenLayers).Sum(f);
    private static string Num(double v) => v.ToString("G", Inv);
    private static string Pct(double v) => (100 * v).ToString("F1", Inv) + " %";
    private static string Mib(long bytes) => (bytes / 1048576.0).ToString("N1", Inv) + $" MiB ({bytes.ToString("N0", Inv)} bytes)";
}
