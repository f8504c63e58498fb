// PruneRun.cs — one `loraprune prune` run (docs/method.md): LoRA fine-tuning of a frozen model on the shared
// TrainingRun loop with pruning inside every optimizer step. After clipping and before AdamW the importance of every
// prunable layer is estimated and averaged; at a prune event each layer drops its lowest-scored KV groups and MLP
// channels, by output masks (the authors' code) or by physical removal right after the step (--compact progressive).
// At the end the kept structure is compacted from the source weights, merged and saved with the adapter, the masks,
// a before/after evaluation and the report. Checkpoints hold everything needed to continue exactly.
using System.Text.Json.Nodes;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Pruning;

/// <summary>One prune event: the 0-based step, the ratio applied, and the units kept over all prunable layers after it.</summary>
public sealed record PruneEvent(long Step, double Ratio, int GroupsKept, int ChannelsKept, long Parameters);

public sealed class PruneRun : TrainingRun
{
    public const string ModelFolderName = "model";
    public const string AdapterFolderName = "adapter";
    public const string MasksFileName = "masks.safetensors";
    public const string StatePrefix = "prune.";

    private const string StagingSuffix = ".partial";

    private readonly Context _ctx;
    private readonly PruneSettings _settings;
    private readonly ISampleSource _train;
    private readonly ModelTokenizer? _tokenizer;
    private readonly SparsitySchedule _schedule;
    private readonly IReadOnlyList<int> _prunable;
    private readonly List<PruneEvent> _events = new();

    // The model as it lives on the device now. In masked runs it keeps the original layout (KeptStructure.Full) and
    // the masks say what is pruned; in progressive runs it is compacted to _kept after every event.
    private KeptStructure _kept;
    private KeptStructure _deviceLayout;
    private LlamaWeights _weights;
    private LoraAdapters _lora;
    private OutputMasks? _masks;
    private TensorArena? _baseGrads;
    private LlamaGraph _graph;
    private ImportanceEstimator _importance;
    private bool _compactAfterStep;
    private PruneEvent? _eventThisStep;
    private bool _emaMovedThisStep;

