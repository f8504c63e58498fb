// PruneCommand.cs — `loraprune prune`: LoRAPrune end to end (docs/method.md). LoRA fine-tuning of a frozen model with
// importance estimation, the cubic schedule and local selection in every optimizer step, then the compacted, merged
// model, the adapter, the masks, a before/after evaluation and report.md with plots in --out. Shares the run options,
// progress, checkpoints, exact --resume and exit codes of the other training commands.
using System.CommandLine;
using System.Globalization;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Pruning;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;

namespace LoRAPrune.Cli.Commands;

internal sealed class PruneCommand : Command
{
    private const string CommandName = "prune";

    private readonly TrainingRunOptions _run = new(defaultLearningRate: 1e-4, acceptsAlpaca: true);
    private readonly LoraModelOptions _model = new();
    private readonly PruneOptionSet _prune = new();

    public PruneCommand() : base(CommandName,
        "LoRAPrune: LoRA fine-tuning with LoRA-guided structured pruning of KV groups (attention heads) and MLP channels; writes a smaller merged model, its adapter, masks and a report.")
    {
        foreach (Option option in _model.All.Concat(_prune.All).Concat(_run.All)) Options.Add(option);
        SetAction(p => TrainingConsole.Execute(p, CommandName, () => Settings(p), s => s.Run.Device, Open, WriteHeader,
            (run, _) => $"pruned model in {run.ModelFolder}, report {Path.Combine(run.Settings.OutputFolder, PruneReport.FileName)}",
            (output, run) => output.Write(PruneReport.SummaryTable(run.Result!))));
    }

    private PruneSettings Settings(ParseResult p)
    {
        var settings = new PruneSettings { Run = _run.Bind(p), Model = _model.Bind(p), Prune = _prune.Bind(p), EvalSets = _prune.EvalSets(p), EvalWindow = _prune.EvalWindow(p) };
        settings.Validate();
        return settings;
    }

    private static PruneRun Open(PruneSettings settings, Context context, string device)
    {
        settings = settings with { Run = settings.Run with { Device = device } };
        (LlamaConfig config, ModelTokenizer? tokenizer, TrainingData data) = TrainingData.OpenForModel(settings.Run, settings.Model.ModelFolder);
        if (settings.Prune.TargetParams is { } keep)
        {
            try
            {
                double ratio = PrunePlan.SolveRatio(config, settings.Prune, settings.Run.TotalSteps(data.Train.Count), keep);
                settings = settings with { Prune = settings.Prune with { Ratio = ratio } };
            }
            catch (ArgumentException e)
            {
                throw new TrainingSetupException(e.Message);
            }
        }
        return new PruneRun(context, settings, config, data.Train, data.Eval, tokenizer);
    }

    private static void WriteHeader(TextWriter output, PruneRun run)
    {
        LlamaConfig c = run.Config;
        PruneSettings s = run.Spec;
        PruneOptions o = s.Prune;
        output.WriteLine($"model: {s.Model.ModelFolder} (hidden {c.HiddenSize}, {c.NumHiddenLayers} layers, {c.NumAttentionHeads}/{c.NumKeyValueHeads} heads, " +
                         $"MLP {c.IntermediateSize}, vocab {c.VocabSize}), base {(s.Model.BaseDType == LpDType.BF16 ? "bf16" : "f32")} on {run.Settings.Device}");
        LoraOptions lora = s.Model.Lora;
        output.WriteLine($"lora: r {lora.Rank}, alpha {Num(lora.Alpha)}, dropout {Num(lora.Dropout)}, targets {string.Join(",", lora.Targets.Distinct().Order().Select(t => t.ModuleName()))}");
        output.WriteLine($"data: {run.TrainDescription}");
        if (run.EvalDescription is { } eval) output.WriteLine($"held-out: {eval}");
        output.WriteLine(TrainingConsole.StepsLine(run.Trainer.Options, run.Settings.Seq));
        PrunePlan plan = PrunePlan.Make(c, o, run.TotalSteps);
        string ratio = o.TargetParams is { } f ? $"ratio {o.Ratio:F4} (searched for --target-params {Num(f)})" : $"ratio {Num(o.Ratio)}";
        output.WriteLine($"prune: criterion {PruneOptions.Name(o.Criterion)}, {ratio} of the KV groups and MLP channels of each of {run.PrunableLayers.Count} prunable layers " +
                         $"({string.Join(",", run.PrunableLayers)}); {PruneOptions.Name(o.Schedule)} schedule, events every {o.Frequency} steps " +
                         $"({run.Schedule.PruneSteps().Count()} events, the last at r = {plan.AppliedRatio:R}), {PruneOptions.Name(o.Compaction)} compaction");
        output.WriteLine($"plan: {PlanSummary(plan)}; parameters {plan.ParametersBefore:N0} -> {plan.ParametersAfter:N0} ({plan.RemovedFraction:P1} of the model removed)");
    }

