// BenchReportWriter.cs — turns a KernelBenchReport into bench-kernels.json, bench-kernels.md and a
// plain-text table. Files are written atomically (a temporary file in the same folder, then a
// rename), so a reader never sees half a report and an interrupted run leaves the old one intact.
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoRAPrune.Core.Bench;

public static class BenchReportWriter
{
    public const string JsonFileName = "bench-kernels.json";
    public const string MarkdownFileName = "bench-kernels.md";

    /// <summary>Writes both files into outDir (created if missing); returns their paths.</summary>
    public static (string Json, string Markdown) Write(KernelBenchReport report, string outDir)
    {
        Directory.CreateDirectory(outDir);
        string json = Path.Combine(outDir, JsonFileName), markdown = Path.Combine(outDir, MarkdownFileName);
        WriteAtomically(json, ToJson(report));
        WriteAtomically(markdown, ToMarkdown(report));
        return (json, markdown);
    }

    public static string ToJson(KernelBenchReport report)
    {
        var root = new JsonObject
        {
            ["tool"] = "loraprune bench kernels",
            ["command"] = report.CommandLine,
            ["version"] = report.ToolVersion,
            ["date"] = report.Date.ToString("o", CultureInfo.InvariantCulture),
            ["git"] = report.Git,
            ["host"] = report.Host,
            ["warmup"] = report.Warmup,
            ["repeat"] = report.Repeat,
            ["quick"] = report.Quick,
            ["all_validated"] = report.AllValidated,
            ["shape_sets"] = new JsonArray(report.Shapes.Select(s => (JsonNode)new JsonObject
            {
                ["name"] = s.Name, ["B"] = s.B, ["T"] = s.T, ["N"] = s.N, ["C"] = s.C, ["H"] = s.H, ["KVH"] = s.KVH, ["D"] = s.D,
                ["F"] = s.F, ["V"] = s.V, ["R"] = s.R, ["L"] = s.L, ["lora_arena"] = s.LoraArena, ["importance_arena"] = s.ImportanceArena,
            }).ToArray()),
            ["backends"] = new JsonArray(report.Backends.Select(b => (JsonNode)new JsonObject
            {
                ["name"] = b.Name,
                ["device"] = b.Device,
                ["library"] = b.Library,
                ["build"] = new JsonObject(b.Build.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
                ["roof"] = new JsonObject
                {
                    ["copy_buffer_bytes"] = b.Roof.CopyBufferBytes,
                    ["copy_gbps"] = b.Roof.CopyGBps,
                    ["gemm_size"] = b.Roof.GemmSize,
                    ["gemm_f32_gflops"] = b.Roof.GemmF32Gflops,
                    ["gemm_bf16_gflops"] = b.Roof.GemmBf16Gflops,
                },
            }).ToArray()),
            ["results"] = new JsonArray(report.Results.Select(ResultJson).ToArray()),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    public static string ToMarkdown(KernelBenchReport report)
    {
        var md = new StringBuilder();
        md.AppendLine("# loraprune bench kernels").AppendLine();
        if (report.CommandLine is not null) md.AppendLine($"- command: `{report.CommandLine}`");
        md.AppendLine($"- date: {report.Date.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC");
        md.AppendLine($"- loraprune {report.ToolVersion}, native git {report.Git}");
        md.AppendLine($"- host: {report.Host}");
        foreach (BackendReport b in report.Backends) md.AppendLine($"- {b.Name}: {b.Device}");
        md.AppendLine($"- {report.Warmup} warm-up calls, median and min of {report.Repeat} samples{(report.Quick ? " (--quick: miniature shapes)" : "")}");
        md.AppendLine($"- result: {(report.AllValidated ? "every op validated" : "SOME OPS FAILED VALIDATION OR DID NOT RUN")}").AppendLine();

        md.AppendLine("## Roofs measured in this run").AppendLine();
        md.AppendLine("| backend | device | copy GB/s (read+write) | GEMM size | f32 GEMM GFLOP/s | bf16 GEMM GFLOP/s |");
        md.AppendLine("|---|---|---:|---:|---:|---:|");
        foreach (BackendReport b in report.Backends)
            md.AppendLine(FormattableString.Invariant(
                $"| {b.Name} | {Escape(b.Device)} | {b.Roof.CopyGBps:0.0} | {b.Roof.GemmSize}^3 | {b.Roof.GemmF32Gflops:0.0} | {b.Roof.GemmBf16Gflops:0.0} |"));
        md.AppendLine();

        foreach (BenchShapes shapes in report.Shapes)
        {
            md.AppendLine($"## {shapes.Name}: {shapes.Describe()}").AppendLine();
            md.AppendLine("| " + string.Join(" | ", KernelBenchReport.Columns) + " |");
            md.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---|");
            foreach (KernelResult r in report.Results.Where(r => r.ShapeSet == shapes.Name))
                md.AppendLine("| " + string.Join(" | ", KernelBenchReport.Cells(r).Select(Escape)) + " |");
            md.AppendLine();
        }

        md.AppendLine("## How to read it").AppendLine();
        md.AppendLine("- GB/s and GFLOP/s divide the bytes an op must move (each input read once, each output written once) and its FLOPs " +
                      "(formulas next to each case in managed/LoRAPrune.Core/Bench/KernelCases*.cs) by the median time.");
        md.AppendLine("- % roof = roofline time / median time, where roofline time = max(bytes / copy bandwidth, FLOPs / GEMM peak) " +
                      "and the column names the larger term. Data that fits in cache can exceed 100% of the DRAM copy bandwidth.");
        md.AppendLine("- validated: \"f64 spot\" = the cpu backend's outputs at 8 sampled elements per output against float64 values computed by " +
                      "the benchmark; \"vs cpu\" = every output against the cpu backend's on identical inputs. nerr is the normalised L2 error; " +
                      "an op that fails is not timed.");
        foreach (string line in KernelBenchReport.ThresholdLines()) md.AppendLine("- " + line);
        List<KernelResult> failed = report.Results.Where(r => !r.Validated).ToList();
        if (failed.Count > 0)
        {
            md.AppendLine().AppendLine("## Failures").AppendLine();
            foreach (KernelResult r in failed)
                md.AppendLine($"- {r.Backend} {r.ShapeSet} {r.Title}: {Escape(r.Error ?? r.Validation?.Detail ?? "not run")}");
        }
        return md.ToString();
    }

    /// <summary>A plain-text table (aligned columns), one per shape set, headed by the roofs.</summary>
    public static string ToText(KernelBenchReport report)
    {
        var text = new StringBuilder();
        foreach (BackendReport b in report.Backends) text.AppendLine("roof " + KernelBenchReport.RoofLine(b));
        foreach (BenchShapes shapes in report.Shapes)
        {
            text.AppendLine().AppendLine($"{shapes.Name}: {shapes.Describe()}");
            var rows = new List<string[]> { KernelBenchReport.Columns };
            rows.AddRange(report.Results.Where(r => r.ShapeSet == shapes.Name).Select(KernelBenchReport.Cells));
            int[] widths = Enumerable.Range(0, KernelBenchReport.Columns.Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
            foreach (string[] row in rows)
                text.AppendLine(string.Join(" | ", row.Select((cell, c) => c == row.Length - 1 ? cell : cell.PadRight(widths[c]))).TrimEnd());
        }
        text.AppendLine();
        foreach (string line in KernelBenchReport.ThresholdLines()) text.AppendLine(line);
        return text.ToString();
    }

    /// <summary>Writes text to path through a temporary file in the same folder and a rename.</summary>
    public static void WriteAtomically(string path, string text)
    {
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            File.WriteAllText(temp, text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    private static JsonNode ResultJson(KernelResult r) => new JsonObject
    {
        ["backend"] = r.Backend,
        ["shape_set"] = r.ShapeSet,
        ["op"] = r.Op,
        ["variant"] = r.Variant,
        ["shape"] = r.Shape,
        ["bytes"] = r.Bytes,
        ["flops"] = r.Flops,
        ["median_ms"] = r.Timing is null ? null : r.Timing.MedianSeconds * 1e3,
        ["min_ms"] = r.Timing is null ? null : r.Timing.MinSeconds * 1e3,
        ["calls_per_sample"] = r.Timing?.CallsPerSample,
        ["gbps"] = r.GBps,
        ["gflops"] = r.Gflops,
        ["roof_fraction"] = r.RoofFraction,
        ["roof_bound"] = r.RoofBound,
        ["peak_bytes"] = r.PeakBytes,
        ["validated"] = r.Validated,
        ["validation"] = r.Validation is null ? null : new JsonObject
        {
            ["method"] = r.Validation.Method == ValidationMethod.CpuCompare ? "cpu-compare" : "f64-spot-check",
            ["passed"] = r.Validation.Passed,
            ["error"] = double.IsFinite(r.Validation.Error) ? r.Validation.Error : null,
            ["threshold"] = r.Validation.Tolerance.Limit,
            ["reason"] = r.Validation.Tolerance.Reason,
            ["detail"] = r.Validation.Detail,
        },
        ["error"] = r.Error,
    };

    private static string Escape(string cell) => cell.Replace("|", "\\|", StringComparison.Ordinal);
}
