// BenchStepCommand.cs — `loraprune bench step`: full LoRAPrune optimizer steps for each criterion on the same model and
// batch in one run (StepBench): tokens/s, the GEMM roof at the step's own shapes, peak allocator memory and RSS, and the
// step's time by op class. A table on stdout, bench-step.json and bench-step.md in --out.
using System.CommandLine;
using LoRAPrune.Core.Bench;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Pruning;
using LoRAPrune.Native;
using Spectre.Console;

namespace LoRAPrune.Cli.Commands;

internal sealed class BenchStepCommand : Command
{
    private const string CommandName = "bench step";

    private readonly Option<string?> _model = new("--model") { HelpName = "DIR", Description = "Model folder whose weights are loaded." };
    private readonly Option<string?> _config = new("--config") { HelpName = "FILE", Description = "A config.json; the weights are random (seeded)." };
    private readonly Option<int?> _layers = new("--layers") { HelpName = "L", Description = "Use only the first L layers of the config (random weights): a deep model's widths at a size that fits." };
    private readonly Option<string> _criterion = new("--criterion") { HelpName = "LIST", Description = "Rows to run, in order: any of lora, grad, magnitude (a prune step with that criterion's importance) and finetune (the plain LoRA step of `finetune`: no masks, no importance).", DefaultValueFactory = _ => "lora,grad,magnitude,finetune" };
    private readonly Option<int> _batch = new("--batch") { HelpName = "B", Description = "Samples per optimizer step.", DefaultValueFactory = _ => 8 };
    private readonly Option<int?> _microBatch = new("--micro-batch") { HelpName = "M", Description = "Samples per forward/backward (default: --batch)." };
    private readonly Option<int> _seq = new("--seq") { HelpName = "T", Description = "Tokens per sample.", DefaultValueFactory = _ => 128 };
    private readonly Option<string> _dtype = new("--dtype") { Description = "Storage of the frozen base weights: f32 or bf16.", DefaultValueFactory = _ => "f32" };
    private readonly Option<string> _activations = new("--activations") { Description = "Storage of the saved activations: f32, bf16, or auto (bf16 on the CUDA backends, f32 on cpu).", DefaultValueFactory = _ => "auto" };
    private readonly Option<int> _rank = new("--rank") { HelpName = "R", Description = "LoRA rank on all seven projections.", DefaultValueFactory = _ => 8 };
    private readonly Option<int> _warmup = new("--warmup") { HelpName = "N", Description = "Untimed steps per criterion (default 5: the first steps of a run also pay for .NET tiered JIT compilation).", DefaultValueFactory = _ => StepBenchSettings.DefaultWarmup };
    private readonly Option<int> _repeat = new("--repeat") { HelpName = "N", Description = "Timed steps per criterion (tokens/s from their median).", DefaultValueFactory = _ => 5 };
    private readonly Option<int> _profile = new("--profile-steps") { HelpName = "N", Description = "Steps with per-op timing for the breakdown (0: none).", DefaultValueFactory = _ => 2 };
    private readonly Option<string> _device = new("--device") { Description = "Backend.", DefaultValueFactory = _ => "auto" };
    private readonly Option<string> _out = new("--out") { HelpName = "DIR", Description = "Folder for bench-step.json and bench-step.md.", DefaultValueFactory = _ => "bench-results/step" };

    public BenchStepCommand() : base("step", "Full optimizer steps (forward, backward, importance, AdamW) per criterion on one model and batch: tokens/s, " +
                                             "% of the GEMM roof, peak memory, time by op class.")
    {
        _device.AcceptOnlyFromAmong(Backend.DeviceChoices);
        _dtype.AcceptOnlyFromAmong("f32", "bf16");
        _activations.AcceptOnlyFromAmong("auto", "f32", "bf16");
        foreach (Option o in new Option[] { _model, _config, _layers, _criterion, _batch, _microBatch, _seq, _dtype, _activations, _rank, _warmup, _repeat, _profile, _device, _out })
            Options.Add(o);
        SetAction(Run);
    }

