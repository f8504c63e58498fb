// BenchQualityCommand.cs — `loraprune bench quality`: the paper's comparison on one model. The unpruned model, the same
// LoRA fine-tuning without pruning, and a prune for every criterion x ratio x layout, all with the same data, steps and
// seed; perplexity on the evaluation sets, parameters, peak memory and time; a results page with a plot (QualityReport).
using System.CommandLine;
using System.Globalization;
using System.Reflection;
using LoRAPrune.Core.Bench;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Pruning;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;

namespace LoRAPrune.Cli.Commands;

internal sealed class BenchQualityCommand : Command
{
    private const string CommandName = "bench quality";

    private readonly LoraModelOptions _model = new();
    private readonly Option<string[]> _data = new("--data") { HelpName = "SPLIT|FILE", Description = "Training data of every run (train splits only).", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => ["sotu:train", "brown:train", "moby:train"] };
    private readonly Option<string[]> _eval = new("--eval") { HelpName = "SPLIT|FILE", Description = "Evaluation sets.", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => [.. PruneSettings.DefaultEvalSets] };
    private readonly Option<int> _evalWindow = new("--eval-window") { HelpName = "T", Description = "Perplexity window.", DefaultValueFactory = _ => Core.Eval.PerplexityProtocol.DefaultWindow };
    private readonly Option<string> _criteria = new("--criteria") { HelpName = "LIST", Description = "Criteria to compare.", DefaultValueFactory = _ => "lora,grad,magnitude,random" };
    private readonly Option<string> _ratios = new("--ratios") { HelpName = "LIST", Description = "Ratios (fraction of KV groups and channels per prunable layer).", DefaultValueFactory = _ => "0.2,0.5" };
    private readonly Option<string> _layouts = new("--layouts") { HelpName = "LIST", Description = "per-layer (paper: exempt layers, widths differ) and/or uniform (stock config).", DefaultValueFactory = _ => "per-layer,uniform" };
    private readonly Option<long> _steps = new("--steps") { HelpName = "N", Description = "Optimizer steps of every run.", DefaultValueFactory = _ => 200 };
    private readonly Option<int> _batch = new("--batch") { HelpName = "B", Description = "Samples per step.", DefaultValueFactory = _ => 8 };
    private readonly Option<int> _microBatch = new("--micro-batch") { HelpName = "M", Description = "Samples per forward/backward.", DefaultValueFactory = _ => 8 };
    private readonly Option<int> _seq = new("--seq") { HelpName = "T", Description = "Tokens per sample.", DefaultValueFactory = _ => 128 };
    private readonly Option<double> _lr = new("--lr") { HelpName = "LR", Description = "Peak learning rate.", DefaultValueFactory = _ => 1e-4 };
    private readonly Option<ulong> _seed = new("--seed") { HelpName = "S", Description = "Seed of every run.", DefaultValueFactory = _ => 42 };
    private readonly Option<string> _device = new("--device") { Description = "Backend.", DefaultValueFactory = _ => "auto" };
    private readonly Option<string> _out = new("--out") { HelpName = "DIR", Description = "Folder of the runs (a run already measured there is reused).", DefaultValueFactory = _ => "bench-results/quality" };
    private readonly Option<string> _doc = new("--doc") { HelpName = "FILE", Description = "The results page to write (markdown, with its plot beside it).", DefaultValueFactory = _ => "docs/results.md" };
    private readonly Option<string> _cache = new("--cache") { HelpName = "DIR", Description = "Corpus cache holding the splits." };

    public BenchQualityCommand() : base("quality", "The paper's comparison on one model: unpruned, LoRA fine-tuned, and pruned with every criterion, ratio and layout; writes a results page.")
    {
        _device.AcceptOnlyFromAmong(Backend.DeviceChoices);
        foreach (Option o in _model.All.Concat(new Option[] { _data, _eval, _evalWindow, _criteria, _ratios, _layouts, _steps, _batch, _microBatch, _seq, _lr, _seed, _device, _out, _doc, _cache }))
            Options.Add(o);
        SetAction(Run);
    }

