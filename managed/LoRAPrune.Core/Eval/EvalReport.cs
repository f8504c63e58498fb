// EvalReport.cs — how a perplexity run is reported: one greppable protocol line per result (data set,
// split, window, stride, counts, BOS handling, model and adapter SHA-256, PPL, mean NLL), eval.json
// with everything, and one metrics.jsonl line per result appended; both files written atomically.
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Core.Eval;

/// <summary>One data set scored at one window.</summary>
public sealed record EvalResult(EvalDataset Dataset, PerplexityResult Perplexity);

/// <summary>A whole `loraprune eval` run.</summary>
/// <param name="Model">The model folder.</param>
/// <param name="ModelHash">Fingerprint of config.json + safetensors.</param>
/// <param name="Adapter">The LoRA adapter folder, if any.</param>
/// <param name="AdapterHash">Fingerprint of the adapter files, if any.</param>
/// <param name="Tokenizer">The tokenizer used for text data (null when every data set was a token file).</param>
/// <param name="Device">Backend name.</param>
/// <param name="DType">Dtype of the linear weights.</param>
/// <param name="Batch">Windows per forward pass (does not change the result: windows are independent, nothing is padded).</param>
/// <param name="Results">Every (data set, window) result.</param>
/// <param name="Time">When the run finished.</param>
public sealed record EvalRun(string Model, Fingerprint ModelHash, string? Adapter, Fingerprint? AdapterHash, string? Tokenizer,
                             string Device, string DType, int Batch, IReadOnlyList<EvalResult> Results, DateTimeOffset Time);

/// <summary>Protocol lines and the eval.json / metrics.jsonl files.</summary>
public static class EvalReport
{
    /// <summary>The results file written into the output folder.</summary>
    public const string JsonFileName = "eval.json";

    /// <summary>The metrics log that every command appends to in its output folder.</summary>
    public const string MetricsFileName = "metrics.jsonl";

    /// <summary>What every report says about comparing these numbers.</summary>
    public const string Caveat =
        "Perplexities on these corpora (State of the Union, Brown, ...) are not comparable with published WikiText-2 or PTB numbers; compare runs of this tool with the same data, window and tokenizer.";

    /// <summary>"dataset=sotu split=test window=128 stride=128 windows=.. predicted=.. bos=.. model_sha256=.. adapter_sha256=.. ppl=.. nll=..".</summary>
    public static string ProtocolLine(EvalRun run, EvalResult result)
    {
        PerplexityResult p = result.Perplexity;
        return string.Create(CultureInfo.InvariantCulture,
            $"dataset={result.Dataset.Name} split={result.Dataset.Split} window={p.Window} stride={p.Stride} windows={p.Windows} " +
            $"predicted={p.PredictedTokens} bos={result.Dataset.Bos} model_sha256={run.ModelHash.Sha256} " +
            $"adapter_sha256={run.AdapterHash?.Sha256 ?? "none"} device={run.Device} dtype={run.DType} ppl={p.Perplexity:F4} nll={p.MeanNll:F6}");
    }

    /// <summary>Writes eval.json (replacing it) and appends one line per result to metrics.jsonl in <paramref name="folder"/>.</summary>
    public static (string Json, string Metrics) Write(EvalRun run, string folder)
    {
        Directory.CreateDirectory(folder);
        string json = Path.Combine(folder, JsonFileName);
        string metrics = Path.Combine(folder, MetricsFileName);
        AtomicFile.WriteText(json, ToJson(run));
        string existing = File.Exists(metrics) ? File.ReadAllText(metrics) : "";
        if (existing.Length > 0 && !existing.EndsWith('\n')) existing += "\n";
        AtomicFile.WriteText(metrics, existing + string.Concat(run.Results.Select(r => MetricsLine(run, r) + "\n")));
        return (json, metrics);
    }

