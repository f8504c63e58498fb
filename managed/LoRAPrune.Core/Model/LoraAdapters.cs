// LoraAdapters.cs — the trainable LoRA matrices of every adapted projection (docs/method.md §1.2) in
// one parameter arena, with a gradient arena of the same layout: A (R, IN) Kaiming-uniform
// U(-1/sqrt(IN), 1/sqrt(IN)), B (OUT, R) zero, so the adapted model starts equal to the base model.
using LoRAPrune.Core.IO;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Model;

/// <summary>LoRA hyper-parameters; the defaults are the paper's (r 8, alpha 16, dropout 0.05, all 7 projections).</summary>
public sealed record LoraOptions
{
    public int Rank { get; init; } = 8;
    public double Alpha { get; init; } = 16;
    public double Dropout { get; init; } = 0.05;
    public IReadOnlyList<LlamaLinear> Targets { get; init; } = Enum.GetValues<LlamaLinear>();

    /// <summary>s = alpha / r (no rsLoRA).</summary>
    public float Scale => (float)(Alpha / Rank);

    public void Validate()
    {
        if (Rank < 1) throw new ArgumentException($"LoRA rank must be at least 1, got {Rank}");
        if (Alpha <= 0) throw new ArgumentException($"LoRA alpha must be positive, got {Alpha}");
        if (Dropout is < 0 or >= 1) throw new ArgumentException($"LoRA dropout must be in [0, 1), got {Dropout}");
        if (Targets.Count == 0) throw new ArgumentException("LoRA needs at least one target projection");
    }
}

public sealed class LoraAdapters : IDisposable
{
    private readonly bool[,] _adapted;

    private LoraAdapters(Context context, LlamaConfig config, LoraOptions options)
    {
        options.Validate();
        Config = config;
        Options = options;
        _adapted = new bool[config.NumHiddenLayers, 7];
        var layout = new List<(string, long[])>();
        for (int l = 0; l < config.NumHiddenLayers; l++)
            foreach (var lin in options.Targets.Distinct().Order())
            {
                var (outF, inF) = lin.Shape(config, l);
                layout.Add((Name(l, lin, isB: false), new long[] { options.Rank, inF }));
                layout.Add((Name(l, lin, isB: true), new long[] { outF, options.Rank }));
                _adapted[l, (int)lin] = true;
            }
        Params = new TensorArena(context, layout);
        Grads = Params.CloneLayout();
    }

    public LlamaConfig Config { get; }
    public LoraOptions Options { get; }
    public float Scale => Options.Scale;

    /// <summary>All A and B matrices.</summary>
    public TensorArena Params { get; }

    /// <summary>dL/dA and dL/dB, same layout as Params (accumulated by backward, zeroed by the trainer).</summary>
    public TensorArena Grads { get; }

    /// <summary>The PEFT tensor name of A or B (…q_proj.lora_A.weight), also the arena key.</summary>
    public static string Name(int layer, LlamaLinear linear, bool isB) => PeftAdapter.TensorName(layer, linear, isB);

    public bool IsAdapted(int layer, LlamaLinear linear) => _adapted[layer, (int)linear];

    public Tensor? A(int layer, LlamaLinear linear) => IsAdapted(layer, linear) ? Params[Name(layer, linear, false)] : null;
    public Tensor? B(int layer, LlamaLinear linear) => IsAdapted(layer, linear) ? Params[Name(layer, linear, true)] : null;
    public Tensor? GradA(int layer, LlamaLinear linear) => IsAdapted(layer, linear) ? Grads[Name(layer, linear, false)] : null;
    public Tensor? GradB(int layer, LlamaLinear linear) => IsAdapted(layer, linear) ? Grads[Name(layer, linear, true)] : null;

    /// <summary>Adapters for <paramref name="config"/> with every A and B zero (compaction fills them by gathering).</summary>
    public static LoraAdapters Zero(Context context, LlamaConfig config, LoraOptions options) => new(context, config, options);

    /// <summary>Fresh adapters: A Kaiming-uniform (a = sqrt 5, i.e. U(-1/sqrt(IN), 1/sqrt(IN))), B = 0.</summary>
    public static LoraAdapters Create(Context context, LlamaConfig config, LoraOptions options, int seed)
    {
        var lora = new LoraAdapters(context, config, options);
        var rng = new Random(seed);
        var values = new float[lora.Params.Count];
        foreach (var e in lora.Params.Entries)
        {
            if (e.Name.Contains(".lora_B.", StringComparison.Ordinal)) continue;
            double bound = 1.0 / Math.Sqrt(e.Shape[1]);
            for (long i = 0; i < e.Count; i++) values[e.Offset + i] = (float)((rng.NextDouble() * 2 - 1) * bound);
        }
        lora.Params.Upload(values);
        return lora;
    }

    /// <summary>Adapters from a PEFT adapter folder (adapter_config.json + adapter_model.safetensors).</summary>
    public static LoraAdapters FromPeft(Context context, LlamaConfig config, PeftAdapter adapter, PeftAdapterConfig peft)
    {
        if (peft.LayersToTransform is not null)
            throw new NotSupportedException("adapters restricted to some layers (layers_to_transform) are not supported yet");
        var options = new LoraOptions { Rank = peft.Rank, Alpha = peft.Alpha, Dropout = peft.Dropout, Targets = peft.TargetModules };
        var lora = new LoraAdapters(context, config, options);
        var values = new float[lora.Params.Count];
        foreach (var ((layer, linear), w) in adapter.Weights)
        {
            if (!lora.IsAdapted(layer, linear))
                throw new ArgumentException($"adapter has weights for layer {layer} {linear} which its config does not target");
            Array.Copy(w.A, 0, values, lora.Params.Entries.First(e => e.Name == Name(layer, linear, false)).Offset, w.A.Length);
            Array.Copy(w.B, 0, values, lora.Params.Entries.First(e => e.Name == Name(layer, linear, true)).Offset, w.B.Length);
        }
        lora.Params.Upload(values);
        return lora;
    }

    /// <summary>The adapters as a PEFT adapter (for adapter_model.safetensors).</summary>
    public PeftAdapter ToPeft(string? baseModel = null)
    {
        var values = Params.Download();
        var byName = Params.Entries.ToDictionary(e => e.Name);
        float[] Slice(string name) => values.AsSpan((int)byName[name].Offset, (int)byName[name].Count).ToArray();
        var config = new PeftAdapterConfig
        {
            Rank = Options.Rank, Alpha = Options.Alpha, Dropout = Options.Dropout, TargetModules = Options.Targets.Distinct().Order().ToList(),
            BaseModelNameOrPath = baseModel,
        };
        return PeftAdapter.Create(config, Config, (layer, linear) =>
        {
            var (outF, inF) = linear.Shape(Config, layer);
            return new LoraWeights(Options.Rank, inF, outF, Slice(Name(layer, linear, false)), Slice(Name(layer, linear, true)));
        });
    }

    public void Dispose()
    {
        Params.Dispose();
        Grads.Dispose();
    }
}
