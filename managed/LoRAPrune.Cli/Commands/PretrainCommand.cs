// PretrainCommand.cs — `loraprune pretrain`: trains every weight of a LLaMA-architecture model built from a
// config.json (or continued from a model folder) on text files, named splits or token files, with a progress
// bar, metrics.jsonl, atomic checkpoints, exact resume, exit 130 on SIGINT/SIGTERM, and a model folder at the end.
using System.CommandLine;
using System.Globalization;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Text;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;

namespace LoRAPrune.Cli.Commands;

internal sealed class PretrainCommand : Command
{
    private const string CommandName = "pretrain";

    private readonly Option<string> _config = new("--config") { HelpName = "FILE", Description = "A Hugging Face config.json (llama-style fields): train a model of this architecture from a random start." };
    private readonly Option<string> _initModel = new("--init-model") { HelpName = "DIR", Description = "Continue training the weights of this model folder instead (its tokenizer is used and saved)." };
    private readonly Option<string[]> _data = new("--data") { HelpName = "FILE|SPLIT", Description = "Text file(s) or split name(s) of `loraprune data fetch` (e.g. sotu:train), joined, tokenized once with one BOS, cut into blocks of --seq.", AllowMultipleArgumentsPerToken = true };
    private readonly Option<string> _tokens = new("--tokens") { HelpName = "FILE", Description = "Pre-tokenized ids (uint32 little-endian, no header), cut into blocks of --seq." };
    private readonly Option<string> _evalData = new("--eval-data") { HelpName = "FILE|SPLIT", Description = "Held-out data of the same kind; its loss is logged as eval_loss and its perplexity goes into recipe.json." };
    private readonly Option<int> _evalEvery = new("--eval-every") { HelpName = "N", Description = "Measure the held-out loss every N steps (0: only at the end).", DefaultValueFactory = _ => 100 };
    private readonly Option<string> _out = new("--out") { HelpName = "DIR", Description = "Output folder: checkpoint.safetensors, metrics.jsonl, and model/ at the end.", Required = true };
    private readonly Option<string> _device = new("--device") { Description = "Backend: auto (cuda when a GPU is usable, else cpu), cpu, cudaemu or cuda.", DefaultValueFactory = _ => "auto" };
    private readonly Option<long?> _steps = new("--steps") { HelpName = "N", Description = "Optimizer steps (default: one epoch)." };
    private readonly Option<double?> _epochs = new("--epochs") { HelpName = "E", Description = "Passes over the data, rounded up to whole steps (instead of --steps)." };
    private readonly Option<int> _batch = new("--batch") { HelpName = "B", Description = "Samples per optimizer step.", DefaultValueFactory = _ => 16 };
    private readonly Option<int> _microBatch = new("--micro-batch") { HelpName = "M", Description = "Samples per forward/backward; --batch / --micro-batch micro-batches are accumulated.", DefaultValueFactory = _ => 4 };
    private readonly Option<int> _seq = new("--seq") { HelpName = "T", Description = "Tokens per sample (at most the config's max_position_embeddings).", DefaultValueFactory = _ => 256 };
    private readonly Option<double> _lr = new("--lr") { HelpName = "LR", Description = "Peak learning rate (linear warm-up, then linear decay to 0).", DefaultValueFactory = _ => 3e-4 };
    private readonly Option<long> _warmup = new("--warmup-steps") { HelpName = "N", Description = "Linear warm-up steps.", DefaultValueFactory = _ => 0 };
    private readonly Option<double> _weightDecay = new("--weight-decay") { HelpName = "WD", Description = "AdamW weight decay of the 2-D weights (projections, embedding, lm_head); 1-D tensors (RMSNorm weights, biases) get none.", DefaultValueFactory = _ => 0.1 };
    private readonly Option<double> _maxGradNorm = new("--max-grad-norm") { HelpName = "NORM", Description = "Global gradient-norm clip (0: off).", DefaultValueFactory = _ => 1.0 };
    private readonly Option<ulong> _seed = new("--seed") { HelpName = "S", Description = "Run seed: initial weights and data order.", DefaultValueFactory = _ => 42 };
    private readonly Option<int> _saveEvery = new("--save-every") { HelpName = "N", Description = "Write the checkpoint every N steps (0: only on interrupt and at the end).", DefaultValueFactory = _ => 100 };
    private readonly Option<bool> _resume = new("--resume") { Description = "Continue the run whose checkpoint is in --out (same settings and data)." };
    private readonly Option<bool> _recompute = new("--recompute") { Description = "Recompute each layer's activations in backward: less memory, same numbers, one extra forward per layer." };
    private readonly Option<string> _tokenizer = new("--tokenizer") { HelpName = "llama2|DIR|FILE", Description = "Tokenizer for text data, saved with the model: 'llama2' (embedded LLaMA-2), a model folder, or a tokenizer.json / tokenizer.model. Default: --init-model's, else llama2 for vocab_size 32000." };
    private readonly Option<string> _cache = new("--cache") { HelpName = "DIR", Description = $"Corpus cache holding the splits (default: ${DataCache.EnvironmentVariable}, else ~/.cache/loraprune)." };
    private readonly Option<string> _saveDType = new("--save-dtype") { Description = "Storage of the saved model's weights: f16, bf16 or f32.", DefaultValueFactory = _ => "f16" };