    public PruneRun(Context context, PruneSettings settings, LlamaConfig config, ISampleSource train, ISampleSource? eval, ModelTokenizer? tokenizer)
        : base(settings.Run, eval)
    {
        settings.Validate();
        RunSettings run = settings.Run;
        _train = train;
        if (_train.SequenceLength != run.Seq)
            throw new TrainingSetupException($"{_train.Description}: samples hold {_train.SequenceLength} tokens, --seq is {run.Seq}");
        if (eval is not null && eval.SequenceLength != run.Seq)
            throw new TrainingSetupException($"{eval.Description}: samples hold {eval.SequenceLength} tokens, --seq is {run.Seq}");
        if (!Directory.Exists(settings.Model.ModelFolder))
            throw new TrainingSetupException($"--model: folder {settings.Model.ModelFolder} does not exist");
        _ctx = context;
        _settings = settings;
        _tokenizer = tokenizer;
        Config = config;
        TrainerOptions options = run.TrainerOptions(_train.Count);
        _schedule = new SparsitySchedule(settings.Prune, options.MaxSteps);
        if (!_schedule.PruneSteps().Any())
            throw new TrainingSetupException($"the schedule has no prune event in {options.MaxSteps} steps (events every --prune-freq {settings.Prune.Frequency} steps " +
                                             $"after the first {settings.Prune.Warmup:P0} and before the last {settings.Prune.Cooldown:P0}); give more --steps or a smaller --prune-freq");
        _prunable = PrunePlan.PrunableLayers(config, settings.Prune).ToList();
        if (_prunable.Count == 0) throw new TrainingSetupException($"no layer of {config.NumHiddenLayers} is prunable with --exempt-first {settings.Prune.ExemptFirst} --exempt-last {settings.Prune.ExemptLast}");
        Identity = settings.Identity(config, settings.Model.Lora, TrainingData.ContentHash(_train), _train.Count, options);

        TrainingCheckpoint? checkpoint = null;
        try
        {
            checkpoint = OpenCheckpoint();
            _kept = checkpoint is null ? KeptStructure.Full(config) : ReadKept(checkpoint, config);
            if (checkpoint is not null) _events.AddRange(ReadEvents(checkpoint));
            bool progressive = settings.Prune.Compaction == CompactionMode.Progressive;
            _deviceLayout = progressive ? _kept.Clone() : KeptStructure.Full(config);
            LlamaConfig current = _deviceLayout.PrunedConfig();

            using (LlamaCheckpoint model = LlamaCheckpoint.Open(settings.Model.ModelFolder))
            {
                if (LoraModelSettings.ConfigHash(model.Config) != LoraModelSettings.ConfigHash(config))
                    throw new TrainingSetupException($"--model: {settings.Model.ModelFolder}/config.json changed while the run was set up");
                LlamaWeights full = LlamaWeights.Load(context, model, settings.Model.BaseDType);
                if (_deviceLayout.IsFull) _weights = full;
                else
                {
                    using (full) _weights = full.Compact(current, _deviceLayout.PositionsInOriginal());
                }
            }
            _lora = checkpoint is null
                ? LoraAdapters.Create(context, config, settings.Model.Lora, FinetuneRun.LoraSeed(run.Seed))
                : LoraAdapters.Zero(context, current, settings.Model.Lora);
            if (!progressive)
            {
                _masks = new OutputMasks(context, config);
                foreach (int l in _prunable) ApplyMasks(l);
            }
            _baseGrads = BaseGradients(current);
            _graph = new LlamaGraph(_weights, _lora, _masks, run.MicroBatch, run.Seq, _baseGrads, activations: run.Activations);
            Trainer = new Trainer(_graph, [new TrainableArena(_lora.Params, _lora.Grads)], _train, new DataCursor(_train.Count, run.Seed), options) { AfterClip = AfterClip };
            _importance = new ImportanceEstimator(context, current, _prunable, settings.Prune);
            if (checkpoint is not null)
            {
                checkpoint.Restore(Trainer, StatePrefix);
                RestoreImportance(checkpoint);
            }
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
        Started();
    }

    /// <summary>The model before pruning.</summary>
    public LlamaConfig Config { get; }
    public PruneSettings Spec => _settings;
    public SparsitySchedule Schedule => _schedule;
    public IReadOnlyList<int> PrunableLayers => _prunable;

    /// <summary>What is kept now (original indices).</summary>
    public KeptStructure Kept => _kept;

    /// <summary>The prune events so far (all sessions).</summary>
    public IReadOnlyList<PruneEvent> Events => _events;

    /// <summary>The LoRA adapters as they are on the device (compacted in progressive runs).</summary>
    public LoraAdapters Lora => _lora;

    /// <summary>The importance estimator (its moving average holds one score per current unit).</summary>
    public ImportanceEstimator Importance => _importance;

    /// <summary>The config of the model on the device now (the original in masked runs).</summary>
    public LlamaConfig DeviceConfig => _deviceLayout.PrunedConfig();

    public string ModelFolder => Path.Combine(Settings.OutputFolder, ModelFolderName);
    public string AdapterFolder => Path.Combine(Settings.OutputFolder, AdapterFolderName);
    public string MasksPath => Path.Combine(Settings.OutputFolder, MasksFileName);

    /// <summary>The tokenizer saved with the pruned model, if any.</summary>
    public ModelTokenizer? Tokenizer => _tokenizer;

    protected override LlamaGraph Graph => _graph;

    /// <summary>The run identity: every setting that decides the result.</summary>
    public System.Text.Json.Nodes.JsonObject RunIdentity => Identity;

    /// <summary>Called by the trainer after clipping and before AdamW (docs/method.md §3.2 steps 3-4).</summary>
    private void AfterClip(long step)
    {
        _eventThisStep = null;
        // A step with no counted target has zero gradients: it carries no information and must not decay the average.
        _emaMovedThisStep = Trainer.StepCountedTargets > 0 &&
                            _importance.Update(_weights, _lora, KeptOnlyMasks, _baseGrads, Settings.Seed, step);
        if (_schedule.IsPruneStep(step)) Prune(step, _schedule.At(step));
    }

    // Masked runs normalising over kept groups multiply each module's vector by its unit mask first.
    private OutputMasks? KeptOnlyMasks => _settings.Prune.Normalization == ScoreNormalization.KeptGroups ? _masks : null;

    private void Prune(long step, double ratio)
    {
        KeptStructure next = _kept.Clone();
        foreach (int l in _prunable)
        {
            int groups = Config.KeyValueHeads(l), channels = Config.Intermediate(l);
            next.RemoveGroups(l, LocalSelection.Choose(_kept.Groups(l), KeptScores(l, attention: true), groups,
                LocalSelection.TargetRemoved(_schedule, groups, ratio, roundKept: false)));
            next.RemoveChannels(l, LocalSelection.Choose(_kept.Channels(l), KeptScores(l, attention: false), channels,
                LocalSelection.TargetRemoved(_schedule, channels, ratio, roundKept: _settings.Prune.Uniform)));
        }
        _kept = next;
        if (_masks is not null)
            foreach (int l in _prunable) ApplyMasks(l);
        else _compactAfterStep = true;
        _eventThisStep = new PruneEvent(step, ratio, _prunable.Sum(l => _kept.Groups(l).Count), _prunable.Sum(l => _kept.Channels(l).Count), _kept.ParameterCount());
        _events.Add(_eventThisStep);
    }

    // The moving-average score of each kept unit of a layer, in kept order (the device vector covers the device layout).
    private float[] KeptScores(int layer, bool attention)
    {
        float[] scores = _importance.Scores(layer, attention);
        int[] positions = attention ? _kept.GroupPositionsIn(_deviceLayout, layer) : _kept.ChannelPositionsIn(_deviceLayout, layer);
        return positions.Select(p => scores[p]).ToArray();
    }

    private void ApplyMasks(int layer)
    {
        _masks!.SetKvGroups(layer, _kept.GroupFlags(layer));
        _masks.SetChannels(layer, _kept.ChannelFlags(layer));
    }

    // The grad criterion's dL/dW of exactly the linears it scores (f32): the memory the baseline really needs.
    private TensorArena? BaseGradients(LlamaConfig current) =>
        BaseGradients(_ctx, current, _prunable, _settings.Prune.Criterion, _settings.Model.Lora.Targets);

    /// <summary>The base-weight gradients the grad criterion scores (docs/method.md §2.6): an f32 arena holding exactly the
    /// adapted linears of the scored layers, so backward computes no other weight gradient; null for the other criteria.</summary>
    public static TensorArena? BaseGradients(Context context, LlamaConfig config, IEnumerable<int> scoredLayers, PruneCriterion criterion,
                                             IReadOnlyList<LlamaLinear> targets)
    {
        if (criterion != PruneCriterion.Grad) return null;
        var layout = new List<(string, long[])>();
        foreach (int l in scoredLayers)
            foreach (LlamaLinear lin in Enum.GetValues<LlamaLinear>())
            {
                if (!targets.Contains(lin)) continue;
                (int outF, int inF) = lin.Shape(config, l);
                layout.Add((LlamaTensorLayout.Weight(lin, l), [outF, inF]));
            }
        return new TensorArena(context, layout);
    }

    protected override StepReport Step()
    {
        StepReport report = Trainer.RunStep();
        if (_compactAfterStep)
        {
            CompactDevice();
            _compactAfterStep = false;
        }
        return report;
    }

    /// <summary>
    /// Progressive compaction, at the step boundary right after the optimizer step of a prune event: base weights, LoRA
    /// A/B, both Adam moments and the importance average are gathered to the kept structure and the graph and trainer
    /// are rebuilt on it. The gradients are dead at this point (the next step zeroes them) and are reallocated, not
    /// gathered. The next step computes exactly what the masked model would (docs/method.md §4).
    /// </summary>
    private void CompactDevice()
    {
        LlamaConfig next = _kept.PrunedConfig();
        IReadOnlyList<LayerKeep> keep = _kept.PositionsIn(_deviceLayout);
        LlamaWeights weights = _weights.Compact(next, keep);
        var lora = LoraAdapters.Zero(_ctx, next, _lora.Options);
        ArenaCompaction.GatherLora(_ctx, _lora, _lora.Params, lora, lora.Params, keep);
        TensorArena? baseGrads = BaseGradients(next);
        var graph = new LlamaGraph(weights, lora, null, _graph.Batch, _graph.Seq, baseGrads, activations: _graph.Activations);
        Trainer old = Trainer;
        var trainer = new Trainer(graph, [new TrainableArena(lora.Params, lora.Grads)], _train, old.Cursor, old.Options) { AfterClip = AfterClip };
        ArenaCompaction.GatherLora(_ctx, _lora, old.Moments[0].M, lora, trainer.Moments[0].M, keep);
        ArenaCompaction.GatherLora(_ctx, _lora, old.Moments[0].V, lora, trainer.Moments[0].V, keep);
        trainer.Restore(old.Step, old.Cursor);
        var importance = new ImportanceEstimator(_ctx, next, _prunable, _settings.Prune);
        foreach (int l in _prunable)
        {
            ArenaCompaction.GatherUnits(_ctx, _importance.Ema[ImportanceEstimator.AttentionKey(l)], _kept.GroupPositionsIn(_deviceLayout, l),
                importance.Ema[ImportanceEstimator.AttentionKey(l)]);
            ArenaCompaction.GatherUnits(_ctx, _importance.Ema[ImportanceEstimator.MlpKey(l)], _kept.ChannelPositionsIn(_deviceLayout, l),
                importance.Ema[ImportanceEstimator.MlpKey(l)]);
        }
        DisposeModel();
        (_weights, _lora, _baseGrads, _graph, Trainer, _importance) = (weights, lora, baseGrads, graph, trainer, importance);
        _deviceLayout = _kept.Clone();
    }

    protected override JsonObject? StepMetrics(StepReport report)
    {
        long step = report.Step - 1;
        var extra = new JsonObject
        {
            ["sparsity"] = _schedule.At(step),
            ["ema_updated"] = _emaMovedThisStep,
            ["kept_kv_groups"] = _prunable.Sum(l => _kept.Groups(l).Count),
            ["kept_channels"] = _prunable.Sum(l => _kept.Channels(l).Count),
        };
        if (_eventThisStep is { } e)
        {
            extra["prune_event"] = true;
            extra["parameters"] = e.Parameters;
        }
        return extra;
    }

    protected override JsonObject Session() => Settings.Session(_train.Description);

    // ---- checkpoint state (format 2): kept indices, the importance average, the events -------------------------------

    private const string EventsMetadataKey = "loraprune.prune.events";

    private static string GroupsTensor(int layer) => $"{StatePrefix}kept.layers.{layer}.kv_groups";
    private static string ChannelsTensor(int layer) => $"{StatePrefix}kept.layers.{layer}.channels";
    private static string EmaTensor(string entry) => $"{StatePrefix}ema.{entry}";

    protected override void AddCheckpointState(SafetensorsWriter writer)
    {
        for (int l = 0; l < _kept.Layers; l++)
        {
            TrainingCheckpoint.AddInt32s(writer, GroupsTensor(l), _kept.Groups(l));
            TrainingCheckpoint.AddInt32s(writer, ChannelsTensor(l), _kept.Channels(l));
        }
        float[] ema = _importance.Ema.Download();
        foreach (TensorArena.Entry e in _importance.Ema.Entries)
            writer.AddFloats(EmaTensor(e.Name), SafetensorsDType.F32, e.Shape, ema.AsMemory((int)e.Offset, (int)e.Count));
    }

    protected override IEnumerable<KeyValuePair<string, string>> ExtraMetadata() =>
        [new(EventsMetadataKey, new JsonArray(_events.Select(e => (JsonNode)new JsonObject
        {
            ["step"] = e.Step, ["ratio"] = e.Ratio, ["kv_groups"] = e.GroupsKept, ["channels"] = e.ChannelsKept, ["parameters"] = e.Parameters,
        }).ToArray()).ToJsonString())];

    private static KeptStructure ReadKept(TrainingCheckpoint checkpoint, LlamaConfig config)
    {
        var groups = new List<int[]>();
        var channels = new List<int[]>();
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            groups.Add(checkpoint.ReadInt32s(GroupsTensor(l)));
            channels.Add(checkpoint.ReadInt32s(ChannelsTensor(l)));
        }
        try
        {
            return KeptStructure.FromLists(config, groups, channels);
        }
        catch (ArgumentException e)
        {
            throw new ModelFormatException(TrainingCheckpoint.FileName, $"kept structure: {e.Message}");
        }
    }