    /// <summary>"heads 8 -> 6, KV groups 4 -> 3, MLP 688 -> 345 per prunable layer" (ranges when layers differ).</summary>
    internal static string PlanSummary(PrunePlan plan)
    {
        var pruned = plan.Layers.Where(l => l.Prunable).ToList();
        static string Range(IEnumerable<int> values)
        {
            var v = values.Distinct().Order().ToList();
            return v.Count == 1 ? $"{v[0]}" : $"{v[0]}..{v[^1]}";
        }
        return $"heads {Range(pruned.Select(l => l.Heads))} -> {Range(pruned.Select(l => l.HeadsKept))}, " +
               $"KV groups {Range(pruned.Select(l => l.Groups))} -> {Range(pruned.Select(l => l.GroupsKept))}, " +
               $"MLP channels {Range(pruned.Select(l => l.Channels))} -> {Range(pruned.Select(l => l.ChannelsKept))} per prunable layer";
    }

    private static string Num(double v) => v.ToString("G", CultureInfo.InvariantCulture);
}

/// <summary>The pruning flags of `prune` (also read by `info` to show what a ratio means before a run).</summary>
internal sealed class PruneOptionSet
{
    private readonly Option<double> _ratio = new("--ratio") { HelpName = "R", Description = "Fraction of the KV groups (attention heads) and MLP channels removed in every prunable layer (the paper's --ratio).", DefaultValueFactory = _ => 0.5 };
    private readonly Option<double?> _targetParams = new("--target-params") { HelpName = "F", Description = "Instead of --ratio: search the per-layer ratio that leaves at most fraction F of all parameters." };
    private readonly Option<string> _criterion = new("--criterion") { Description = "Importance: lora (LoRAPrune), grad (full-weight gradients, the memory-hungry baseline), magnitude, random.", DefaultValueFactory = _ => "lora" };
    private readonly Option<double> _initRatio = new("--init-ratio") { HelpName = "R0", Description = "Ratio before the first event.", DefaultValueFactory = _ => 0.0 };
    private readonly Option<double> _warmup = new("--warmup") { HelpName = "W", Description = "Fraction of the steps before pruning starts.", DefaultValueFactory = _ => 0.1 };
    private readonly Option<double> _cooldown = new("--cooldown") { HelpName = "W", Description = "Fraction of the steps at the end with frozen masks (LoRA keeps training).", DefaultValueFactory = _ => 0.1 };
    private readonly Option<int> _frequency = new("--prune-freq") { HelpName = "N", Description = "A prune event may happen every N optimizer steps.", DefaultValueFactory = _ => 10 };
    private readonly Option<double> _ema = new("--ema") { HelpName = "LAMBDA", Description = "Moving average of the importance: I = lambda I + (1 - lambda) I_step.", DefaultValueFactory = _ => 0.9 };
    private readonly Option<double> _exemptFirst = new("--exempt-first") { HelpName = "F", Description = "Layers with index < floor(F x layers) are never pruned (default 0.1; 0 with --uniform).", DefaultValueFactory = _ => 0.1 };
    private readonly Option<int> _exemptLast = new("--exempt-last") { HelpName = "N", Description = "The last N layers are never pruned (default 1; 0 with --uniform).", DefaultValueFactory = _ => 1 };
    private readonly Option<string> _schedule = new("--schedule") { Description = "paper: events only while r(t) < ratio, counts floor(G r(t)) (the authors' code); exact: also apply the ratio itself at the start of the cool-down.", DefaultValueFactory = _ => "paper" };
    private readonly Option<bool> _uniform = new("--uniform") { Description = "Prune every layer to the same width (no exempt layers; kept MLP channels a multiple of 8): the output is a stock Hugging Face LLaMA config." };
    private readonly Option<string> _compact = new("--compact") { Description = "end: masks during training, one compaction at the end (the authors' code); progressive: remove pruned structure after every event, so later steps are cheaper.", DefaultValueFactory = _ => "end" };
    private readonly Option<string> _scoreNorm = new("--score-norm") { Description = "Normalise each module's scores over all groups (the authors' code; default with --compact end) or over the kept ones only (required by --compact progressive)." };
    private readonly Option<string[]> _eval = new("--eval") { HelpName = "SPLIT|FILE|none", Description = "Perplexity before and after pruning on these splits or text files (default: sotu:test brown:test when fetched; 'none': skip).", AllowMultipleArgumentsPerToken = true };
    private readonly Option<int> _evalWindow = new("--eval-window") { HelpName = "T", Description = "Perplexity window (the pinned protocol; default 128).", DefaultValueFactory = _ => Core.Eval.PerplexityProtocol.DefaultWindow };

