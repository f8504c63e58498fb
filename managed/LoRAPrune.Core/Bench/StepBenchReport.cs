// StepBenchReport.cs — what `bench step` measured and how it is shown: one row per criterion with tokens/s, the GEMM
// roof, peak memory and the per-op-class breakdown; the same cells on the terminal, in bench-step.md and in
// bench-step.json (which also keeps every step time, every op's time and every roof GEMM). Files are written atomically.
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAPrune.Core.Pruning;

namespace LoRAPrune.Core.Bench;

/// <param name="Model">What ran: "config FILE (random weights)" or "model DIR".</param>
/// <param name="Shape">The model's widths in the legend of lp.h.</param>
public sealed record StepBenchReport(DateTimeOffset Date, string ToolVersion, string Git, string Machine, string Backend, string Device, string CommandLine,
                                     string Model, string Shape, StepBenchSettings Settings, IReadOnlyList<StepBenchResult> Results)
{
    public const string JsonFileName = "bench-step.json";
    public const string MarkdownFileName = "bench-step.md";

    public static readonly string[] ThroughputColumns =
        { "criterion", "tokens/s", "step ms", "GEMM roof tokens/s", "% of roof", "steps' range", "GFLOP/s (step / roof)", "peak alloc MiB", "weights MiB", "peak RSS MiB" };

    public static readonly string[] BreakdownColumns =
        ["criterion", .. Enum.GetValues<OpClass>().Select(OpClasses.Name), "profiled step ms"];

    public string[] ThroughputCells(StepBenchResult r) =>
    [
        StepBench.Name(r.Criterion),
        F(r.TokensPerSecond, "0"),
        F(r.MedianStepSeconds * 1e3, "0.0"),
        F(r.RoofTokensPerSecond, "0"),
        F(100 * r.FractionOfRoof, "0.0") + "%",
        $"{F(100 * r.FractionOfRoofRange.Slowest, "0.0")}-{F(100 * r.FractionOfRoofRange.Fastest, "0.0")}%",
        $"{F(r.AchievedGflops, "0.0")} / {F(r.RoofGflops, "0.0")}",
        Mib(r.PeakAllocatorBytes),
        Mib(r.WeightBytes),
        r.PeakRssBytes is { } rss ? Mib((ulong)rss) : "-",
    ];

    public string[] BreakdownCells(StepBenchResult r) =>
    [
        StepBench.Name(r.Criterion),
        .. Enum.GetValues<OpClass>().Select(c => Settings.ProfileSteps == 0 ? "-"
            : $"{F(r.ClassSeconds[c] * 1e3, "0.0")} ({F(100 * r.ClassSeconds[c] / r.ProfiledStepSeconds, "0")}%)"),
        Settings.ProfileSteps == 0 ? "-" : F(r.ProfiledStepSeconds * 1e3, "0.0"),
    ];

    /// <summary>Each criterion's peak allocator memory against grad's, when grad ran: the paper's memory comparison.</summary>
    public IEnumerable<string> MemoryLines()
    {
        StepBenchResult? grad = Results.FirstOrDefault(r => r.Criterion == PruneCriterion.Grad);
        if (grad is null) yield break;
        foreach (StepBenchResult r in Results.Where(r => r.Criterion != PruneCriterion.Grad))
            yield return $"{StepBench.Name(r.Criterion)} peak allocator memory {Mib(r.PeakAllocatorBytes)} MiB = {F(100.0 * r.PeakAllocatorBytes / grad.PeakAllocatorBytes, "0.0")}% " +
                         $"of grad's {Mib(grad.PeakAllocatorBytes)} MiB ({F(100 - 100.0 * r.PeakAllocatorBytes / grad.PeakAllocatorBytes, "0.0")}% less)";
    }

    /// <summary>Each prune row's speed against the finetune row's, when it ran: what scoring and masking cost a step.</summary>
    public IEnumerable<string> CostLines()
    {
        StepBenchResult? finetune = Results.FirstOrDefault(r => r.Criterion is null);
        if (finetune is null) yield break;
        foreach (StepBenchResult r in Results.Where(r => r.Criterion is not null))
            yield return $"{StepBench.Name(r.Criterion)} step {F(r.MedianStepSeconds * 1e3, "0.0")} ms = {F(100.0 * r.MedianStepSeconds / finetune.MedianStepSeconds, "0.0")}% " +
                         $"of the {StepBench.FinetuneName} step's {F(finetune.MedianStepSeconds * 1e3, "0.0")} ms";
    }

    /// <summary>The settings and conventions, one line each (the header of every rendering).</summary>
    public IEnumerable<string> HeaderLines()
    {
        StepBenchSettings s = Settings;
        yield return $"command: {CommandLine}";
        yield return $"date {Date.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC, loraprune {ToolVersion}, native git {Git}";
        yield return $"machine: {Machine}; backend {Backend}: {Device}";
        yield return $"model: {Model}; {Shape}; base weights {DTypeName(s.BaseDType)}, activations {(s.Activations is { } a ? DTypeName(a) : "the backend's default")}";
        yield return $"step: batch {s.Batch} x {s.Seq} tokens ({s.TokensPerStep} tokens) in micro-batches of {s.MicroBatch}; LoRA r {s.Lora.Rank}, alpha {s.Lora.Alpha}, " +
                     $"dropout {s.Lora.Dropout} on {string.Join(",", s.Lora.Targets.Select(t => t.ToString().Replace("Proj", "", StringComparison.Ordinal).ToLowerInvariant()))}; " +
                     $"prune rows: output masks on (as a masked prune), every layer scored ({Results.FirstOrDefault(r => r.Criterion is not null)?.ScoredLayers ?? 0} layers); " +
                     $"{StepBench.FinetuneName} row: the step of `finetune` (no masks, no importance)";
        yield return $"timing: {s.Warmup} warm-up steps, median of {s.Repeat} timed steps; breakdown from {s.ProfileSteps} more step(s) with every op synchronised and timed";
    }

    private static string DTypeName(Native.LpDType t) => t.ToString().ToLowerInvariant();

    public string ToJson()
    {
        StepBenchSettings s = Settings;
        var root = new JsonObject
        {
            ["tool"] = "loraprune bench step",
            ["version"] = ToolVersion,
            ["date"] = Date.ToString("o", CultureInfo.InvariantCulture),
            ["git"] = Git,
            ["machine"] = Machine,
            ["backend"] = Backend,
            ["device"] = Device,
            ["command"] = CommandLine,
            ["model"] = Model,
            ["shape"] = Shape,
            ["settings"] = new JsonObject
            {
                ["base_dtype"] = DTypeName(s.BaseDType), ["activations"] = s.Activations is { } a ? DTypeName(a) : null, ["batch"] = s.Batch, ["micro_batch"] = s.MicroBatch, ["seq"] = s.Seq,
                ["tokens_per_step"] = s.TokensPerStep, ["lora_rank"] = s.Lora.Rank, ["lora_alpha"] = s.Lora.Alpha, ["lora_dropout"] = s.Lora.Dropout,
                ["warmup"] = s.Warmup, ["repeat"] = s.Repeat, ["profile_steps"] = s.ProfileSteps, ["seed"] = s.Seed,
            },
            ["results"] = new JsonArray(Results.Select(r => (JsonNode)new JsonObject
            {
                ["criterion"] = StepBench.Name(r.Criterion),
                ["tokens_per_s"] = r.TokensPerSecond,
                ["median_step_ms"] = r.MedianStepSeconds * 1e3,
                ["step_ms"] = new JsonArray(r.StepSeconds.Select(t => (JsonNode)(t * 1e3)).ToArray()),
                ["gemm_flops_per_step"] = r.GemmFlops,
                ["gemm_roof_step_ms"] = r.RoofSeconds * 1e3,
                ["gemm_roof_tokens_per_s"] = r.RoofTokensPerSecond,
                ["fraction_of_gemm_roof"] = r.FractionOfRoof,
                ["fraction_of_gemm_roof_slowest_step"] = r.FractionOfRoofRange.Slowest,
                ["fraction_of_gemm_roof_fastest_step"] = r.FractionOfRoofRange.Fastest,
                ["achieved_gflops"] = r.AchievedGflops,
                ["roof_gflops"] = r.RoofGflops,
                ["weight_bytes"] = r.WeightBytes,
                ["peak_allocator_bytes"] = r.PeakAllocatorBytes,
                ["peak_rss_bytes"] = r.PeakRssBytes,
                ["scored_layers"] = r.ScoredLayers,
                ["base_gradient_elements"] = r.BaseGradientElements,
                ["profiled_step_ms"] = r.ProfiledStepSeconds * 1e3,
                ["class_ms"] = new JsonObject(r.ClassSeconds.OrderBy(kv => kv.Key).Select(kv => KeyValuePair.Create(OpClasses.Name(kv.Key), (JsonNode?)(kv.Value * 1e3)))),
                ["op_ms"] = new JsonObject(r.OpSeconds.OrderByDescending(kv => kv.Value).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)(kv.Value * 1e3)))),
                ["roof"] = new JsonArray(r.Roof.Select(g => (JsonNode)new JsonObject
                {
                    ["what"] = g.Gemm.What, ["m"] = g.Gemm.M, ["n"] = g.Gemm.N, ["k"] = g.Gemm.K, ["trans_a"] = g.Gemm.TransA, ["trans_b"] = g.Gemm.TransB,
                    ["per_step"] = g.Gemm.Count, ["ms"] = g.Seconds * 1e3, ["gflops"] = g.Gflops,
                }).ToArray()),
            }).ToArray()),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        md.AppendLine($"# loraprune bench step: {Backend}, {Shape}").AppendLine();
        foreach (string line in HeaderLines()) md.AppendLine($"- {(line.StartsWith("command: ", StringComparison.Ordinal) ? $"command: `{line[9..]}`" : line)}");
        md.AppendLine();
        Table(md, ThroughputColumns, Results.Select(ThroughputCells));
        md.AppendLine("Time per step by op class, ms (share of the profiled step):").AppendLine();
        Table(md, BreakdownColumns, Results.Select(BreakdownCells));
        foreach (string line in MemoryLines().Concat(CostLines())) md.AppendLine($"- {line}");
        foreach (string line in NoteLines()) md.AppendLine($"- {line}");
        md.AppendLine();
        return md.ToString();
    }

    public string ToText()
    {
        var text = new StringBuilder();
        foreach (string line in HeaderLines()) text.AppendLine(line);
        text.AppendLine();
        Aligned(text, ThroughputColumns, Results.Select(ThroughputCells));
        text.AppendLine().AppendLine("time per step by op class, ms (share of the profiled step):");
        Aligned(text, BreakdownColumns, Results.Select(BreakdownCells));
        text.AppendLine();
        foreach (string line in MemoryLines().Concat(CostLines()).Concat(NoteLines())) text.AppendLine(line);
        return text.ToString();
    }

    /// <summary>How to read the columns.</summary>
    public static IEnumerable<string> NoteLines()
    {
        yield return "GEMM roof: the step's frozen-base GEMMs (forward and activation backward of every linear and the LM head; the grad " +
                     "criterion's weight gradients too), each timed alone at its shape through lp_op_gemm in this run, before and after the steps (each shape keeps its faster pass); roof tokens/s = tokens / their summed time; " +
                     "% of roof = that time / the step's median time; steps' range = the same for the slowest and the fastest timed step " +
                     "(on a shared machine the step time moves by a few per cent from step to step while the roof keeps each shape's best).";
        yield return "peak alloc: the context's allocator high-water mark (weights, adapters, optimizer state, activations, gradients, scratch); " +
                     "peak RSS: the whole process's resident high-water mark over the criterion (host copies and the .NET runtime included).";
    }

    /// <summary>Writes bench-step.json and bench-step.md into <paramref name="outDir"/>; returns their paths.</summary>
    public (string Json, string Markdown) Write(string outDir)
    {
        Directory.CreateDirectory(outDir);
        string json = Path.Combine(outDir, JsonFileName), markdown = Path.Combine(outDir, MarkdownFileName);
        BenchReportWriter.WriteAtomically(json, ToJson());
        BenchReportWriter.WriteAtomically(markdown, ToMarkdown());
        return (json, markdown);
    }

    private static void Table(StringBuilder md, string[] columns, IEnumerable<string[]> rows)
    {
        md.AppendLine("| " + string.Join(" | ", columns) + " |");
        md.AppendLine("|" + string.Join("|", columns.Select((_, i) => i == 0 ? "---" : "---:")) + "|");
        foreach (string[] row in rows) md.AppendLine("| " + string.Join(" | ", row) + " |");
        md.AppendLine();
    }

    private static void Aligned(StringBuilder text, string[] columns, IEnumerable<string[]> rows)
    {
        var all = new List<string[]> { columns };
        all.AddRange(rows);
        int[] widths = Enumerable.Range(0, columns.Length).Select(c => all.Max(r => r[c].Length)).ToArray();
        foreach (string[] row in all) text.AppendLine(string.Join(" | ", row.Select((cell, c) => cell.PadLeft(widths[c]))).TrimEnd());
    }

    private static string Mib(ulong bytes) => F(bytes / 1048576.0, "0.0");

    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
