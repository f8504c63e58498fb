// BenchCommand.cs — `loraprune bench` and its `kernels` subcommand: every native op of a LoRAPrune
// step, validated first (cpu: float64 spot checks; other backends: against the cpu backend), then
// timed against the roofs measured in the same run; a table on stdout, JSON + markdown in --out.
// The other subcommands (quality, step, page) live in their own files.
using System.CommandLine;
using LoRAPrune.Core.Bench;
using LoRAPrune.Native;
using Spectre.Console;

namespace LoRAPrune.Cli.Commands;

internal sealed class BenchCommand : Command
{
    public BenchCommand() : base("bench", "Benchmarks of the native backends.")
    {
        Subcommands.Add(new KernelsCommand());
        Subcommands.Add(new BenchQualityCommand());
        Subcommands.Add(new BenchStepCommand());
        Subcommands.Add(new BenchPageCommand());
    }

    /// <summary>`loraprune bench kernels`.</summary>
    private sealed class KernelsCommand : Command
    {
        private const int ExitValidationFailed = 1;
        private const int ExitCannotRun = 2;

        private readonly Option<string?> _backend = new("--backend")
        {
            Description = "Backend to benchmark: cpu, cudaemu, cuda or all. Default: every backend that loads and has a device, " +
                          "except the CUDA emulator (orders of magnitude slower; name it, ideally with --quick).",
        };

        private readonly Option<string> _shapes = new("--shapes")
        {
            Description = "default: the project's default model (hidden 256, 8/4 heads, MLP 688, vocab 32000, r 8, 4 x 256 tokens); " +
                          "llama7b: LLaMA-7B widths (hidden 4096, 32 heads, MLP 11008, r 8) at 1 x 256 tokens; both.",
            DefaultValueFactory = _ => "default",
        };

        private readonly Option<int?> _repeat = new("--repeat")
        {
            HelpName = "N",
            Description = "Timed samples per op (default 10, 3 with --quick); median and min are reported.",
        };

        private readonly Option<int?> _warmup = new("--warmup")
        {
            HelpName = "N",
            Description = "Untimed calls before the samples (default 2, 1 with --quick).",
        };

        private readonly Option<string> _out = new("--out")
        {
            HelpName = "DIR",
            Description = "Folder for bench-kernels.json and bench-kernels.md.",
            DefaultValueFactory = _ => "bench-results",
        };

        private readonly Option<bool> _quick = new("--quick")
        {
            Description = "Miniature shapes, small roofline probes and few repeats: the whole command takes seconds (smoke test).",
        };

        public KernelsCommand() : base("kernels", "Validate, then time every op of a LoRAPrune step on each backend; report GB/s, GFLOP/s and % of the measured roofline.")
        {
            _backend.AcceptOnlyFromAmong("cpu", "cudaemu", "cuda", "all");
            _shapes.AcceptOnlyFromAmong("default", "llama7b", "both");
            _repeat.Validators.Add(result =>
            {
                if (result.GetValueOrDefault<int?>() is < 1) result.AddError("--repeat must be at least 1");
            });
            _warmup.Validators.Add(result =>
            {
                if (result.GetValueOrDefault<int?>() is < 0) result.AddError("--warmup must not be negative");
            });
            Options.Add(_backend);
            Options.Add(_shapes);
            Options.Add(_repeat);
            Options.Add(_warmup);
            Options.Add(_out);
            Options.Add(_quick);
            SetAction(Run);
        }

