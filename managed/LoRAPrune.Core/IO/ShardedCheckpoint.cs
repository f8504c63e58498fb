// ShardedCheckpoint.cs — the tensors of a Hugging Face model folder as one lookup by name, whether they
// are in a single model.safetensors or in shards listed by model.safetensors.index.json. The index is
// cross-checked against the shards: every weight_map entry must be in the shard it names, no tensor
// may be in two shards, and no shard may hold a tensor the index does not list.
using System.Text.Json;

namespace LoRAPrune.Core.IO;

/// <summary>All tensors of a model folder, single file or sharded, validated and memory-mapped.</summary>
public sealed class ShardedCheckpoint : IDisposable
{
    /// <summary>The single-file weights name.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>The shard index name.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafetensorsFile> _shards;
    private readonly Dictionary<string, SafetensorsFile> _shardOf;

    private ShardedCheckpoint(string sourceName, List<SafetensorsFile> shards, Dictionary<string, SafetensorsFile> shardOf)
    {
        SourceName = sourceName;
        _shards = shards;
        _shardOf = shardOf;
        TensorNames = [.. shardOf.Keys.Order(StringComparer.Ordinal)];
    }

    /// <summary>The file that names the tensor set in errors: model.safetensors or the index file.</summary>
    public string SourceName { get; }

    /// <summary>The open shard files (one for a single-file model).</summary>
    public IReadOnlyList<SafetensorsFile> Shards => _shards;

    /// <summary>Every tensor name, sorted (ordinal).</summary>
    public IReadOnlyList<string> TensorNames { get; }

