// TrainingPlots.cs — the training-curve figure every run can draw from its metrics.jsonl (ScottPlot): the per-step
// training loss, the held-out loss where it was measured, and optional event markers (prune events).
using ScottPlot;

namespace LoRAPrune.Core.Training;

/// <summary>One point of a training curve: the step, its mean loss and (when measured) the held-out loss.</summary>
public readonly record struct LossPoint(double Step, double? Loss, double? EvalLoss);

public static class TrainingPlots
{
    public const int Width = 900, Height = 420;

    /// <summary>Writes the loss curve as a PNG; <paramref name="events"/> are drawn as grey vertical lines.</summary>
    public static void Loss(string path, IReadOnlyList<LossPoint> points, IReadOnlyList<double> events, string title, string xLabel)
    {
        var plot = new Plot();
        var train = points.Where(p => p.Loss is not null).ToList();
        var line = plot.Add.ScatterLine(train.Select(p => p.Step).ToArray(), train.Select(p => p.Loss!.Value).ToArray());
        line.LegendText = "train loss (step mean)";
        var eval = points.Where(p => p.EvalLoss is not null).ToList();
        if (eval.Count > 0)
        {
            var marks = plot.Add.Scatter(eval.Select(p => p.Step).ToArray(), eval.Select(p => p.EvalLoss!.Value).ToArray());
            marks.LegendText = "held-out loss";
            marks.LineWidth = 0;
            marks.MarkerSize = 8;
        }
        foreach (double e in events) plot.Add.VerticalLine(e, 1, Colors.Gray.WithAlpha(0.35));
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel("mean token NLL (nats)");
        plot.ShowLegend();
        plot.SavePng(path, Width, Height);
    }

    /// <summary>The loss points of a metrics.jsonl file (step = completed optimizer steps).</summary>
    public static IReadOnlyList<LossPoint> Read(string metricsPath) =>
        File.ReadLines(metricsPath).Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!.AsObject())
            .Select(o => new LossPoint((long)o["step"]!, (double?)o["loss"], (double?)o["eval_loss"])).ToList();
}
