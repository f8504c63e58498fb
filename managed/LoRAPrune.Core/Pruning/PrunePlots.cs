// PrunePlots.cs — the PNG figures of a prune report (ScottPlot): the training loss, the sparsity schedule with the
// prune events marked, the kept attention heads and MLP channels per layer against the original widths, and the
// distribution of the final importance per layer (kept and pruned units apart).
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Training;
using ScottPlot;

namespace LoRAPrune.Core.Pruning;

/// <summary>One metrics.jsonl line of a prune run, as the report uses it.</summary>
public sealed record PruneStepMetrics(long Step, double? Loss, double? EvalLoss, double Sparsity, bool PruneEvent);

public static class PrunePlots
{
    public const string LossFile = "loss.png", ScheduleFile = "sparsity.png", WidthsFile = "widths.png", ImportanceFile = "importance.png";
    private const int Width = TrainingPlots.Width, Height = TrainingPlots.Height;

    public static void Loss(string path, IReadOnlyList<PruneStepMetrics> steps) =>
        TrainingPlots.Loss(path, steps.Select(s => new LossPoint(s.Step, s.Loss, s.EvalLoss)).ToList(),
            steps.Where(s => s.PruneEvent).Select(s => (double)s.Step).ToList(), "Training loss (grey lines: prune events)", "optimizer step t");

    public static void Schedule(string path, IReadOnlyList<PruneStepMetrics> steps, double target)
    {
        var plot = new Plot();
        var r = plot.Add.ScatterLine(steps.Select(s => (double)s.Step).ToArray(), steps.Select(s => s.Sparsity).ToArray());
        r.LegendText = "r(t) (cubic schedule)";
        var events = steps.Where(s => s.PruneEvent).ToList();
        if (events.Count > 0)
        {
            var marks = plot.Add.Scatter(events.Select(s => (double)s.Step).ToArray(), events.Select(s => s.Sparsity).ToArray());
            marks.LineWidth = 0;
            marks.MarkerSize = 9;
            marks.LegendText = "prune events";
        }
        plot.Add.HorizontalLine(target, 1, Colors.Red.WithAlpha(0.5), LinePattern.Dashed).LegendText = "target ratio";
        plot.Title("Sparsity schedule");
        plot.XLabel("optimizer step t");
        plot.YLabel("fraction of groups removed per layer");
        plot.ShowLegend();
        plot.SavePng(path, Width, Height);
    }

    public static void Widths(string path, LlamaConfig original, LlamaConfig pruned)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        Plot heads = multiplot.GetPlot(0), channels = multiplot.GetPlot(1);
        Bars(heads, original.NumHiddenLayers, original.AttentionHeads, pruned.AttentionHeads, "query heads per layer");
        Bars(channels, original.NumHiddenLayers, original.Intermediate, pruned.Intermediate, "MLP channels per layer");
        multiplot.SavePng(path, Width, Height * 2);
    }

    private static void Bars(Plot plot, int layers, Func<int, int> before, Func<int, int> after, string title)
    {
        var original = plot.Add.Bars(Enumerable.Range(0, layers).Select(l => (double)l).ToArray(), Enumerable.Range(0, layers).Select(l => (double)before(l)).ToArray());
        original.LegendText = "original";
        original.Color = Colors.LightGray;
        var kept = plot.Add.Bars(Enumerable.Range(0, layers).Select(l => (double)l).ToArray(), Enumerable.Range(0, layers).Select(l => (double)after(l)).ToArray());
        kept.LegendText = "kept";
        plot.Title(title);
        plot.XLabel("layer");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
        plot.ShowLegend();
        plot.Axes.Margins(bottom: 0);
    }

    public static void Importance(string path, IReadOnlyList<UnitScores> scores)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        Scores(multiplot.GetPlot(0), scores.Where(s => s.Attention).ToList(), "KV-group importance at the end (moving average)");
        Scores(multiplot.GetPlot(1), scores.Where(s => !s.Attention).ToList(), "MLP-channel importance at the end (moving average)");
        multiplot.SavePng(path, Width, Height * 2);
    }

    // One column of points per layer, spread a little sideways so dense layers stay readable.
    private static void Scores(Plot plot, IReadOnlyList<UnitScores> layers, string title)
    {
        var rng = new Random(7);
        foreach (bool kept in new[] { true, false })
        {
            var xs = new List<double>();
            var ys = new List<double>();
            foreach (UnitScores s in layers)
                for (int i = 0; i < s.Scores.Length; i++)
                {
                    if (s.Kept[i] != kept) continue;
                    xs.Add(s.Layer + (rng.NextDouble() - 0.5) * 0.5);
                    ys.Add(s.Scores[i]);
                }
            if (xs.Count == 0) continue;
            var points = plot.Add.Scatter(xs.ToArray(), ys.ToArray());
            points.LineWidth = 0;
            points.MarkerSize = 4;
            points.Color = kept ? Colors.SteelBlue.WithAlpha(0.7) : Colors.OrangeRed.WithAlpha(0.7);
            points.LegendText = kept ? "kept" : "pruned";
        }
        plot.Title(title);
        plot.XLabel("layer");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
        plot.YLabel("score");
        plot.ShowLegend();
    }
}
