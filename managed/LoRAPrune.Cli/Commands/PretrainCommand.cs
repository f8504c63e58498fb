// PretrainCommand.cs — `loraprune pretrain`: trains every weight of a LLaMA-architecture model built from a
// config.json (or continued from a model folder) on text files, named splits or token files. The shared run options
// and executor give it the progress bar, metrics.jsonl, atomic checkpoints, exact --resume and exit 130 on a signal;
// it writes a model folder with recipe.json.
using System.CommandLine;
using System.Globalization;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;

namespace LoRAPrune.Cli.Commands;

internal sealed class PretrainCommand : Command
{
    private const string CommandName = "pretrain";

    private readonly TrainingRunOptions _run = new(defaultLearningRate: 3e-4, acceptsAlpaca: false);
    private readonly Option<string> _config = new("--config") { HelpName = "FILE", Description = "A Hugging Face config.json (llama-style fields): train a model of this architecture from a random start." };
    private readonly Option<string> _initModel = new("--init-model") { HelpName = "DIR", Description = "Continue training the weights of this model folder instead (its tokenizer is used and saved)." };
    private readonly Option<double> _weightDecay = new("--weight-decay") { HelpName = "WD", Description = "AdamW weight decay of the 2-D weights (projections, embedding, lm_head); 1-D tensors (RMSNorm weights, biases) get none.", DefaultValueFactory = _ => 0.1 };
    private readonly Option<bool> _recompute = new("--recompute") { Description = "Recompute each layer's activations in backward: less memory, same numbers, one extra forward per layer." };
    private readonly Option<string> _tokenizer = new("--tokenizer") { HelpName = "llama2|DIR|FILE", Description = "Tokenizer for text data, saved with the model: 'llama2' (embedded LLaMA-2), a model folder, or a tokenizer.json / tokenizer.model. Default: --init-model's, else llama2 for vocab_size 32000." };
    private readonly Option<string> _saveDType = new("--save-dtype") { Description = "Storage of the saved model's weights: f16, bf16 or f32.", DefaultValueFactory = _ => "f16" };

    public PretrainCommand() : base(CommandName, "Train every weight of a LLaMA-architecture model from a config.json (or a model folder); writes a model folder with recipe.json.")
    {
        _saveDType.AcceptOnlyFromAmong("f16", "bf16", "f32");
        foreach (Option option in new Option[] { _config, _initModel }.Concat(_run.All).Concat([_weightDecay, _recompute, _tokenizer, _saveDType]))
            Options.Add(option);
        SetAction(p => TrainingConsole.Execute(p, CommandName, () => Settings(p), s => s.Run.Device, Open, WriteHeader,
            (run, _) => $"model in {run.ModelFolder}"));
    }

    private PretrainSettings Settings(ParseResult p)
    {
        var settings = new PretrainSettings
        {
            Run = _run.Bind(p),
            ConfigFile = p.GetValue(_config),
            InitModel = p.GetValue(_initModel),
            Tokenizer = p.GetValue(_tokenizer),
            WeightDecay = p.GetValue(_weightDecay),
            Recompute = p.GetValue(_recompute),
            SaveDType = p.GetValue(_saveDType) switch
            {
                "bf16" => SafetensorsDType.BF16,
                "f32" => SafetensorsDType.F32,
                _ => SafetensorsDType.F16,
            },
        };
        settings.Validate();
        return settings;
    }

    private static PretrainRun Open(PretrainSettings settings, Context context, string device)
    {
        settings = settings with { Run = settings.Run with { Device = device } };
        LlamaConfig config = settings.LoadConfig();
        ModelTokenizer? tokenizer = ModelTokenizer.Resolve(settings.Tokenizer, settings.InitModel, config, required: settings.Run.Data.NeedsTokenizer);
        TrainingData data = TrainingData.Open(settings.Run, tokenizer?.Tokenizer, config);
        return new PretrainRun(context, settings, config, data, tokenizer);
    }

    private static void WriteHeader(TextWriter output, PretrainRun run)
    {
        LlamaConfig c = run.Config;
        PretrainSettings s = run.Spec;
        string source = s.ConfigFile is not null ? $"config {s.ConfigFile}, random init (std {s.InitStd.ToString(CultureInfo.InvariantCulture)})" : $"init {s.InitModel}";
        output.WriteLine($"model: {source}: hidden {c.HiddenSize}, {c.NumHiddenLayers} layers, {c.NumAttentionHeads}/{c.NumKeyValueHeads} heads, MLP {c.IntermediateSize}, " +
                         $"vocab {c.VocabSize}{(c.TieWordEmbeddings ? ", tied embeddings" : "")}; {run.Weights.ParameterCount:N0} parameters, f32 on {run.Settings.Device}{(s.Recompute ? ", recompute" : "")}");
        if (run.TokenizerName is { } tokenizer) output.WriteLine($"tokenizer: {tokenizer}");
        output.WriteLine($"data: {run.TrainDescription}");
        if (run.EvalDescription is { } eval) output.WriteLine($"eval: {eval}");
        TrainerOptions o = run.Trainer.Options;
        output.WriteLine(TrainingConsole.StepsLine(o, run.Settings.Seq,
            $"AdamW betas {o.Beta1.ToString(CultureInfo.InvariantCulture)}/{o.Beta2.ToString(CultureInfo.InvariantCulture)}, " +
            $"weight decay {o.WeightDecay.ToString(CultureInfo.InvariantCulture)} (2-D weights), "));
    }
}