    /// <summary>
    /// Opens a model folder (model.safetensors if present, as Hugging Face prefers it, else the index),
    /// or a path to a .safetensors file or to an index file.
    /// </summary>
    public static ShardedCheckpoint Open(string path)
    {
        if (Directory.Exists(path))
        {
            string single = Path.Combine(path, SingleFileName);
            string index = Path.Combine(path, IndexFileName);
            if (File.Exists(single)) return OpenSingle(single);
            if (File.Exists(index)) return OpenIndex(index);
            string hint = File.Exists(Path.Combine(path, "pytorch_model.bin")) || File.Exists(Path.Combine(path, "pytorch_model.bin.index.json"))
                ? "; pytorch_model.bin (pickle) is not supported, convert the model to safetensors"
                : "";
            throw new ModelFormatException(Path.GetFileName(Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar)),
                $"folder has neither {SingleFileName} nor {IndexFileName}{hint}");
        }
        return path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? OpenIndex(path) : OpenSingle(path);
    }

    /// <summary>True when a tensor of that name exists.</summary>
    public bool Contains(string name) => _shardOf.ContainsKey(name);

    /// <summary>Looks up a tensor and the shard holding it.</summary>
    public bool TryGetTensor(string name, out TensorInfo info, out SafetensorsFile shard)
    {
        if (_shardOf.TryGetValue(name, out shard!)) return shard.TryGetTensor(name, out info);
        info = null!;
        return false;
    }

    /// <summary>A tensor's header entry; a missing tensor is a <see cref="ModelFormatException"/>.</summary>
    public TensorInfo GetTensor(string name) => ShardOf(name).GetTensor(name);

    /// <summary>The shard holding <paramref name="name"/>.</summary>
    public SafetensorsFile ShardOf(string name) =>
        _shardOf.TryGetValue(name, out SafetensorsFile? shard) ? shard : throw new ModelFormatException(SourceName, $"missing tensor {ModelFormatException.Quote(name)}");

    /// <summary>The tensor as float32 values (F32, F16 or BF16 storage).</summary>
    public float[] ReadFloats(string name) => ShardOf(name).ReadFloats(name);

    /// <summary>Decodes the tensor into <paramref name="destination"/>.</summary>
    public void ReadFloats(string name, Span<float> destination) => ShardOf(name).ReadFloats(name, destination);

    /// <summary>The tensor's stored bytes, valid until Dispose.</summary>
    public ReadOnlySpan<byte> GetBytes(string name) => ShardOf(name).GetBytes(name);

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (SafetensorsFile shard in _shards) shard.Dispose();
    }

    private static ShardedCheckpoint OpenSingle(string path)
    {
        SafetensorsFile file = SafetensorsFile.Open(path);
        var shardOf = file.Tensors.ToDictionary(t => t.Name, _ => file, StringComparer.Ordinal);
        return new ShardedCheckpoint(file.FileName, [file], shardOf);
    }

    private static ShardedCheckpoint OpenIndex(string indexPath)
    {
        string indexName = Path.GetFileName(indexPath);
        string folder = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        Dictionary<string, string> weightMap = ReadWeightMap(indexPath, indexName);

        var opened = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (string shardName in weightMap.Values.Distinct().Order(StringComparer.Ordinal))
            {
                string shardPath = Path.Combine(folder, shardName);
                if (!File.Exists(shardPath))
                {
                    string example = weightMap.First(kv => kv.Value == shardName).Key;
                    throw new ModelFormatException(indexName,
                        $"shard {ModelFormatException.Quote(shardName)} (holding {ModelFormatException.Quote(example)}) not found");
                }
                opened.Add(shardName, SafetensorsFile.Open(shardPath));
            }
            Dictionary<string, SafetensorsFile> shardOf = CrossCheck(weightMap, opened, indexName);
            return new ShardedCheckpoint(indexName, [.. opened.Values], shardOf);
        }
        catch
        {
            foreach (SafetensorsFile f in opened.Values) f.Dispose();
            throw;
        }
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath, string indexName)
    {
        using JsonDocument doc = JsonFields.ParseObjectFile(indexPath);
        if (JsonFields.Get(doc.RootElement, "weight_map") is not { } map)
            throw new ModelFormatException(indexName, "missing field 'weight_map'");
        if (map.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(indexName, $"weight_map is {JsonFields.Describe(map.ValueKind)}, expected an object of tensor name -> shard file");
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty p in map.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw new ModelFormatException(indexName, $"weight_map entry {ModelFormatException.Quote(p.Name)} is {JsonFields.Describe(p.Value.ValueKind)}, expected a shard file name");
            string shard = p.Value.GetString()!;
            if (!IsPlainFileName(shard))
                throw new ModelFormatException(indexName, $"weight_map entry {ModelFormatException.Quote(p.Name)} names shard {ModelFormatException.Quote(shard)}, which is not a plain file name in the model folder");
            if (!weightMap.TryAdd(p.Name, shard))
                throw new ModelFormatException(indexName, $"weight_map lists tensor {ModelFormatException.Quote(p.Name)} twice");
        }
        if (weightMap.Count == 0) throw new ModelFormatException(indexName, "weight_map is empty");
        return weightMap;
    }

    private static Dictionary<string, SafetensorsFile> CrossCheck(Dictionary<string, string> weightMap,
        Dictionary<string, SafetensorsFile> shards, string indexName)
    {
        var shardOf = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        foreach (SafetensorsFile shard in shards.Values)
        {
            foreach (TensorInfo t in shard.Tensors)
            {
                if (shardOf.TryGetValue(t.Name, out SafetensorsFile? other))
                    throw new ModelFormatException(indexName, $"tensor {ModelFormatException.Quote(t.Name)} is in two shards, {other.FileName} and {shard.FileName}");
                shardOf.Add(t.Name, shard);
            }
        }
        foreach ((string name, string shardName) in weightMap.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (!shardOf.TryGetValue(name, out SafetensorsFile? actual))
                throw new ModelFormatException(shardName, $"missing tensor {ModelFormatException.Quote(name)} ({indexName} puts it in this shard)");
            if (actual.FileName != shardName)
                throw new ModelFormatException(indexName, $"weight_map puts tensor {ModelFormatException.Quote(name)} in {shardName} but it is in {actual.FileName}");
        }
        foreach ((string name, SafetensorsFile shard) in shardOf.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (!weightMap.ContainsKey(name))
                throw new ModelFormatException(shard.FileName, name, $"is not listed in {indexName}", null);
        }
        return shardOf;
    }

    private static bool IsPlainFileName(string name) =>
        name.Length > 0 && name != "." && name != ".." && name.IndexOfAny(['/', '\\', ':', '\0']) < 0;
}