    public PretrainCommand() : base(CommandName, "Train every weight of a LLaMA-architecture model from a config.json (or a model folder); writes a model folder with recipe.json.")
    {
        _device.AcceptOnlyFromAmong("auto", "cpu", "cudaemu", "cuda");
        _saveDType.AcceptOnlyFromAmong("f16", "bf16", "f32");
        foreach (Option option in new Option[]
                 {
                     _config, _initModel, _data, _tokens, _evalData, _evalEvery, _out, _device, _steps, _epochs, _batch, _microBatch, _seq, _lr, _warmup,
                     _weightDecay, _maxGradNorm, _seed, _saveEvery, _resume, _recompute, _tokenizer, _cache, _saveDType,
                 })
            Options.Add(option);
        SetAction(Run);
    }

    private int Run(ParseResult parseResult)
    {
        TextWriter error = parseResult.InvocationConfiguration.Error;
        PretrainSettings settings;
        try
        {
            settings = Settings(parseResult);
            settings.Validate();
        }
        catch (TrainingSetupException e)
        {
            error.WriteLine($"{CommandName}: {e.Message}");
            return TrainingConsole.ExitUsage;
        }
        Backend? backend = TrainingConsole.SelectBackend(CommandName, parseResult.GetValue(_device)!, error);
        if (backend is null) return TrainingConsole.ExitUsage;
        settings = settings with { Device = backend.Name };

        Terminal terminal = Terminal.For(parseResult);
        using var stop = new CancellationTokenSource();
        using TrainingConsole.SignalWatch signals = TrainingConsole.SignalWatch.Install(CommandName, stop, error);
        try
        {
            LlamaConfig config = settings.LoadConfig();
            PretrainData data = PretrainData.Open(settings, config);
            using Context context = backend.CreateContext();
            using var run = new PretrainRun(context, settings, config, data);
            WriteHeader(terminal.Out, settings, run, data);
            PretrainOutcome outcome = TrainingConsole.RunSteps(terminal, run.StartStep, run.TotalSteps, stop.Token, onStep => run.Run(onStep, stop.Token));
            terminal.Out.WriteLine(Summary(outcome));
            return outcome.Completed ? 0 : TrainingConsole.ExitInterrupted;
        }
        catch (Exception e) when (TrainingConsole.IsRunFailure(e))
        {
            error.WriteLine($"{CommandName}: {TrainingConsole.OneLine(e.Message)}");
            return TrainingConsole.ExitFailed;
        }
    }

    private PretrainSettings Settings(ParseResult p)
    {
        string[] text = p.GetValue(_data) ?? [];
        string? tokens = p.GetValue(_tokens);
        if ((text.Length > 0) == (tokens is not null)) throw new TrainingSetupException("give exactly one of --data FILE|SPLIT... or --tokens FILE");
        return new PretrainSettings
        {
            ConfigFile = p.GetValue(_config),
            InitModel = p.GetValue(_initModel),
            OutputFolder = p.GetValue(_out)!,
            DataKind = tokens is null ? "text" : "tokens",
            Data = tokens is null ? text : [tokens],
            EvalData = p.GetValue(_evalData),
            EvalEvery = p.GetValue(_evalEvery),
            Tokenizer = p.GetValue(_tokenizer),
            CacheFolder = p.GetValue(_cache),
            Steps = p.GetValue(_steps),
            Epochs = p.GetValue(_epochs),
            Batch = p.GetValue(_batch),
            MicroBatch = p.GetValue(_microBatch),
            Seq = p.GetValue(_seq),
            LearningRate = p.GetValue(_lr),
            WarmupSteps = p.GetValue(_warmup),
            WeightDecay = p.GetValue(_weightDecay),
            MaxGradNorm = p.GetValue(_maxGradNorm),
            Seed = p.GetValue(_seed),
            SaveEvery = p.GetValue(_saveEvery),
            Resume = p.GetValue(_resume),
            Recompute = p.GetValue(_recompute),
            SaveDType = p.GetValue(_saveDType) switch
            {
                "bf16" => SafetensorsDType.BF16,
                "f32" => SafetensorsDType.F32,
                _ => SafetensorsDType.F16,
            },
            CommandLine = CommandLine(p),
        };
    }

