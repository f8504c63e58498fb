// PretrainRun.cs — one `loraprune pretrain` run: every base weight trainable (one f32 arena, HF names), its
// gradient arena, the Trainer loop with AdamW (decay on 2-D weights only), atomic checkpoints, and at the end a
// model folder (config.json, safetensors, tokenizer, metrics, recipe.json). The constructor checks and loads
// everything before a file is written, so bad input leaves the output folder untouched.
using System.Reflection;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Training;

/// <summary>How a pretraining run (or one session of it) ended.</summary>
/// <param name="Completed">All steps done and the model folder written; false when stopped early (checkpoint written).</param>
/// <param name="StartStep">Completed steps when this session began (non-zero after a resume).</param>
/// <param name="Step">Completed steps now.</param>
/// <param name="LastStep">The report of the last step of this session, if it ran one.</param>
/// <param name="EvalLoss">The last held-out loss measured, if any (at the final weights when completed).</param>
/// <param name="TokensPerSecond">Tokens fed per second of step time over this session.</param>
public sealed record PretrainOutcome(bool Completed, long StartStep, long Step, long TotalSteps, StepReport? LastStep, double? EvalLoss,
    double TokensPerSecond, double Seconds, string CheckpointPath, string? ModelFolder);

public sealed class PretrainRun : IDisposable
{
    public const string ModelFolderName = "model";
    public const string RecipeFileName = "recipe.json";

    /// <summary>Checkpoint metadata key of the command lines of every session so far (JSON array), for the recipe.</summary>
    public const string CommandsMetadataKey = "loraprune.commands";

    private const string StagingFolderName = ".model.partial";

    // Indented, and without \u escapes of '+', '<', '>' or non-ASCII: recipe.json is meant to be read.
    private static readonly JsonSerializerOptions RecipeJson = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly PretrainSettings _settings;
    private readonly PretrainData _data;
    private readonly JsonObject _identity;
    private readonly List<string> _commands = new();
    private readonly List<IDisposable> _owned = new();
    private readonly LlamaWeights _weights;
    private readonly LlamaGraph _graph;
    private readonly Trainer _trainer;
    private readonly List<string> _warnings = new();