    /// <summary>The eval.json text.</summary>
    public static string ToJson(EvalRun run) => Serialize(w =>
    {
        w.WriteStartObject();
        w.WriteString("kind", "perplexity");
        w.WriteString("time", run.Time.ToString("O", CultureInfo.InvariantCulture));
        w.WriteString("protocol", "join texts with \"\\n\\n\", tokenize once (one BOS at the very start; token files as stored), " +
                                  "non-overlapping windows (stride = window, remainder dropped), window-1 predictions per window, PPL = exp(mean NLL)");
        w.WriteString("caveat", Caveat);
        w.WriteStartObject("model");
        w.WriteString("path", run.Model);
        WriteFingerprint(w, run.ModelHash);
        w.WriteEndObject();
        if (run.Adapter is not null && run.AdapterHash is not null)
        {
            w.WriteStartObject("adapter");
            w.WriteString("path", run.Adapter);
            WriteFingerprint(w, run.AdapterHash);
            w.WriteEndObject();
        }
        else w.WriteNull("adapter");
        if (run.Tokenizer is null) w.WriteNull("tokenizer");
        else w.WriteString("tokenizer", run.Tokenizer);
        w.WriteString("device", run.Device);
        w.WriteString("dtype", run.DType);
        w.WriteNumber("batch", run.Batch);
        w.WriteStartArray("results");
        foreach (EvalResult r in run.Results)
        {
            w.WriteStartObject();
            WriteResult(w, r);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    });

    /// <summary>One metrics.jsonl line: {"event":"eval", time, model/adapter hashes, then the result fields}.</summary>
    public static string MetricsLine(EvalRun run, EvalResult result) => Serialize(w =>
    {
        w.WriteStartObject();
        w.WriteString("event", "eval");
        w.WriteString("time", run.Time.ToString("O", CultureInfo.InvariantCulture));
        w.WriteString("model_sha256", run.ModelHash.Sha256);
        if (run.AdapterHash is null) w.WriteNull("adapter_sha256");
        else w.WriteString("adapter_sha256", run.AdapterHash.Sha256);
        WriteResult(w, result);
        w.WriteEndObject();
    }, indented: false);

    private static void WriteResult(Utf8JsonWriter w, EvalResult r)
    {
        PerplexityResult p = r.Perplexity;
        w.WriteString("dataset", r.Dataset.Name);
        w.WriteString("split", r.Dataset.Split);
        w.WriteStartArray("files");
        foreach (string file in r.Dataset.Files) w.WriteStringValue(file);
        w.WriteEndArray();
        w.WriteString("bos", r.Dataset.Bos);
        w.WriteNumber("tokens", r.Dataset.Ids.Length);
        w.WriteNumber("window", p.Window);
        w.WriteNumber("stride", p.Stride);
        w.WriteNumber("windows", p.Windows);
        w.WriteNumber("predicted_tokens", p.PredictedTokens);
        WriteNumber(w, "nll_sum", p.NllSum);
        WriteNumber(w, "nll_mean", p.MeanNll);
        WriteNumber(w, "ppl", p.Perplexity);
        WriteNumber(w, "seconds", p.Seconds);
        WriteNumber(w, "tokens_per_second", p.TokensPerSecond);
        WriteNumber(w, "ms_per_window", p.MillisecondsPerWindow);
    }

    private static void WriteFingerprint(Utf8JsonWriter w, Fingerprint f)
    {
        w.WriteString("sha256", f.Sha256);
        w.WriteStartArray("files");
        foreach (FileHash file in f.Files)
        {
            w.WriteStartObject();
            w.WriteString("name", file.Name);
            w.WriteString("sha256", file.Sha256);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    // JSON has no NaN or infinity: a diverged model's values are written as null.
    private static void WriteNumber(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteNull(name);
    }

    private static string Serialize(Action<Utf8JsonWriter> write, bool indented = true)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            write(w);
        string text = Encoding.UTF8.GetString(buffer.ToArray());
        return indented ? text + "\n" : text;
    }
}