    private int Run(ParseResult p)
    {
        TextWriter error = p.InvocationConfiguration.Error;
        Terminal terminal = Terminal.For(p);
        QualityBenchSettings settings;
        try
        {
            LoraModelSettings model = _model.Bind(p);
            settings = new QualityBenchSettings
            {
                ModelFolder = model.ModelFolder,
                Lora = model.Lora,
                Run = new RunSettings
                {
                    OutputFolder = p.GetValue(_out)!, Data = new DataSpec(DataSpec.Text, p.GetValue(_data)!), Steps = p.GetValue(_steps), Batch = p.GetValue(_batch),
                    MicroBatch = p.GetValue(_microBatch), Seq = p.GetValue(_seq), LearningRate = p.GetValue(_lr), Seed = p.GetValue(_seed), CacheFolder = p.GetValue(_cache),
                    CommandLine = TrainingRunOptions.CommandLine(p),
                },
                EvalSets = p.GetValue(_eval)!,
                EvalWindow = p.GetValue(_evalWindow),
                Criteria = List(p.GetValue(_criteria)!, "--criteria", s => Enum.Parse<PruneCriterion>(s, ignoreCase: true), ["lora", "grad", "magnitude", "random"]),
                Ratios = List(p.GetValue(_ratios)!, "--ratios", s => double.Parse(s, CultureInfo.InvariantCulture), null),
                Uniform = List(p.GetValue(_layouts)!, "--layouts", s => s == "uniform", ["per-layer", "uniform"]),
            };
            settings.Run.Validate();
            foreach (double r in settings.Ratios) new PruneOptions { Ratio = r }.Validate();
        }
        catch (Exception e) when (e is TrainingSetupException or ArgumentException or FormatException)
        {
            error.WriteLine($"{CommandName}: {e.Message}");
            return TrainingConsole.ExitUsage;
        }
        try
        {
            Backend backend = Backend.Select(p.GetValue(_device)!);
            LlamaConfig config = LlamaConfig.Load(Path.Combine(settings.ModelFolder, LlamaCheckpoint.ConfigFileName));
            ModelTokenizer tokenizer = ModelTokenizer.ForModel(settings.ModelFolder, config, required: true)!;
            TrainingData data = TrainingData.Open(settings.Run, tokenizer.Tokenizer, config);
            terminal.Out.WriteLine($"{CommandName}: {settings.ModelFolder} on {backend.Name}; {data.Train.Description}; " +
                                   $"{settings.Criteria.Count} criteria x {settings.Ratios.Count} ratios x {settings.Uniform.Count} layouts + 2 baselines");
            QualityBenchResult result = TrainingConsole.RunSteps(terminal, 0, 1, CancellationToken.None,
                (_, stage) => QualityBench.Run(backend, settings, tokenizer.Tokenizer, data.Train, stage));
            string doc = p.GetValue(_doc)!;
            QualityReport.Write(result, doc, Machine(backend), Commit(), settings.Run.CommandLine, DateTimeOffset.UtcNow);
            terminal.Out.WriteLine($"{CommandName}: wrote {doc}");
            return 0;
        }
        catch (Exception e) when (TrainingConsole.IsRunFailure(e) || e is BackendUnavailableException)
        {
            error.WriteLine($"{CommandName}: {TrainingConsole.OneLine(e.Message)}");
            return TrainingConsole.ExitFailed;
        }
    }

    private static IReadOnlyList<T> List<T>(string text, string option, Func<string, T> parse, string[]? allowed)
    {
        var items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (items.Length == 0) throw new TrainingSetupException($"{option}: no value given");
        foreach (string item in items)
            if (allowed is not null && !allowed.Contains(item)) throw new TrainingSetupException($"{option}: '{item}' is not one of {string.Join(", ", allowed)}");
        return items.Select(parse).ToList();
    }

    // "AMD EPYC 7B13 (2 cores), cpu backend"
    private static string Machine(Backend backend)
    {
        string cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU"
            : "unknown CPU";
        return $"{cpu} ({Environment.ProcessorCount} cores), {backend.Name} backend";
    }

    private static string Commit() =>
        typeof(QualityBench).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+').ElementAtOrDefault(1) is { Length: >= 12 } hash
            ? hash[..12] : "unknown";
}