    private int Run(ParseResult p)
    {
        TextWriter error = p.InvocationConfiguration.Error;
        Terminal terminal = Terminal.For(p);
        string? model = p.GetValue(_model), configFile = p.GetValue(_config);
        int? layers = p.GetValue(_layers);
        IReadOnlyList<PruneCriterion?> criteria;
        try
        {
            if ((model is null) == (configFile is null)) throw new ArgumentException("give exactly one of --model DIR and --config FILE");
            if (model is not null && layers is not null) throw new ArgumentException("--layers needs --config (random weights)");
            criteria = ParseCriteria(p.GetValue(_criterion)!);
        }
        catch (ArgumentException e)
        {
            error.WriteLine($"{CommandName}: {e.Message}");
            return TrainingConsole.ExitUsage;
        }
        string description = model is not null ? $"model {model}" : $"config {configFile} (random weights)";
        StepBenchSettings settings;
        try
        {
            LlamaConfig config = LlamaConfig.Load(model is not null ? Path.Combine(model, LlamaCheckpoint.ConfigFileName) : configFile!);
            if (layers is { } count)
            {
                if (count < 1 || count > config.NumHiddenLayers || !config.IsUniform)
                    throw new ArgumentException($"--layers {count}: the config has {config.NumHiddenLayers} layers{(config.IsUniform ? "" : " of different widths")}");
                config = config with { NumHiddenLayers = count };
                description += $", first {count} layers";
            }
            int batch = p.GetValue(_batch);
            settings = new StepBenchSettings
            {
                Config = config,
                ModelFolder = model,
                BaseDType = p.GetValue(_dtype) == "bf16" ? LpDType.BF16 : LpDType.F32,
                Activations = p.GetValue(_activations) switch { "bf16" => LpDType.BF16, "f32" => LpDType.F32, _ => null },
                Lora = new LoraOptions { Rank = p.GetValue(_rank), Alpha = 2.0 * p.GetValue(_rank) },
                Criteria = criteria,
                Batch = batch,
                MicroBatch = p.GetValue(_microBatch) ?? batch,
                Seq = p.GetValue(_seq),
                Warmup = p.GetValue(_warmup),
                Repeat = p.GetValue(_repeat),
                ProfileSteps = p.GetValue(_profile),
            };
            settings.Validate();
        }
        catch (ArgumentException e)
        {
            error.WriteLine($"{CommandName}: {TrainingConsole.OneLine(e.Message)}");
            return TrainingConsole.ExitUsage;
        }
        catch (Exception e) when (TrainingConsole.IsRunFailure(e))
        {
            error.WriteLine($"{CommandName}: {TrainingConsole.OneLine(e.Message)}");
            return TrainingConsole.ExitFailed;
        }
        try
        {
            Backend backend = Backend.Select(p.GetValue(_device)!);
            DeviceInfo device = backend.GetDeviceInfo(0);
            settings = settings with { Activations = settings.Activations ?? LlamaGraph.DefaultActivations(backend) };
            error.WriteLine($"{CommandName}: {description} on {backend.Name}; {settings.Batch} x {settings.Seq} tokens per step");
            IReadOnlyList<StepBenchResult> results = StepBench.Run(backend, settings, line => error.WriteLine($"{CommandName}: {line}"));
            var report = new StepBenchReport(DateTimeOffset.UtcNow, VersionAction.ToolVersion, KernelBench.GitHash([backend]), BenchMachine.Describe(),
                                             backend.Name, device.Name, TrainingRunOptions.CommandLine(p), description, Shape(settings.Config), settings, results);
            if (terminal.Rich is not null) WriteTables(terminal.Rich, report);
            else terminal.Out.Write(report.ToText());
            (string json, string markdown) = report.Write(p.GetValue(_out)!);
            terminal.Out.WriteLine($"wrote {json} and {markdown}");
            return 0;
        }
        catch (Exception e) when (TrainingConsole.IsRunFailure(e) || e is BackendUnavailableException)
        {
            error.WriteLine($"{CommandName}: {TrainingConsole.OneLine(e.Message)}");
            return TrainingConsole.ExitFailed;
        }
    }

    private static IReadOnlyList<PruneCriterion?> ParseCriteria(string list)
    {
        var criteria = new List<PruneCriterion?>();
        foreach (string item in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (item is not ("lora" or "grad" or "magnitude" or StepBench.FinetuneName))
                throw new ArgumentException($"--criterion: '{item}' is not one of lora, grad, magnitude, {StepBench.FinetuneName}");
            PruneCriterion? c = item == StepBench.FinetuneName ? null : Enum.Parse<PruneCriterion>(item, ignoreCase: true);
            if (!criteria.Contains(c)) criteria.Add(c);
        }
        if (criteria.Count == 0) throw new ArgumentException("--criterion: no criterion given");
        return criteria;
    }

    // "L=6 C=256 H=8 KVH=4 D=32 F=688 V=32000, tied" in the legend of lp.h.
    private static string Shape(LlamaConfig c) =>
        $"L={c.NumHiddenLayers} C={c.HiddenSize} H={c.NumAttentionHeads} KVH={c.NumKeyValueHeads} D={c.HeadDim} F={c.IntermediateSize} V={c.VocabSize}" +
        (c.TieWordEmbeddings ? ", tied embeddings" : "");

    private static void WriteTables(IAnsiConsole console, StepBenchReport report)
    {
        foreach (string line in report.HeaderLines()) console.MarkupLine($"[grey]{Markup.Escape(line)}[/]");
        console.Write(Table(StepBenchReport.ThroughputColumns, report.Results.Select(report.ThroughputCells), "throughput and memory"));
        console.Write(Table(StepBenchReport.BreakdownColumns, report.Results.Select(report.BreakdownCells), "time per step by op class, ms (share)"));
        foreach (string line in report.MemoryLines().Concat(report.CostLines())) console.MarkupLine(Markup.Escape(line));
        foreach (string line in StepBenchReport.NoteLines()) console.MarkupLine($"[grey]{Markup.Escape(line)}[/]");
    }

    private static Table Table(string[] columns, IEnumerable<string[]> rows, string title)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title));
        foreach ((string column, int i) in columns.Select((c, i) => (c, i)))
        {
            var tableColumn = new TableColumn(Markup.Escape(column));
            if (i > 0) tableColumn.RightAligned();
            table.AddColumn(tableColumn);
        }
        foreach (string[] row in rows) table.AddRow(row.Select(Markup.Escape).ToArray());
        return table;
    }
}
