// MetricsLog.cs — metrics.jsonl of a training run: one JSON object per optimizer step (step, loss,
// grad_norm, lr, tokens, loss_tokens, tokens_per_s, elapsed_s, eval_loss when measured, and what the command
// adds, such as prune's sparsity and prune events), appended and flushed as each step ends. A resumed run
// first drops the lines after its checkpoint's step.
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Core.Training;

public sealed class MetricsLog : IDisposable
{
    public const string FileName = "metrics.jsonl";

    private readonly StreamWriter _writer;

    private MetricsLog(StreamWriter writer, double elapsedBefore)
    {
        _writer = writer;
        ElapsedBefore = elapsedBefore;
    }

    /// <summary>elapsed_s of the last kept line: the time earlier sessions of the run trained.</summary>
    public double ElapsedBefore { get; }

    /// <summary>Opens <paramref name="path"/> for appending after dropping every line of a step beyond
    /// <paramref name="keepThroughStep"/> (and any line a killed process left unfinished).</summary>
    public static MetricsLog Open(string path, long keepThroughStep)
    {
        double elapsed = 0;
        if (File.Exists(path))
        {
            var kept = new StringBuilder();
            foreach (string line in File.ReadAllLines(path))
            {
                if (!TryParse(line, out long step, out double lineElapsed) || step > keepThroughStep) continue;
                kept.Append(line).Append('\n');
                elapsed = lineElapsed;
            }
            AtomicFile.WriteText(path, kept.ToString());
        }
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        return new MetricsLog(new StreamWriter(stream, new UTF8Encoding(false)) { NewLine = "\n" }, elapsed);
    }

    private static bool TryParse(string line, out long step, out double elapsed)
    {
        step = 0;
        elapsed = 0;
        try
        {
            if (JsonNode.Parse(line) is not JsonObject o || o["step"] is not JsonValue s || !s.TryGetValue(out step)) return false;
            if (o["elapsed_s"] is JsonValue e) e.TryGetValue(out elapsed);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Appends the line of one step and flushes it.</summary>
    public void Append(StepReport report, double elapsedSeconds, double? evalLoss, JsonObject? extra = null)
    {
        var line = new JsonObject
        {
            ["step"] = report.Step,
            ["loss"] = Number(report.Loss),
            ["grad_norm"] = Number(report.GradNorm),
            ["lr"] = report.LearningRate,
            ["tokens"] = report.Tokens,
            ["loss_tokens"] = report.LossTokens,
            ["tokens_per_s"] = Math.Round(report.TokensPerSecond, 1),
            ["elapsed_s"] = Math.Round(ElapsedBefore + elapsedSeconds, 3),
        };
        if (evalLoss is { } e) line["eval_loss"] = Number(e);
        foreach ((string key, JsonNode? value) in extra ?? []) line[key] = value?.DeepClone();
        _writer.WriteLine(line.ToJsonString());
        _writer.Flush();
    }

    // JSON has no NaN or infinity: such values are written as null.
    private static JsonNode? Number(double value) => double.IsFinite(value) ? JsonValue.Create(value) : null;

    public void Dispose() => _writer.Dispose();

    /// <summary>A value for a one-line log ("3.2145"), or "n/a" when not finite.</summary>
    public static string Format(double value, string format = "F4") =>
        double.IsFinite(value) ? value.ToString(format, CultureInfo.InvariantCulture) : "n/a";
}