    public PruneOptionSet()
    {
        _criterion.AcceptOnlyFromAmong("lora", "grad", "magnitude", "random");
        _schedule.AcceptOnlyFromAmong("paper", "exact");
        _compact.AcceptOnlyFromAmong("end", "progressive");
        _scoreNorm.AcceptOnlyFromAmong("all", "kept");
    }

    public IEnumerable<Option> All => [_ratio, _targetParams, _criterion, _initRatio, _warmup, _cooldown, _frequency, _ema, _exemptFirst, _exemptLast,
        _schedule, _uniform, _compact, _scoreNorm, _eval, _evalWindow];

    /// <summary>The flags `info` takes to show a plan: everything but the evaluation.</summary>
    public IEnumerable<Option> PlanOptions => All.Where(o => o != _eval && o != _evalWindow);

    /// <summary>True when the user asked for a plan (gave --ratio or --target-params).</summary>
    public bool PlanRequested(ParseResult p) => TrainingRunOptions.Given(p, _ratio) || p.GetValue(_targetParams) is not null;

    public PruneOptions Bind(ParseResult p)
    {
        bool uniform = p.GetValue(_uniform);
        bool progressive = p.GetValue(_compact) == "progressive";
        string? norm = p.GetValue(_scoreNorm);
        var options = new PruneOptions
        {
            Ratio = p.GetValue(_ratio),
            TargetParams = p.GetValue(_targetParams),
            Criterion = Enum.Parse<PruneCriterion>(p.GetValue(_criterion)!, ignoreCase: true),
            InitRatio = p.GetValue(_initRatio),
            Warmup = p.GetValue(_warmup),
            Cooldown = p.GetValue(_cooldown),
            Frequency = p.GetValue(_frequency),
            EmaDecay = p.GetValue(_ema),
            // --uniform means every layer is pruned alike: the exempt defaults give way unless the user set them.
            ExemptFirst = uniform && !TrainingRunOptions.Given(p, _exemptFirst) ? 0 : p.GetValue(_exemptFirst),
            ExemptLast = uniform && !TrainingRunOptions.Given(p, _exemptLast) ? 0 : p.GetValue(_exemptLast),
            Schedule = Enum.Parse<ScheduleVariant>(p.GetValue(_schedule)!, ignoreCase: true),
            Uniform = uniform,
            Compaction = progressive ? CompactionMode.Progressive : CompactionMode.End,
            Normalization = norm switch
            {
                "kept" => ScoreNormalization.KeptGroups,
                "all" => ScoreNormalization.AllGroups,
                _ => progressive ? ScoreNormalization.KeptGroups : ScoreNormalization.AllGroups,
            },
        };
        if (options.TargetParams is not null && TrainingRunOptions.Given(p, _ratio))
            throw new TrainingSetupException("give --ratio or --target-params, not both");
        if (options.TargetParams is not null) options = options with { Ratio = 0.5 };
        return options;
    }

    /// <summary>--eval as given: null (the default sets), empty ("none") or the list.</summary>
    public IReadOnlyList<string>? EvalSets(ParseResult p) => p.GetValue(_eval) is { Length: > 0 } sets
        ? sets.Length == 1 && sets[0] == "none" ? [] : sets
        : null;

    public int EvalWindow(ParseResult p) => p.GetValue(_evalWindow);
}
