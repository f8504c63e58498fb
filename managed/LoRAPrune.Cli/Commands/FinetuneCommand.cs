// FinetuneCommand.cs — `loraprune finetune`: LoRA fine-tuning of a frozen model on text, token or
// Alpaca data, with a progress bar (plain lines when redirected), metrics.jsonl, atomic checkpoints,
// exact resume (--resume), a checkpoint and exit code 130 on SIGINT/SIGTERM, and a PEFT adapter.
using System.CommandLine;
using System.Globalization;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Text;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;

namespace LoRAPrune.Cli.Commands;

internal sealed class FinetuneCommand : Command
{
    private const int ExitFailed = TrainingConsole.ExitFailed;
    private const int ExitUsage = TrainingConsole.ExitUsage;
    private const int ExitInterrupted = TrainingConsole.ExitInterrupted;

    private readonly Option<string> _model = new("--model") { HelpName = "DIR", Description = "Model folder (config.json + safetensors).", Required = true };
    private readonly Option<string[]> _data = new("--data") { HelpName = "FILE", Description = "Plain UTF-8 text file(s), joined and cut into blocks of --seq tokens.", AllowMultipleArgumentsPerToken = true };
    private readonly Option<string> _tokens = new("--tokens") { HelpName = "FILE", Description = "Pre-tokenized ids (uint32 little-endian, no header), cut into blocks of --seq." };
    private readonly Option<string> _alpaca = new("--alpaca") { HelpName = "FILE", Description = "Instruction data (Alpaca/LaMini JSONL), one sample per record, cutoff --seq." };
    private readonly Option<string> _out = new("--out") { HelpName = "DIR", Description = "Output folder: checkpoint.safetensors, metrics.jsonl, adapter/. Default: finetune-out, or the --resume folder." };
    private readonly Option<string> _device = new("--device") { Description = "Backend: auto (cuda when a GPU is usable, else cpu), cpu, cudaemu or cuda.", DefaultValueFactory = _ => "auto" };
    private readonly Option<string> _dtype = new("--dtype") { Description = "Storage of the frozen base linears: f32 or bf16.", DefaultValueFactory = _ => "f32" };
    private readonly Option<long?> _steps = new("--steps") { HelpName = "N", Description = "Optimizer steps (default: one epoch)." };
    private readonly Option<double?> _epochs = new("--epochs") { HelpName = "E", Description = "Passes over the data, rounded up to whole steps (instead of --steps)." };
    private readonly Option<int> _batch = new("--batch") { HelpName = "B", Description = "Samples per optimizer step (the paper: 128).", DefaultValueFactory = _ => 16 };
    private readonly Option<int> _microBatch = new("--micro-batch") { HelpName = "M", Description = "Samples per forward/backward; --batch / --micro-batch micro-batches are accumulated.", DefaultValueFactory = _ => 4 };
    private readonly Option<int> _seq = new("--seq") { HelpName = "T", Description = "Tokens per sample (block length; Alpaca cutoff).", DefaultValueFactory = _ => 256 };
    private readonly Option<double> _lr = new("--lr") { HelpName = "LR", Description = "Peak learning rate (linear decay to 0).", DefaultValueFactory = _ => 1e-4 };
    private readonly Option<long> _warmup = new("--warmup-steps") { HelpName = "N", Description = "Linear warm-up steps.", DefaultValueFactory = _ => 0 };
    private readonly Option<double> _maxGradNorm = new("--max-grad-norm") { HelpName = "NORM", Description = "Global gradient-norm clip (0: off).", DefaultValueFactory = _ => 1.0 };
    private readonly Option<int> _rank = new("--rank") { HelpName = "R", Description = "LoRA rank r.", DefaultValueFactory = _ => 8 };
    private readonly Option<double> _alpha = new("--alpha") { HelpName = "ALPHA", Description = "LoRA alpha (scale alpha / r).", DefaultValueFactory = _ => 16 };
    private readonly Option<double> _loraDropout = new("--lora-dropout") { HelpName = "P", Description = "Dropout on the LoRA branch input during training.", DefaultValueFactory = _ => 0.05 };
    private readonly Option<string> _targets = new("--targets") { HelpName = "LIST", Description = "Projections that get LoRA: any of q,k,v,o,gate,up,down.", DefaultValueFactory = _ => "q,k,v,o,gate,up,down" };
    private readonly Option<string> _initAdapter = new("--init-adapter") { HelpName = "DIR", Description = "Start from this PEFT adapter folder (its rank, alpha and targets apply)." };
    private readonly Option<ulong> _seed = new("--seed") { HelpName = "S", Description = "Run seed: LoRA init, data order, dropout.", DefaultValueFactory = _ => 42 };
    private readonly Option<int> _saveEvery = new("--save-every") { HelpName = "N", Description = "Write the checkpoint every N steps (0: only on interrupt and at the end).", DefaultValueFactory = _ => 100 };
    private readonly Option<string?> _resume = new("--resume") { HelpName = "DIR", Description = "Continue the run whose checkpoint is in DIR (default: --out).", Arity = ArgumentArity.ZeroOrOne };
    private readonly Option<string> _evalData = new("--eval-data") { HelpName = "FILE", Description = "Held-out file of the same kind as the training data; its loss is logged as eval_loss." };
    private readonly Option<int> _evalEvery = new("--eval-every") { HelpName = "N", Description = "Measure the held-out loss every N steps (0: only at the end).", DefaultValueFactory = _ => 100 };

