// TrainingRunOptions.cs — the options every training command (finetune, pretrain, prune) declares the same way,
// bound to one RunSettings; and the frozen-model-plus-LoRA options finetune and prune share. One declaration,
// so the commands agree on names, meanings and defaults (only the learning rate's default differs).
using System.CommandLine;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;

namespace LoRAPrune.Cli.Commands;

internal sealed class TrainingRunOptions
{
    private readonly Option<string[]> _data = new("--data") { HelpName = "FILE|SPLIT", Description = "Plain UTF-8 text file(s) or split name(s) of `loraprune data fetch` (e.g. sotu:train), joined, tokenized once with one BOS, cut into blocks of --seq.", AllowMultipleArgumentsPerToken = true };
    private readonly Option<string> _tokens = new("--tokens") { HelpName = "FILE", Description = "Pre-tokenized ids (uint32 little-endian, no header), cut into blocks of --seq." };
    private readonly Option<string>? _alpaca;
    private readonly Option<string> _evalData = new("--eval-data") { HelpName = "FILE|SPLIT", Description = "Held-out data of the same kind as the training data; its loss is logged as eval_loss." };
    private readonly Option<int> _evalEvery = new("--eval-every") { HelpName = "N", Description = "Measure the held-out loss every N steps (0: only at the end).", DefaultValueFactory = _ => 100 };
    private readonly Option<string> _out = new("--out") { HelpName = "DIR", Description = "Output folder: checkpoint.safetensors, metrics.jsonl and the command's results.", Required = true };
    private readonly Option<string> _device = new("--device") { Description = "Backend: auto (cuda when a GPU is usable, else cpu), cpu, cudaemu or cuda.", DefaultValueFactory = _ => "auto" };
    private readonly Option<long?> _steps = new("--steps") { HelpName = "N", Description = "Optimizer steps (default: one epoch)." };
    private readonly Option<double?> _epochs = new("--epochs") { HelpName = "E", Description = "Passes over the data, rounded up to whole steps (instead of --steps)." };
    private readonly Option<int> _batch = new("--batch") { HelpName = "B", Description = "Samples per optimizer step (the paper: 128).", DefaultValueFactory = _ => 16 };
    private readonly Option<int> _microBatch = new("--micro-batch") { HelpName = "M", Description = "Samples per forward/backward; --batch / --micro-batch micro-batches are accumulated.", DefaultValueFactory = _ => 4 };
    private readonly Option<int> _seq = new("--seq") { HelpName = "T", Description = "Tokens per sample (block length; Alpaca cutoff).", DefaultValueFactory = _ => 256 };
    private readonly Option<double> _lr;
    private readonly Option<long> _warmup = new("--warmup-steps") { HelpName = "N", Description = "Linear warm-up steps of the learning rate.", DefaultValueFactory = _ => 0 };
    private readonly Option<double> _maxGradNorm = new("--max-grad-norm") { HelpName = "NORM", Description = "Global gradient-norm clip (0: off).", DefaultValueFactory = _ => 1.0 };
    private readonly Option<string> _activations = new("--activations") { Description = "Storage of the activations a step saves for its backward: f32, bf16, or auto (bf16 on the CUDA backends, f32 on cpu).", DefaultValueFactory = _ => "auto" };
    private readonly Option<ulong> _seed = new("--seed") { HelpName = "S", Description = "Run seed: initialisation, data order, dropout.", DefaultValueFactory = _ => 42 };
    private readonly Option<int> _saveEvery = new("--save-every") { HelpName = "N", Description = "Write the checkpoint every N steps (0: only on interrupt and at the end).", DefaultValueFactory = _ => 100 };
    private readonly Option<bool> _resume = new("--resume") { Description = "Continue the run whose checkpoint is in --out (same settings and data); the result is identical to an uninterrupted run." };
    private readonly Option<string> _cache = new("--cache") { HelpName = "DIR", Description = $"Corpus cache holding the splits (default: ${DataCache.EnvironmentVariable}, else ~/.cache/loraprune)." };

    /// <param name="defaultLearningRate">1e-4 for LoRA (the paper), 3e-4 for pretraining.</param>
    /// <param name="acceptsAlpaca">Whether --alpaca instruction data is offered (LoRA training, not pretraining).</param>
    public TrainingRunOptions(double defaultLearningRate, bool acceptsAlpaca)
    {
        _lr = new Option<double>("--lr") { HelpName = "LR", Description = "Peak learning rate (linear warm-up, then linear decay to 0).", DefaultValueFactory = _ => defaultLearningRate };
        if (acceptsAlpaca)
            _alpaca = new Option<string>("--alpaca") { HelpName = "FILE", Description = "Instruction data (Alpaca/LaMini JSONL), one sample per record, cutoff --seq." };
        _device.AcceptOnlyFromAmong(Backend.DeviceChoices);
        _activations.AcceptOnlyFromAmong("auto", "f32", "bf16");
    }

    public IEnumerable<Option> All =>
        new Option?[]
        {
            _data, _tokens, _alpaca, _evalData, _evalEvery, _out, _device, _steps, _epochs, _batch, _microBatch, _seq, _lr, _warmup,
            _maxGradNorm, _activations, _seed, _saveEvery, _resume, _cache,
        }.OfType<Option>();