    /// <summary>The command line as typed, each argument quoted for a POSIX shell where it needs it.</summary>
    private static string CommandLine(ParseResult p) =>
        string.Join(" ", new[] { "loraprune" }.Concat(p.Tokens.Select(t => ShellQuote(t.Value))));

    private static string ShellQuote(string arg) =>
        arg.Length > 0 && arg.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=,+@%".Contains(c)) ? arg : "'" + arg.Replace("'", "'\\''") + "'";

    private static void WriteHeader(TextWriter output, PretrainSettings s, PretrainRun run, PretrainData data)
    {
        LlamaConfig c = run.Config;
        TrainerOptions o = run.Trainer.Options;
        string source = s.ConfigFile is not null ? $"config {s.ConfigFile}, random init (std {s.InitStd.ToString(CultureInfo.InvariantCulture)})" : $"init {s.InitModel}";
        output.WriteLine($"model: {source}: hidden {c.HiddenSize}, {c.NumHiddenLayers} layers, {c.NumAttentionHeads}/{c.NumKeyValueHeads} heads, MLP {c.IntermediateSize}, " +
                         $"vocab {c.VocabSize}{(c.TieWordEmbeddings ? ", tied embeddings" : "")}; {run.Weights.ParameterCount:N0} parameters, f32 on {s.Device}{(s.Recompute ? ", recompute" : "")}");
        if (data.Tokenizer is { } t) output.WriteLine($"tokenizer: {t.Tokenizer.Name}");
        output.WriteLine($"data: {data.Train.Description}");
        if (data.Eval is not null) output.WriteLine($"eval: {data.Eval.Description}");
        output.WriteLine($"steps: {o.MaxSteps:N0} x {o.Batch} samples ({o.GradAccum} x {o.MicroBatch}) of {data.Train.SequenceLength} tokens; " +
                         $"lr {o.LearningRate.ToString("G4", CultureInfo.InvariantCulture)} linear to 0, warm-up {o.WarmupSteps}, " +
                         $"AdamW betas {o.Beta1.ToString(CultureInfo.InvariantCulture)}/{o.Beta2.ToString(CultureInfo.InvariantCulture)}, " +
                         $"weight decay {o.WeightDecay.ToString(CultureInfo.InvariantCulture)} (2-D weights), clip {o.MaxGradNorm.ToString(CultureInfo.InvariantCulture)}, seed {o.Seed}");
        if (run.StartStep > 0) output.WriteLine($"resuming at step {run.StartStep:N0} of {o.MaxSteps:N0}");
        foreach (string warning in run.Warnings) output.WriteLine($"warning: {warning}");
        output.WriteLine($"output: {Path.GetFullPath(s.OutputFolder)}");
    }

    private static string Summary(PretrainOutcome o)
    {
        string loss = o.LastStep is { } last ? $"last loss {MetricsLog.Format(last.Loss)}" : "no step run";
        string eval = o.EvalLoss is { } e ? $", eval loss {MetricsLog.Format(e)} (perplexity {MetricsLog.Format(Math.Exp(e), "F2")})" : "";
        string speed = $"{o.TokensPerSecond.ToString("N0", CultureInfo.InvariantCulture)} tok/s";
        string where = o.Completed ? $"model in {o.ModelFolder}" : $"interrupted: checkpoint in {o.CheckpointPath}; continue with --resume";
        return $"{CommandName}: steps {o.StartStep}->{o.Step} of {o.TotalSteps}, {loss}{eval}, {speed}, {o.Seconds:F1} s; {where}";
    }
}
