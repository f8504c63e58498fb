// LlamaCheckpoint.cs — a LLaMA-family model folder as Hugging Face lays it out: config.json plus
// safetensors weights (single or sharded). Opening validates every tensor against the config (present,
// right shape, float dtype, nothing unexpected); saving checks the same before writing anything, then
// writes the weights and config.json atomically.
namespace LoRAPrune.Core.IO;

/// <summary>An open, validated model folder.</summary>
public sealed class LlamaCheckpoint : IDisposable
{
    /// <summary>The config file name inside a model folder.</summary>
    public const string ConfigFileName = "config.json";

    private LlamaCheckpoint(string folder, LlamaConfig config, ShardedCheckpoint tensors)
    {
        Folder = folder;
        Config = config;
        Tensors = tensors;
    }

    /// <summary>The model folder.</summary>
    public string Folder { get; }

    /// <summary>The model's configuration.</summary>
    public LlamaConfig Config { get; }

    /// <summary>The model's tensors, memory-mapped.</summary>
    public ShardedCheckpoint Tensors { get; }

    /// <summary>Opens and validates the model folder <paramref name="folder"/>.</summary>
    public static LlamaCheckpoint Open(string folder)
    {
        LlamaConfig config = LlamaConfig.Load(Path.Combine(folder, ConfigFileName));
        ShardedCheckpoint tensors = ShardedCheckpoint.Open(folder);
        try
        {
            Validate(config, tensors);
            return new LlamaCheckpoint(folder, config, tensors);
        }
        catch
        {
            tensors.Dispose();
            throw;
        }
    }

    /// <summary>Checks <paramref name="tensors"/> against <paramref name="config"/>; throws <see cref="ModelFormatException"/>.</summary>
    public static void Validate(LlamaConfig config, ShardedCheckpoint tensors)
    {
        var infos = tensors.TensorNames.ToDictionary(n => n, tensors.GetTensor, StringComparer.Ordinal);
        Check(config, infos, name => tensors.ShardOf(name).FileName, tensors.SourceName);
    }

    /// <summary>
    /// Writes a model folder: the tensors of <paramref name="tensors"/> (with "format": "pt" metadata, as
    /// transformers expects) as model.safetensors or shards of at most <paramref name="maxShardBytes"/>,
    /// then config.json in <paramref name="layout"/>. The tensors and the config are checked against each
    /// other first, so a mismatch writes nothing.
    /// </summary>
    public static void Save(string folder, LlamaConfig config, SafetensorsWriter tensors, ConfigLayout layout = ConfigLayout.Auto, long maxShardBytes = 0)
    {
        string configJson = LlamaConfigWriter.ToJson(config, layout);
        var planned = tensors.PlanLayout().ToDictionary(t => t.Name, StringComparer.Ordinal);
        Check(config, planned, _ => "tensors to save", "tensors to save");
        tensors.AddMetadata("format", "pt");
        Directory.CreateDirectory(folder);
        ShardedCheckpointWriter.Write(folder, tensors, maxShardBytes);
        AtomicFile.WriteText(Path.Combine(folder, ConfigFileName), configJson);
    }

    /// <summary>A tensor as float32 values.</summary>
    public float[] ReadFloats(string name) => Tensors.ReadFloats(name);

    /// <inheritdoc/>
    public void Dispose() => Tensors.Dispose();

    private static void Check(LlamaConfig config, IReadOnlyDictionary<string, TensorInfo> tensors, Func<string, string> fileOf, string sourceName)
    {
        IReadOnlyList<ExpectedTensor> expected = LlamaTensorLayout.Expected(config);
        foreach (ExpectedTensor e in expected)
        {
            if (!tensors.TryGetValue(e.Name, out TensorInfo? t))
                throw new ModelFormatException(sourceName, $"missing tensor {ModelFormatException.Quote(e.Name)} ({e.Reason})");
            if (!t.HasShape(e.Shape))
                throw new ModelFormatException(fileOf(e.Name), e.Name,
                    $"has shape {TensorInfo.FormatShape(t.Shape)} but {ConfigFileName} implies {TensorInfo.FormatShape(e.Shape)}", null);
            if (!t.DType.IsWeightFloat())
                throw new ModelFormatException(fileOf(e.Name), e.Name, $"has dtype {t.DType.HeaderName()}, expected F32, F16 or BF16", null);
        }

        var known = expected.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        foreach (string name in tensors.Keys.Order(StringComparer.Ordinal))
        {
            if (known.Contains(name) || LlamaTensorLayout.IsIgnorable(name) || IsIgnoredTiedHead(config, tensors[name])) continue;
            throw new ModelFormatException(fileOf(name), name,
                $"unexpected tensor ({ConfigFileName} describes a {config.ModelType} model with {config.NumHiddenLayers} layers)", null);
        }
    }

    /// <summary>Some exports keep lm_head.weight although it is tied; transformers ignores it, and so do we.</summary>
    private static bool IsIgnoredTiedHead(LlamaConfig config, TensorInfo t) =>
        config.TieWordEmbeddings && t.Name == LlamaTensorLayout.LmHead && t.HasShape([config.VocabSize, config.HiddenSize]);
}
