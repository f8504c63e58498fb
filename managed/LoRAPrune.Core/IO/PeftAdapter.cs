// PeftAdapter.cs — a LoRA adapter in PEFT's on-disk layout: adapter_config.json plus
// adapter_model.safetensors with tensors named base_model.model.model.layers.{i}.{block}.{module}.lora_A.weight
// (R, IN) and .lora_B.weight (OUT, R). Loading checks every name and shape against the model config;
// saving writes both files atomically, weights first.
namespace LoRAPrune.Core.IO;

/// <summary>LoRA weights of every adapted projection plus the adapter's settings.</summary>
public sealed class PeftAdapter
{
    /// <summary>The adapter settings file.</summary>
    public const string ConfigFileName = "adapter_config.json";

    /// <summary>The adapter weights file.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    private readonly Dictionary<(int Layer, LlamaLinear Linear), LoraWeights> _weights;

    private PeftAdapter(PeftAdapterConfig config, Dictionary<(int, LlamaLinear), LoraWeights> weights)
    {
        Config = config;
        _weights = weights;
    }

    /// <summary>The adapter settings.</summary>
    public PeftAdapterConfig Config { get; }

    /// <summary>The LoRA factors by (layer, projection).</summary>
    public IReadOnlyDictionary<(int Layer, LlamaLinear Linear), LoraWeights> Weights => _weights;

    /// <summary>The PEFT tensor name of A (<paramref name="isB"/> false) or B of one projection.</summary>
    public static string TensorName(int layer, LlamaLinear linear, bool isB) =>
        $"base_model.model.{linear.ModulePath(layer)}.lora_{(isB ? 'B' : 'A')}.weight";

    /// <summary>The (layer, projection) pairs an adapter with <paramref name="config"/> adapts in <paramref name="model"/>.</summary>
    public static IEnumerable<(int Layer, LlamaLinear Linear)> Targets(PeftAdapterConfig config, LlamaConfig model)
    {
        IEnumerable<int> layers = config.LayersToTransform?.Order() ?? Enumerable.Range(0, model.NumHiddenLayers);
        foreach (int layer in layers)
            foreach (LlamaLinear linear in LlamaLinears.All.Where(config.TargetModules.Contains))
                yield return (layer, linear);
    }

    /// <summary>Builds an adapter from <paramref name="weights"/>, asked once per target; shapes are checked against <paramref name="model"/>.</summary>
    public static PeftAdapter Create(PeftAdapterConfig config, LlamaConfig model, Func<int, LlamaLinear, LoraWeights> weights)
    {
        config.Validate(ConfigFileName, model);
        var result = new Dictionary<(int, LlamaLinear), LoraWeights>();
        foreach ((int layer, LlamaLinear linear) in Targets(config, model))
        {
            LoraWeights w = weights(layer, linear);
            (int outF, int inF) = linear.Shape(model, layer);
            if (w.Rank != config.Rank || w.In != inF || w.Out != outF)
                throw new ArgumentException($"{linear.ModulePath(layer)}: LoRA weights are R={w.Rank}, IN={w.In}, OUT={w.Out}, expected R={config.Rank}, IN={inF}, OUT={outF}");
            result.Add((layer, linear), w);
        }
        return new PeftAdapter(config, result);
    }

    /// <summary>Reads and validates the adapter in <paramref name="folder"/> for the model <paramref name="model"/>.</summary>
    public static PeftAdapter Load(string folder, LlamaConfig model)
    {
        PeftAdapterConfig config = PeftAdapterConfig.Load(Path.Combine(folder, ConfigFileName));
        config.Validate(ConfigFileName, model);
        string weightsPath = Path.Combine(folder, WeightsFileName);
        if (!File.Exists(weightsPath) && File.Exists(Path.Combine(folder, "adapter_model.bin")))
            throw new ModelFormatException(WeightsFileName, "not found; adapter_model.bin (pickle) is not supported, save the adapter as safetensors");

        using SafetensorsFile file = SafetensorsFile.Open(weightsPath);
        var weights = new Dictionary<(int, LlamaLinear), LoraWeights>();
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach ((int layer, LlamaLinear linear) in Targets(config, model))
        {
            (int outF, int inF) = linear.Shape(model, layer);
            string nameA = TensorName(layer, linear, isB: false), nameB = TensorName(layer, linear, isB: true);
            float[] a = ReadChecked(file, nameA, [config.Rank, inF], config, linear);
            float[] b = ReadChecked(file, nameB, [outF, config.Rank], config, linear);
            expected.Add(nameA);
            expected.Add(nameB);
            weights.Add((layer, linear), new LoraWeights(config.Rank, inF, outF, a, b));
        }
        foreach (TensorInfo t in file.Tensors)
        {
            if (!expected.Contains(t.Name))
                throw new ModelFormatException(file.FileName, t.Name,
                    $"unexpected tensor ({ConfigFileName} targets {string.Join(", ", config.TargetModules.Select(m => m.ModuleName()))} in {(config.LayersToTransform is null ? $"all {model.NumHiddenLayers} layers" : "layers " + string.Join(", ", config.LayersToTransform))})", null);
        }
        return new PeftAdapter(config, weights);
    }

    /// <summary>Writes adapter_model.safetensors (as <paramref name="dtype"/>: F32, F16 or BF16) and adapter_config.json into <paramref name="folder"/>.</summary>
    public void Save(string folder, SafetensorsDType dtype = SafetensorsDType.F32)
    {
        string configJson = Config.ToJson();
        var writer = new SafetensorsWriter().AddMetadata("format", "pt");
        foreach (((int layer, LlamaLinear linear), LoraWeights w) in _weights)
        {
            writer.AddFloats(TensorName(layer, linear, isB: false), dtype, [w.Rank, w.In], w.A);
            writer.AddFloats(TensorName(layer, linear, isB: true), dtype, [w.Out, w.Rank], w.B);
        }
        Directory.CreateDirectory(folder);
        writer.Save(Path.Combine(folder, WeightsFileName));
        AtomicFile.WriteText(Path.Combine(folder, ConfigFileName), configJson);
    }

    private static float[] ReadChecked(SafetensorsFile file, string name, long[] shape, PeftAdapterConfig config, LlamaLinear linear)
    {
        if (!file.TryGetTensor(name, out TensorInfo? t))
            throw new ModelFormatException(file.FileName, $"missing tensor {ModelFormatException.Quote(name)} ({ConfigFileName} targets {linear.ModuleName()})");
        if (!t.HasShape(shape))
            throw new ModelFormatException(file.FileName, name,
                $"has shape {TensorInfo.FormatShape(t.Shape)} but {ConfigFileName} (r={config.Rank}) and config.json imply {TensorInfo.FormatShape(shape)}", null);
        if (!t.DType.IsWeightFloat())
            throw new ModelFormatException(file.FileName, name, $"has dtype {t.DType.HeaderName()}, expected F32, F16 or BF16", null);
        return file.ReadFloats(name);
    }
}