    public PretrainRun(Context context, PretrainSettings settings, LlamaConfig config, PretrainData data)
    {
        settings.Validate();
        ISampleSource train = data.Train;
        if (train.SequenceLength != settings.Seq)
            throw new TrainingSetupException($"{train.Description}: samples hold {train.SequenceLength} tokens, --seq is {settings.Seq}");
        if (data.Eval is { } eval && eval.SequenceLength != settings.Seq)
            throw new TrainingSetupException($"{eval.Description}: samples hold {eval.SequenceLength} tokens, --seq is {settings.Seq}");
        if (data.Eval is { Count: 0 }) throw new TrainingSetupException($"{data.Eval.Description}: the evaluation data has no samples");
        if (settings.Seq > config.MaxPositionEmbeddings)
            throw new TrainingSetupException($"--seq {settings.Seq} is longer than the config's max_position_embeddings {config.MaxPositionEmbeddings}");
        TrainingLoop.CheckOutputFolder(settings.OutputFolder, settings.Resume, settings.CheckpointPath);
        _settings = settings;
        _data = data;
        Config = config;
        TrainerOptions options = settings.TrainerOptions(train.Count);
        _identity = settings.Identity(config, FinetuneData.ContentHash(train), train.Count, options);

        TrainingCheckpoint? checkpoint = null;
        try
        {
            if (settings.Resume)
            {
                checkpoint = TrainingCheckpoint.Open(settings.CheckpointPath);
                TrainingLoop.CheckSameRun(settings.CheckpointPath, checkpoint.Metadata.GetValueOrDefault(TrainingLoop.RunMetadataKey), _identity);
                if (TrainingLoop.DeviceChangeWarning(checkpoint, settings.Device) is { } warning) _warnings.Add(warning);
                _commands.AddRange(EarlierCommands(checkpoint));
            }
            _weights = Own(InitialWeights(context, settings, config));
            TensorArena grads = Own(_weights.Arena!.CloneLayout());
            _graph = Own(new LlamaGraph(_weights, null, null, settings.MicroBatch, settings.Seq, grads, settings.Recompute));
            _trainer = Own(new Trainer(_graph, [new TrainableArena(_weights.Arena, grads, TrainableArena.MatricesOnly)], train,
                new DataCursor(train.Count, settings.Seed), options));
            checkpoint?.Restore(_trainer);
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
        _commands.Add(settings.CommandLine);
        StartStep = _trainer.Step;
    }

    public LlamaConfig Config { get; }
    public long StartStep { get; }
    public long TotalSteps => _trainer.Options.MaxSteps;
    public Trainer Trainer => _trainer;

    /// <summary>The trained weights (f32, in one arena keyed by Hugging Face names).</summary>
    public LlamaWeights Weights => _weights;

    /// <summary>Things the user should know that do not stop the run (e.g. resuming on another backend).</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    public string CheckpointPath => _settings.CheckpointPath;
    public string ModelFolder => Path.Combine(_settings.OutputFolder, ModelFolderName);

    private T Own<T>(T item) where T : IDisposable
    {
        _owned.Add(item);
        return item;
    }

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

    /// <summary>Trains until the last step or until <paramref name="stop"/> is signalled (checked after each step,
    /// which is finished first); writes metrics per step, checkpoints, and at the end the model folder.</summary>
    public PretrainOutcome Run(Action<StepReport, double?>? onStep, CancellationToken stop)
    {
        TrainingLoop.Result result = TrainingLoop.Run(_trainer, _settings.OutputFolder, _data.Eval is null ? null : MeasureEval, _settings.EvalEvery,
            _settings.SaveEvery, SaveCheckpoint, onStep, stop);
        if (result.Completed) WriteModelFolder(result);
        return new PretrainOutcome(result.Completed, StartStep, _trainer.Step, TotalSteps, result.LastStep, result.EvalLoss, result.TokensPerSecond,
            result.Seconds, CheckpointPath, result.Completed ? ModelFolder : null);
    }

    /// <summary>Mean token NLL over the held-out data.</summary>
    public double MeasureEval() =>
        _data.Eval is null ? throw new InvalidOperationException("this run has no evaluation data") : HeldOutLoss.Measure(_graph, _data.Eval).Mean;

    /// <summary>Writes checkpoint.safetensors in the output folder atomically (replacing the previous one): the
    /// weights (f32, HF names), their Adam moments (optimizer.m./optimizer.v.), step, seed and data position.</summary>
    public void SaveCheckpoint()
    {
        Directory.CreateDirectory(_settings.OutputFolder);
        TrainingCheckpoint.Save(CheckpointPath, _trainer, new Dictionary<string, string>
        {
            [TrainingLoop.RunMetadataKey] = _identity.ToJsonString(),
            [TrainingLoop.SessionMetadataKey] = _settings.Session(_data.Train.Description).ToJsonString(),
            [CommandsMetadataKey] = new JsonArray(_commands.Select(c => (JsonNode)c).ToArray()).ToJsonString(),
        });
    }

    /// <summary>The config the model folder is saved with: torch_dtype of the saved weights, and the tokenizer's
    /// BOS/EOS ids where the given config names none.</summary>
    public LlamaConfig SavedConfig()
    {
        var tokenizer = _data.Tokenizer?.Tokenizer;
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
    private void WriteModelFolder(TrainingLoop.Result result)
    {
        string staging = Path.Combine(_settings.OutputFolder, StagingFolderName);
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        var tensors = new SafetensorsWriter();
        float[] values = _weights.Arena!.Download();
        foreach (TensorArena.Entry e in _weights.Arena.Entries)
            tensors.AddFloats(e.Name, _settings.SaveDType, e.Shape, values.AsMemory((int)e.Offset, (int)e.Count));
        LlamaCheckpoint.Save(staging, SavedConfig(), tensors);
        _data.Tokenizer?.WriteTo(staging);
        File.Copy(Path.Combine(_settings.OutputFolder, MetricsLog.FileName), Path.Combine(staging, MetricsLog.FileName));
        AtomicFile.WriteText(Path.Combine(staging, RecipeFileName), Recipe(result).ToJsonString(RecipeJson) + "\n");
        if (Directory.Exists(ModelFolder)) Directory.Delete(ModelFolder, recursive: true);
        Directory.Move(staging, ModelFolder);
    }

    /// <summary>recipe.json: how the model was made (commands, data and their hashes, settings, seed) and how it did.</summary>
    private JsonObject Recipe(TrainingLoop.Result result)
    {
        TrainerOptions o = _trainer.Options;
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
            ["tokenizer"] = _data.Tokenizer is { } t ? new JsonObject { ["name"] = t.Tokenizer.Name, ["source"] = t.Source } : null,
            ["data"] = DataRecord(_data.Train, _data.TrainFiles),
            ["eval_data"] = _data.Eval is null ? null : DataRecord(_data.Eval, _data.EvalFiles),
            ["training"] = _identity.DeepClone(),
            ["device"] = _settings.Device,
            ["result"] = new JsonObject
            {
                ["steps"] = _trainer.Step,
                ["tokens_trained"] = _trainer.Step * o.Batch * (long)_settings.Seq,
                ["final_train_loss"] = result.LastStep is { } last && double.IsFinite(last.Loss) ? last.Loss : null,
                ["eval_loss"] = evalLoss is { } e && double.IsFinite(e) ? e : null,
                ["eval_perplexity"] = evalLoss is { } l && double.IsFinite(Math.Exp(l)) ? Math.Exp(l) : null,
                ["eval_protocol"] = _data.Eval is null ? null
                    : $"mean token NLL over the non-overlapping blocks of {_settings.Seq} tokens of the eval data (one BOS at the start for text); perplexity = exp(loss)",
            },
        };
    }

    private JsonObject DataRecord(ISampleSource source, IReadOnlyList<PretrainDataFile> files) => new()
    {
        ["kind"] = _settings.DataKind,
        ["files"] = new JsonArray(files.Select(f => (JsonNode)f.ToJson()).ToArray()),
        ["description"] = source.Description,
        ["tokens"] = source is TokenBlocks blocks ? blocks.TokenCount : null,
        ["samples"] = source.Count,
        ["samples_sha256"] = FinetuneData.ContentHash(source),
    };

    private static string ToolVersion =>
        typeof(PretrainRun).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }
}