    public FinetuneCommand() : base("finetune", "LoRA fine-tuning of a frozen LLaMA-family model (base weights get no gradients); writes a PEFT adapter.")
    {
        _device.AcceptOnlyFromAmong("auto", "cpu", "cudaemu", "cuda");
        _dtype.AcceptOnlyFromAmong("f32", "bf16");
        foreach (Option option in new Option[]
                 {
                     _model, _data, _tokens, _alpaca, _out, _device, _dtype, _steps, _epochs, _batch, _microBatch, _seq, _lr, _warmup,
                     _maxGradNorm, _rank, _alpha, _loraDropout, _targets, _initAdapter, _seed, _saveEvery, _resume, _evalData, _evalEvery,
                 })
            Options.Add(option);
        SetAction(Run);
    }

    private int Run(ParseResult parseResult)
    {
        TextWriter error = parseResult.InvocationConfiguration.Error;
        FinetuneSettings settings;
        try
        {
            settings = Settings(parseResult);
            settings.Validate();
        }
        catch (TrainingSetupException e)
        {
            error.WriteLine($"finetune: {e.Message}");
            return ExitUsage;
        }
        if (!Directory.Exists(settings.ModelFolder))
        {
            error.WriteLine($"finetune: --model: folder {settings.ModelFolder} does not exist");
            return ExitFailed;
        }
        Backend? backend = TrainingConsole.SelectBackend("finetune", parseResult.GetValue(_device)!, error);
        if (backend is null) return ExitUsage;
        settings = settings with { Device = backend.Name };

        Terminal terminal = Terminal.For(parseResult);
        using var stop = new CancellationTokenSource();
        using TrainingConsole.SignalWatch signals = TrainingConsole.SignalWatch.Install("finetune", stop, error);
        try
        {
            using Context context = backend.CreateContext();
            LlamaConfig config = LlamaConfig.Load(Path.Combine(settings.ModelFolder, LlamaCheckpoint.ConfigFileName));
            (ISampleSource train, ISampleSource? eval) = FinetuneData.Open(settings, config);
            using var run = new FinetuneRun(context, settings, train, eval);
            WriteHeader(terminal.Out, settings, run, train, eval);
            FinetuneOutcome outcome = TrainingConsole.RunSteps(terminal, run.StartStep, run.TotalSteps, stop.Token, onStep => run.Run(onStep, stop.Token));
            terminal.Out.WriteLine(Summary(outcome, settings));
            return outcome.Completed ? 0 : ExitInterrupted;
        }
        catch (Exception e) when (TrainingConsole.IsRunFailure(e))
        {
            error.WriteLine($"finetune: {TrainingConsole.OneLine(e.Message)}");
            return ExitFailed;
        }
    }

    private FinetuneSettings Settings(ParseResult p)
    {
        string[] text = p.GetValue(_data) ?? [];
        string? tokens = p.GetValue(_tokens), alpaca = p.GetValue(_alpaca);
        int sources = (text.Length > 0 ? 1 : 0) + (tokens is null ? 0 : 1) + (alpaca is null ? 0 : 1);
        if (sources != 1) throw new TrainingSetupException("give exactly one of --data FILE..., --tokens FILE or --alpaca FILE");
        (string kind, string[] files) = text.Length > 0 ? ("text", text) : tokens is not null ? ("tokens", [tokens]) : ("alpaca", [alpaca!]);

        bool resume = p.GetResult(_resume) is not null;
        string? resumeFolder = p.GetValue(_resume);
        string output = p.GetValue(_out) ?? resumeFolder ?? "finetune-out";
        string? initAdapter = p.GetValue(_initAdapter);
        if (initAdapter is not null)
        {
            foreach (Option fixedByAdapter in new Option[] { _rank, _alpha, _targets })
                if (p.GetResult(fixedByAdapter) is { Implicit: false })
                    throw new TrainingSetupException($"{fixedByAdapter.Name} cannot be combined with --init-adapter: the adapter sets it");
        }
        return new FinetuneSettings
        {
            ModelFolder = p.GetValue(_model)!,
            OutputFolder = output,
            DataKind = kind,
            DataFiles = files,
            EvalDataFile = p.GetValue(_evalData),
            EvalEvery = p.GetValue(_evalEvery),
            BaseDType = p.GetValue(_dtype) == "bf16" ? LpDType.BF16 : LpDType.F32,
            Steps = p.GetValue(_steps),
            Epochs = p.GetValue(_epochs),
            Batch = p.GetValue(_batch),
            MicroBatch = p.GetValue(_microBatch),
            Seq = p.GetValue(_seq),
            LearningRate = p.GetValue(_lr),
            WarmupSteps = p.GetValue(_warmup),
            MaxGradNorm = p.GetValue(_maxGradNorm),
            Lora = new LoraOptions
            {
                Rank = p.GetValue(_rank),
                Alpha = p.GetValue(_alpha),
                Dropout = p.GetValue(_loraDropout),
                Targets = ParseTargets(p.GetValue(_targets)!),
            },
            InitAdapter = initAdapter,
            Seed = p.GetValue(_seed),
            SaveEvery = p.GetValue(_saveEvery),
            Resume = resume,
            ResumeFolder = resumeFolder,
        };
    }