        private int Run(ParseResult parseResult)
        {
            Terminal terminal = Terminal.For(parseResult);
            TextWriter error = parseResult.InvocationConfiguration.Error;
            bool quick = parseResult.GetValue(_quick);
            List<Backend>? backends = SelectBackends(parseResult.GetValue(_backend), error);
            if (backends is null) return ExitCannotRun;
            Backend.TryLoad("cpu", out Backend? cpu, out _);

            var options = new KernelBenchOptions(
                backends, cpu, BenchShapes.Select(parseResult.GetValue(_shapes)!, quick),
                parseResult.GetValue(_warmup) ?? (quick ? 1 : 2), parseResult.GetValue(_repeat) ?? (quick ? 3 : 10), quick, VersionAction.ToolVersion);
            error.WriteLine($"bench kernels: {string.Join(", ", backends.Select(b => b.Name))}; " +
                            $"{string.Join("; ", options.Shapes.Select(s => $"{s.Name}: {s.Describe()}"))}");
            KernelBenchReport report = KernelBench.Run(options, line => error.WriteLine(line)) with { CommandLine = TrainingRunOptions.CommandLine(parseResult) };

            if (terminal.Rich is not null) WriteTables(terminal.Rich, report);
            else terminal.Out.Write(BenchReportWriter.ToText(report));
            (string json, string markdown) = BenchReportWriter.Write(report, parseResult.GetValue(_out)!);
            terminal.Out.WriteLine($"wrote {json} and {markdown}");
            if (report.AllValidated) return 0;
            error.WriteLine($"bench kernels: {report.Results.Count(r => !r.Validated)} op(s) failed validation or did not run (not timed); see {markdown}");
            return ExitValidationFailed;
        }

        // The backends to run, or null (after saying why) when a named one is unusable or none is.
        private static List<Backend>? SelectBackends(string? choice, TextWriter error)
        {
            if (choice is null or "all")
            {
                var selected = new List<Backend>();
                foreach (Backend backend in Backend.LoadAvailable())
                {
                    if (choice is null && backend.Kind == BackendKind.CudaEmulated) continue;
                    if (backend.DeviceCount == 0)
                    {
                        error.WriteLine($"bench kernels: skipping {backend.Name}: it loads but reports no device");
                        continue;
                    }
                    selected.Add(backend);
                }
                if (selected.Count == 0) error.WriteLine("bench kernels: no backend library loads (run `loraprune devices --trace` to see where it looked)");
                return selected.Count == 0 ? null : selected;
            }
            if (!Backend.TryLoad(choice, out Backend? named, out string trace))
            {
                error.WriteLine($"bench kernels: the {choice} backend is not available.\n{trace}");
                return null;
            }
            if (named!.DeviceCount == 0)
            {
                error.WriteLine($"bench kernels: the {choice} backend loads but reports no device");
                return null;
            }
            return new List<Backend> { named };
        }

        private static void WriteTables(IAnsiConsole console, KernelBenchReport report)
        {
            foreach (BackendReport backend in report.Backends) console.MarkupLine($"[grey]roof {Markup.Escape(KernelBenchReport.RoofLine(backend))}[/]");
            foreach (BenchShapes shapes in report.Shapes)
            {
                var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"{shapes.Name}: {shapes.Describe()}"));
                foreach (string column in KernelBenchReport.Columns)
                {
                    var tableColumn = new TableColumn(column);
                    if (column.EndsWith("ms", StringComparison.Ordinal) || column.StartsWith("GB", StringComparison.Ordinal) ||
                        column.StartsWith("GFLOP", StringComparison.Ordinal) || column.StartsWith('%'))
                        tableColumn.RightAligned();
                    table.AddColumn(tableColumn);
                }
                foreach (KernelResult result in report.Results.Where(r => r.ShapeSet == shapes.Name))
                {
                    string[] cells = KernelBenchReport.Cells(result);
                    IEnumerable<string> markup = cells.Select((cell, i) => i == cells.Length - 1
                        ? $"[{(result.Validated ? "green" : "red")}]{Markup.Escape(cell)}[/]"
                        : Markup.Escape(cell));
                    table.AddRow(markup.ToArray());
                }
                console.Write(table);
            }
            foreach (string line in KernelBenchReport.ThresholdLines()) console.MarkupLine($"[grey]{Markup.Escape(line)}[/]");
        }
    }
}
