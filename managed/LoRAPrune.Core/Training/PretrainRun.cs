// PretrainRun.cs — one `loraprune pretrain` run: every base weight trainable (one f32 arena, HF names) with its
// gradient arena, on the shared TrainingRun loop with AdamW (decay on 2-D weights only), and at the end a model
// folder (config.json, safetensors, tokenizer, metrics, recipe.json). The constructor checks and loads everything
// before a file is written, so bad input leaves the output folder untouched.
using System.Reflection;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Training;

public sealed class PretrainRun : TrainingRun
{
    public const string ModelFolderName = "model";
    public const string RecipeFileName = "recipe.json";
    public const string RecipeDocumentName = "RECIPE.md";
    public const string CurveFileName = "training.png";

    /// <summary>Checkpoint metadata key of the command lines of every session so far (JSON array), for the recipe.</summary>
    public const string CommandsMetadataKey = "loraprune.commands";

    private const string StagingFolderName = ".model.partial";

    // Indented, and without \u escapes of '+', '<', '>' or non-ASCII: recipe.json is meant to be read.
    private static readonly JsonSerializerOptions RecipeJson = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly PretrainSettings _settings;
    private readonly TrainingData _data;
    private readonly ModelTokenizer? _tokenizer;
    private readonly List<string> _commands = new();
    private readonly LlamaWeights _weights;
    private readonly LlamaGraph _graph;

    public PretrainRun(Context context, PretrainSettings settings, LlamaConfig config, TrainingData data, ModelTokenizer? tokenizer)
        : base(settings.Run, data.Eval)
    {
        settings.Validate();
        RunSettings run = settings.Run;
        ISampleSource train = data.Train;
        if (train.SequenceLength != run.Seq)
            throw new TrainingSetupException($"{train.Description}: samples hold {train.SequenceLength} tokens, --seq is {run.Seq}");
        if (data.Eval is { } eval && eval.SequenceLength != run.Seq)
            throw new TrainingSetupException($"{eval.Description}: samples hold {eval.SequenceLength} tokens, --seq is {run.Seq}");
        if (run.Seq > config.MaxPositionEmbeddings)
            throw new TrainingSetupException($"--seq {run.Seq} is longer than the config's max_position_embeddings {config.MaxPositionEmbeddings}");
        _settings = settings;
        _data = data;
        _tokenizer = tokenizer;
        Config = config;
        TrainerOptions options = settings.TrainerOptions(train.Count);
        Identity = settings.Identity(config, TrainingData.ContentHash(train), train.Count, options);

        TrainingCheckpoint? checkpoint = null;
        try
        {
            checkpoint = OpenCheckpoint();
            if (checkpoint is not null) _commands.AddRange(EarlierCommands(checkpoint));
            _weights = Own(InitialWeights(context, settings, config));
            TensorArena grads = Own(_weights.Arena!.CloneLayout());
            _graph = Own(new LlamaGraph(_weights, null, null, run.MicroBatch, run.Seq, grads, settings.Recompute, run.Activations));
            Trainer = Own(new Trainer(_graph, [new TrainableArena(_weights.Arena, grads, TrainableArena.MatricesOnly)], train,
                new DataCursor(train.Count, run.Seed), options));
            checkpoint?.Restore(Trainer);
        }
        catch
        {
            Dispose();
            throw;
        }
        finally
        {
            checkpoint?.Dispose();
        }
        _commands.Add(run.CommandLine);
        Started();
    }

    public LlamaConfig Config { get; }
    public PretrainSettings Spec => _settings;

    /// <summary>The tokenizer that tokenized the text and is saved with the model, if any.</summary>
    public string? TokenizerName => _tokenizer?.Tokenizer.Name;

    /// <summary>The trained weights (f32, in one arena keyed by Hugging Face names).</summary>
    public LlamaWeights Weights => _weights;

    protected override LlamaGraph Graph => _graph;

    public string ModelFolder => Path.Combine(Settings.OutputFolder, ModelFolderName);

    private static LlamaWeights InitialWeights(Context context, PretrainSettings settings, LlamaConfig config)
    {
        if (settings.InitModel is null)
            return LlamaWeights.Random(context, config, settings.InitSeed, LpDType.F32, settings.InitStd, trainable: true);
        using LlamaCheckpoint model = LlamaCheckpoint.Open(settings.InitModel);
        return LlamaWeights.Load(context, model, LpDType.F32, trainable: true);
    }

    private static IEnumerable<string> EarlierCommands(TrainingCheckpoint checkpoint)
    {
        try
        {
            if (checkpoint.Metadata.GetValueOrDefault(CommandsMetadataKey) is { } json && JsonNode.Parse(json) is JsonArray commands)
                return commands.Select(c => c?.GetValue<string>() ?? "").ToList();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            // the command history is informational only
        }
        return [];
    }

    protected override JsonObject Session() => _settings.Session(_data.Train.Description);

    protected override IEnumerable<KeyValuePair<string, string>> ExtraMetadata() =>
        [new(CommandsMetadataKey, new JsonArray(_commands.Select(c => (JsonNode)c).ToArray()).ToJsonString())];