    private static IEnumerable<PruneEvent> ReadEvents(TrainingCheckpoint checkpoint)
    {
        if (checkpoint.Metadata.GetValueOrDefault(EventsMetadataKey) is not { } json)
            throw new ModelFormatException(TrainingCheckpoint.FileName, $"not a prune checkpoint (no {EventsMetadataKey} metadata)");
        return (JsonNode.Parse(json) as JsonArray ?? [])
            .Select(n => new PruneEvent((long)n!["step"]!, (double)n["ratio"]!, (int)n["kv_groups"]!, (int)n["channels"]!, (long)n["parameters"]!))
            .ToList();
    }

    private void RestoreImportance(TrainingCheckpoint checkpoint)
    {
        var values = new float[_importance.Ema.Count];
        foreach (TensorArena.Entry e in _importance.Ema.Entries)
            checkpoint.ReadFloats(EmaTensor(e.Name), e.Shape, values.AsSpan((int)e.Offset, (int)e.Count));
        _importance.Ema.Upload(values);
    }

    // ---- the end of the run --------------------------------------------------------------------------------------

    /// <summary>What the completed run measured and wrote; set by <see cref="Complete"/>.</summary>
    public PruneResult? Result { get; private set; }

    protected override string Complete(RunResult result)
    {
        Result = PruneFinish.Run(this, _ctx, result, _deviceLayout, StagingSuffix);
        return ModelFolder;
    }

    /// <summary>Frees the device model, adapters, optimizer state and activations once the run's outputs are written
    /// (the evaluation that follows loads its own models); idempotent.</summary>
    internal void ReleaseDevice()
    {
        if (_released) return;
        DisposeModel();
        _released = true;
    }

    private bool _released;

    private void DisposeModel()
    {
        // The trainer is replaced by a compaction or the run ends: everything built on the current layout goes.
        if (TrainerOrNull is { } trainer) trainer.Dispose();
        _importance?.Dispose();
        _graph?.Dispose();
        _baseGrads?.Dispose();
        _lora?.Dispose();
        _weights?.Dispose();
    }

    public override void Dispose()
    {
        ReleaseDevice();
        _masks?.Dispose();
        base.Dispose();
    }
}