    /// <summary>The --device choice as given (resolved by Backend.Select).</summary>
    public string Device(ParseResult p) => p.GetValue(_device)!;

    /// <summary>True when the user gave <paramref name="option"/> on the command line.</summary>
    public static bool Given(ParseResult p, Option option) => p.GetResult(option) is { Implicit: false };

    /// <summary>The run settings the command line asks for; throws <see cref="TrainingSetupException"/> for a data choice
    /// that is not exactly one of --data, --tokens (and --alpaca).</summary>
    public RunSettings Bind(ParseResult p)
    {
        string[] text = p.GetValue(_data) ?? [];
        string? tokens = p.GetValue(_tokens), alpaca = _alpaca is null ? null : p.GetValue(_alpaca);
        int sources = (text.Length > 0 ? 1 : 0) + (tokens is null ? 0 : 1) + (alpaca is null ? 0 : 1);
        if (sources != 1)
            throw new TrainingSetupException(_alpaca is null
                ? "give exactly one of --data FILE|SPLIT... or --tokens FILE"
                : "give exactly one of --data FILE|SPLIT..., --tokens FILE or --alpaca FILE");
        DataSpec data = text.Length > 0 ? new DataSpec(DataSpec.Text, text)
            : tokens is not null ? new DataSpec(DataSpec.Tokens, [tokens])
            : new DataSpec(DataSpec.Alpaca, [alpaca!]);
        return new RunSettings
        {
            OutputFolder = p.GetValue(_out)!,
            Data = data,
            EvalData = p.GetValue(_evalData),
            EvalEvery = p.GetValue(_evalEvery),
            CacheFolder = p.GetValue(_cache),
            Steps = p.GetValue(_steps),
            Epochs = p.GetValue(_epochs),
            Batch = p.GetValue(_batch),
            MicroBatch = p.GetValue(_microBatch),
            Seq = p.GetValue(_seq),
            LearningRate = p.GetValue(_lr),
            WarmupSteps = p.GetValue(_warmup),
            MaxGradNorm = p.GetValue(_maxGradNorm),
            Seed = p.GetValue(_seed),
            Activations = p.GetValue(_activations) switch { "f32" => Native.LpDType.F32, "bf16" => Native.LpDType.BF16, _ => null },
            SaveEvery = p.GetValue(_saveEvery),
            Resume = p.GetValue(_resume),
            Device = p.GetValue(_device)!,
            CommandLine = CommandLine(p),
        };
    }

    /// <summary>The command line as typed, each argument quoted for a POSIX shell where it needs it.</summary>
    public static string CommandLine(ParseResult p) =>
        string.Join(" ", new[] { "loraprune" }.Concat(p.Tokens.Select(t => ShellQuote(t.Value))));

    private static string ShellQuote(string arg) =>
        arg.Length > 0 && arg.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=,+@%".Contains(c)) ? arg : "'" + arg.Replace("'", "'\\''") + "'";
}

/// <summary>The frozen model and its LoRA adapters, as finetune and prune declare them.</summary>
internal sealed class LoraModelOptions
{
    private readonly Option<string> _model = new("--model") { HelpName = "DIR", Description = "Model folder (config.json + safetensors, tokenizer).", Required = true };
    private readonly Option<string> _dtype = new("--dtype") { Description = "Storage of the frozen base linears on the device: f32 or bf16.", DefaultValueFactory = _ => "f32" };
    private readonly Option<int> _rank = new("--rank") { HelpName = "R", Description = "LoRA rank r.", DefaultValueFactory = _ => 8 };
    private readonly Option<double> _alpha = new("--alpha") { HelpName = "ALPHA", Description = "LoRA alpha (scale alpha / r).", DefaultValueFactory = _ => 16 };
    private readonly Option<double> _loraDropout = new("--lora-dropout") { HelpName = "P", Description = "Dropout on the LoRA branch input during training.", DefaultValueFactory = _ => 0.05 };
    private readonly Option<string> _targets = new("--targets") { HelpName = "LIST", Description = "Projections that get LoRA: any of q,k,v,o,gate,up,down.", DefaultValueFactory = _ => "q,k,v,o,gate,up,down" };

    public LoraModelOptions() => _dtype.AcceptOnlyFromAmong("f32", "bf16");

    public IEnumerable<Option> All => [_model, _dtype, _rank, _alpha, _loraDropout, _targets];

    /// <summary>Options an initial adapter fixes (they may not be given with --init-adapter).</summary>
    public IEnumerable<Option> FixedByAdapter => [_rank, _alpha, _targets];

    public LoraModelSettings Bind(ParseResult p) => new()
    {
        ModelFolder = p.GetValue(_model)!,
        BaseDType = p.GetValue(_dtype) == "bf16" ? LpDType.BF16 : LpDType.F32,
        Lora = new LoraOptions
        {
            Rank = p.GetValue(_rank),
            Alpha = p.GetValue(_alpha),
            Dropout = p.GetValue(_loraDropout),
            Targets = ParseTargets(p.GetValue(_targets)!),
        },
    };

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
}