    /// <summary>"q,k,v,o,gate,up,down" (or module names such as q_proj) to projections.</summary>
    public static IReadOnlyList<LlamaLinear> ParseTargets(string list)
    {
        var targets = new List<LlamaLinear>();
        foreach (string item in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string module = item.EndsWith("_proj", StringComparison.Ordinal) ? item : item + "_proj";
            if (!LlamaLinears.TryParse(module, out LlamaLinear linear))
                throw new TrainingSetupException($"--targets: unknown projection '{item}' (expected any of q,k,v,o,gate,up,down)");
            if (!targets.Contains(linear)) targets.Add(linear);
        }
        if (targets.Count == 0) throw new TrainingSetupException("--targets: no projection given");
        return targets;
    }

    private static void WriteHeader(TextWriter output, FinetuneSettings s, FinetuneRun run, ISampleSource train, ISampleSource? eval)
    {
        LlamaConfig c = run.Config;
        TrainerOptions o = run.Trainer.Options;
        output.WriteLine($"model: {s.ModelFolder} (hidden {c.HiddenSize}, {c.NumHiddenLayers} layers, {c.NumAttentionHeads}/{c.NumKeyValueHeads} heads, MLP {c.IntermediateSize}, vocab {c.VocabSize}), base {(s.BaseDType == LpDType.BF16 ? "bf16" : "f32")} on {s.Device}");
        LoraOptions lora = run.Lora.Options;
        long loraParams = run.Lora.Params.Entries.Sum(e => e.Count);
        output.WriteLine($"lora: r {lora.Rank}, alpha {lora.Alpha.ToString(CultureInfo.InvariantCulture)}, dropout {lora.Dropout.ToString(CultureInfo.InvariantCulture)}, " +
                         $"targets {string.Join(",", lora.Targets.Distinct().Order().Select(t => t.ModuleName()))}; {loraParams:N0} trainable parameters");
        output.WriteLine($"data: {train.Description}");
        if (eval is not null) output.WriteLine($"eval: {eval.Description}");
        output.WriteLine($"steps: {o.MaxSteps:N0} x {o.Batch} samples ({o.GradAccum} x {o.MicroBatch}) of {train.SequenceLength} tokens; " +
                         $"lr {o.LearningRate.ToString("G4", CultureInfo.InvariantCulture)} linear to 0, warm-up {o.WarmupSteps}, clip {o.MaxGradNorm.ToString(CultureInfo.InvariantCulture)}, seed {o.Seed}");
        if (run.StartStep > 0) output.WriteLine($"resuming at step {run.StartStep:N0} of {o.MaxSteps:N0}");
        foreach (string warning in run.Warnings) output.WriteLine($"warning: {warning}");
        output.WriteLine($"output: {Path.GetFullPath(s.OutputFolder)}");
    }

    private static string Summary(FinetuneOutcome o, FinetuneSettings s)
    {
        string loss = o.LastStep is { } last ? $"last loss {MetricsLog.Format(last.Loss)}" : "no step run";
        string eval = o.EvalLoss is { } e ? $", eval loss {MetricsLog.Format(e)}" : "";
        string speed = $"{o.TokensPerSecond.ToString("N0", CultureInfo.InvariantCulture)} tok/s";
        string where = o.Completed
            ? $"adapter in {o.AdapterFolder}"
            : $"interrupted: checkpoint in {o.CheckpointPath}; continue with --resume{(s.Resume && s.ResumeFolder is not null ? " " + s.OutputFolder : "")}";
        return $"finetune: steps {o.StartStep}->{o.Step} of {o.TotalSteps}, {loss}{eval}, {speed}, {o.Seconds:F1} s; {where}";
    }
}