    protected override string Complete(RunResult result)
    {
        WriteModelFolder(result);
        return ModelFolder;
    }

    /// <summary>The config the model folder is saved with: torch_dtype of the saved weights, and the tokenizer's
    /// BOS/EOS ids where the given config names none.</summary>
    public LlamaConfig SavedConfig()
    {
        var tokenizer = _tokenizer?.Tokenizer;
        return Config with
        {
            TorchDtype = _settings.SaveDType switch
            {
                SafetensorsDType.F16 => "float16",
                SafetensorsDType.BF16 => "bfloat16",
                _ => "float32",
            },
            BosTokenId = Config.BosTokenId ?? tokenizer?.BosId,
            EosTokenIds = Config.EosTokenIds.Count > 0 || tokenizer?.EosId is not { } eos ? Config.EosTokenIds : [eos],
        };
    }

    // Everything is written into a staging folder first, which then replaces <out>/model: a reader never sees half a model.
    private void WriteModelFolder(RunResult result)
    {
        string staging = Path.Combine(Settings.OutputFolder, StagingFolderName);
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        // Tensor by tensor: each is downloaded while the file is written, never the whole model at once.
        var tensors = new SafetensorsWriter();
        foreach (TensorArena.Entry e in _weights.Arena!.Entries)
        {
            Tensor view = _weights.Arena[e.Name];
            tensors.Add(e.Name, _settings.SaveDType, e.Shape, stream => SafetensorsWriter.WriteFloats(stream, view.ToFloatArray(), _settings.SaveDType));
        }
        LlamaCheckpoint.Save(staging, SavedConfig(), tensors);
        _tokenizer?.WriteTo(staging);
        string metrics = Path.Combine(Settings.OutputFolder, MetricsLog.FileName);
        File.Copy(metrics, Path.Combine(staging, MetricsLog.FileName));
        JsonObject recipe = Recipe(result);
        AtomicFile.WriteText(Path.Combine(staging, RecipeFileName), recipe.ToJsonString(RecipeJson) + "\n");
        TrainingPlots.Loss(Path.Combine(staging, CurveFileName), TrainingPlots.Read(metrics), [], "Pretraining loss", "optimizer step");
        AtomicFile.WriteText(Path.Combine(staging, RecipeDocumentName), PretrainRecipe.Markdown(recipe, Config, Weights.ParameterCount, TrainedSeconds(metrics)));
        if (Directory.Exists(ModelFolder)) Directory.Delete(ModelFolder, recursive: true);
        Directory.Move(staging, ModelFolder);
    }

    /// <summary>recipe.json: how the model was made (commands, data and their hashes, settings, seed) and how it did.</summary>
    private JsonObject Recipe(RunResult result)
    {
        TrainerOptions o = Trainer.Options;
        double? evalLoss = result.EvalLoss;
        return new JsonObject
        {
            ["tool"] = $"loraprune {ToolVersion}",
            ["commands"] = new JsonArray(_commands.Select(c => (JsonNode)c).ToArray()),
            ["config"] = _settings.ConfigFile is null ? null : Path.GetFullPath(_settings.ConfigFile),
            ["init_model"] = _settings.InitModel is null ? null : Path.GetFullPath(_settings.InitModel),
            ["init_seed"] = _settings.InitModel is null ? _settings.InitSeed : null,
            ["parameters"] = _weights.ParameterCount,
            ["save_dtype"] = _settings.SaveDType.HeaderName(),
            ["tokenizer"] = _tokenizer is { } t ? new JsonObject { ["name"] = t.Tokenizer.Name, ["source"] = t.Source } : null,
            ["data"] = _data.Record(_data.Train, _data.TrainFiles),
            ["eval_data"] = _data.Eval is null ? null : _data.Record(_data.Eval, _data.EvalFiles),
            ["training"] = Identity.DeepClone(),
            ["device"] = Settings.Device,
            ["result"] = new JsonObject
            {
                ["steps"] = Trainer.Step,
                ["tokens_trained"] = Trainer.Step * o.Batch * (long)Settings.Seq,
                ["final_train_loss"] = (result.LastStep?.Loss ?? TrainingPlots.Read(Path.Combine(Settings.OutputFolder, MetricsLog.FileName)).LastOrDefault().Loss) is { } trainLoss
                                       && double.IsFinite(trainLoss) ? trainLoss : null,
                ["eval_loss"] = evalLoss is { } e && double.IsFinite(e) ? e : null,
                ["eval_perplexity"] = evalLoss is { } l && double.IsFinite(Math.Exp(l)) ? Math.Exp(l) : null,
                ["eval_protocol"] = _data.Eval is null ? null
                    : $"mean token NLL over the non-overlapping blocks of {Settings.Seq} tokens of the eval data (one BOS at the start for text); perplexity = exp(loss)",
            },
        };
    }

    // elapsed_s of the last metrics line: the training time of every session.
    private static double TrainedSeconds(string metrics) =>
        File.ReadLines(metrics).LastOrDefault() is { } last && JsonNode.Parse(last)?["elapsed_s"] is { } e ? (double)e : 0;

    private static string ToolVersion =>
        typeof(PretrainRun).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
}
