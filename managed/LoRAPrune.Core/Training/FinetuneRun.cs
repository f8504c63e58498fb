// FinetuneRun.cs — one `loraprune finetune` run: frozen base + LoRA (the only gradients allocated) on the shared
// TrainingRun loop, with a PEFT adapter at the end. The constructor checks and loads everything before a file is
// written, so bad input leaves the output folder untouched.
using System.Text.Json.Nodes;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Training;

public sealed class FinetuneRun : TrainingRun
{
    public const string AdapterFolderName = "adapter";

    private readonly FinetuneSettings _settings;
    private readonly string _dataDescription;
    private readonly LoraAdapters _lora;
    private readonly LlamaGraph _graph;

    public FinetuneRun(Context context, FinetuneSettings settings, ISampleSource train, ISampleSource? eval) : base(settings.Run, eval)
    {
        settings.Validate();
        RunSettings run = settings.Run;
        if (train.SequenceLength != run.Seq)
            throw new TrainingSetupException($"{train.Description}: samples hold {train.SequenceLength} tokens, --seq is {run.Seq}");
        if (eval is not null && eval.SequenceLength != run.Seq)
            throw new TrainingSetupException($"{eval.Description}: samples hold {eval.SequenceLength} tokens, --seq is {run.Seq}");
        if (!Directory.Exists(settings.Model.ModelFolder))
            throw new TrainingSetupException($"--model: folder {settings.Model.ModelFolder} does not exist");
        _settings = settings;
        _dataDescription = train.Description;

        using LlamaCheckpoint model = LlamaCheckpoint.Open(settings.Model.ModelFolder);
        Config = model.Config;
        PeftAdapter? init = LoadInitAdapter(settings, Config);
        LoraOptions lora = init is null
            ? settings.Model.Lora
            : new LoraOptions { Rank = init.Config.Rank, Alpha = init.Config.Alpha, Dropout = settings.Model.Lora.Dropout, Targets = init.Config.TargetModules };
        TrainerOptions options = run.TrainerOptions(train.Count);
        Identity = settings.Identity(Config, lora, TrainingData.ContentHash(train), train.Count, options);

        TrainingCheckpoint? checkpoint = null;
        try
        {
            checkpoint = OpenCheckpoint();
            var weights = Own(LlamaWeights.Load(context, model, settings.Model.BaseDType));
            _lora = Own(init is null
                ? LoraAdapters.Create(context, Config, lora, LoraSeed(run.Seed))
                : LoraAdapters.FromPeft(context, Config, init, init.Config with { Dropout = lora.Dropout }));
            _graph = Own(new LlamaGraph(weights, _lora, null, run.MicroBatch, run.Seq, activations: run.Activations));
            Trainer = Own(new Trainer(_graph, [new TrainableArena(_lora.Params, _lora.Grads)], train, new DataCursor(train.Count, run.Seed), options));
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
        Started();
    }

    public LlamaConfig Config { get; }
    public FinetuneSettings Spec => _settings;
    public LoraAdapters Lora => _lora;
    protected override LlamaGraph Graph => _graph;

    public string AdapterFolder => Path.Combine(Settings.OutputFolder, AdapterFolderName);

    /// <summary>The seed of the LoRA A initialisation (LoraAdapters.Create takes an int).</summary>
    public static int LoraSeed(ulong seed) => unchecked((int)(seed ^ (seed >> 32)));

    private static PeftAdapter? LoadInitAdapter(FinetuneSettings s, LlamaConfig config)
    {
        if (s.InitAdapter is null) return null;
        if (!Directory.Exists(s.InitAdapter)) throw new TrainingSetupException($"--init-adapter: folder {s.InitAdapter} does not exist");
        return PeftAdapter.Load(s.InitAdapter, config);
    }

    protected override JsonObject Session() => Settings.Session(_dataDescription);

    protected override string Complete(RunResult result)
    {
        _lora.ToPeft(Path.GetFullPath(_settings.Model.ModelFolder)).Save(AdapterFolder);
        return AdapterFolder;
    }
}
