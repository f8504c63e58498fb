// SafetensorsHeader.cs — parses and validates the JSON header of a safetensors file before any tensor
// byte is touched: object shape, known dtypes, non-negative shapes, offsets inside the data section,
// byte counts that match shape x dtype, no overlaps, no duplicate names, string-only __metadata__.
using System.Text.Json;

namespace LoRAPrune.Core.IO;

/// <summary>The validated content of a safetensors header.</summary>
internal sealed class SafetensorsHeader
{
    /// <summary>Largest header accepted, as the reference implementation limits it.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";

    private SafetensorsHeader(Dictionary<string, TensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Tensors by name.</summary>
    public Dictionary<string, TensorInfo> Tensors { get; }

    /// <summary>The optional "__metadata__" map (empty when absent).</summary>
    public Dictionary<string, string> Metadata { get; }

    /// <summary>Parses <paramref name="json"/> (the header bytes) for a file whose data section holds
    /// <paramref name="dataLength"/> bytes; <paramref name="file"/> names the file in errors.</summary>
    public static SafetensorsHeader Parse(ReadOnlyMemory<byte> json, long dataLength, string file)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new ModelFormatException(file, $"header is not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException(file, $"header is not a JSON object (it is {Describe(root.ValueKind)})");

            var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (JsonProperty entry in root.EnumerateObject())
            {
                if (entry.Name == MetadataKey)
                {
                    if (sawMetadata) throw new ModelFormatException(file, $"{MetadataKey} appears twice in the header");
                    sawMetadata = true;
                    ParseMetadata(entry.Value, metadata, file);
                    continue;
                }
                if (tensors.ContainsKey(entry.Name))
                    throw new ModelFormatException(file, entry.Name, "appears twice in the header", null);
                tensors.Add(entry.Name, ParseTensor(entry.Name, entry.Value, dataLength, file));
            }
            CheckNoOverlap(tensors.Values, file);
            return new SafetensorsHeader(tensors, metadata);
        }
    }

    private static void ParseMetadata(JsonElement value, Dictionary<string, string> metadata, string file)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(file, $"{MetadataKey} is {Describe(value.ValueKind)}, expected an object of strings");
        foreach (JsonProperty p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw new ModelFormatException(file, $"{MetadataKey} entry {ModelFormatException.Quote(p.Name)} is {Describe(p.Value.ValueKind)}, expected a string");
            if (!metadata.TryAdd(p.Name, p.Value.GetString()!))
                throw new ModelFormatException(file, $"{MetadataKey} entry {ModelFormatException.Quote(p.Name)} appears twice");
        }
    }

    private static TensorInfo ParseTensor(string name, JsonElement value, long dataLength, string file)
    {
        if (name.Length == 0) throw new ModelFormatException(file, "a tensor has an empty name");
        if (value.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(file, name, $"entry is {Describe(value.ValueKind)}, expected an object with dtype, shape and data_offsets", null);

        JsonElement? dtypeEl = null, shapeEl = null, offsetsEl = null;
        foreach (JsonProperty p in value.EnumerateObject())
        {
            switch (p.Name)
            {
                case "dtype": dtypeEl = dtypeEl is null ? p.Value : throw Twice(file, name, p.Name); break;
                case "shape": shapeEl = shapeEl is null ? p.Value : throw Twice(file, name, p.Name); break;
                case "data_offsets": offsetsEl = offsetsEl is null ? p.Value : throw Twice(file, name, p.Name); break;
                default: throw new ModelFormatException(file, name, $"unknown field {ModelFormatException.Quote(p.Name)}", null);
            }
        }
        if (dtypeEl is null) throw Missing(file, name, "dtype");
        if (shapeEl is null) throw Missing(file, name, "shape");
        if (offsetsEl is null) throw Missing(file, name, "data_offsets");

        if (dtypeEl.Value.ValueKind != JsonValueKind.String)
            throw new ModelFormatException(file, name, $"dtype is {Describe(dtypeEl.Value.ValueKind)}, expected a string", null);
        string dtypeName = dtypeEl.Value.GetString()!;
        if (!SafetensorsDTypes.TryParse(dtypeName, out SafetensorsDType dtype))
            throw new ModelFormatException(file, name,
                $"unknown dtype {ModelFormatException.Quote(dtypeName)} (known: {string.Join(", ", SafetensorsDTypes.KnownNames)})", null);

        long[] shape = ReadNonNegativeInts(shapeEl.Value, file, name, "shape");
        long[] offsets = ReadNonNegativeInts(offsetsEl.Value, file, name, "data_offsets");
        if (offsets.Length != 2)
            throw new ModelFormatException(file, name, $"data_offsets has {offsets.Length} numbers, expected [begin, end]", null);
        long begin = offsets[0], end = offsets[1];
        string range = $"data_offsets [{begin}, {end}]";
        if (begin > end)
            throw new ModelFormatException(file, name, $"{range} begin is after end", null);
        if (end > dataLength)
            throw new ModelFormatException(file, name, $"{range} end past the data section ({dataLength} bytes)", null);

        long needed = ByteCount(shape, dtype, file, name);
        if (end - begin != needed)
            throw new ModelFormatException(file, name,
                $"{range} hold {end - begin} bytes but shape {TensorInfo.FormatShape(shape)} of {dtype.HeaderName()} needs {needed}", null);
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static long ByteCount(long[] shape, SafetensorsDType dtype, string file, string name)
    {
        try
        {
            long n = dtype.SizeOf();
            foreach (long d in shape) n = checked(n * d);
            return n;
        }
        catch (OverflowException e)
        {
            throw new ModelFormatException(file, name, $"shape {TensorInfo.FormatShape(shape)} is too large", e);
        }
    }

    private static long[] ReadNonNegativeInts(JsonElement value, string file, string name, string field)
    {
        if (value.ValueKind != JsonValueKind.Array)
            throw new ModelFormatException(file, name, $"{field} is {Describe(value.ValueKind)}, expected an array of non-negative integers", null);
        var result = new long[value.GetArrayLength()];
        int i = 0;
        foreach (JsonElement e in value.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long v) || v < 0)
                throw new ModelFormatException(file, name, $"{field} element {i} is {JsonFields.Show(e)}, expected a non-negative integer", null);
            result[i++] = v;
        }
        return result;
    }

    private static void CheckNoOverlap(IEnumerable<TensorInfo> tensors, string file)
    {
        TensorInfo? previous = null;
        foreach (TensorInfo t in tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.DataBegin).ThenBy(t => t.Name, StringComparer.Ordinal))
        {
            if (previous is not null && t.DataBegin < previous.DataEnd)
                throw new ModelFormatException(file, t.Name,
                    $"data_offsets [{t.DataBegin}, {t.DataEnd}] overlap tensor {ModelFormatException.Quote(previous.Name)} [{previous.DataBegin}, {previous.DataEnd}]", null);
            if (previous is null || t.DataEnd > previous.DataEnd) previous = t;
        }
    }

    private static ModelFormatException Missing(string file, string name, string field) =>
        new(file, name, $"missing field '{field}'", null);

    private static ModelFormatException Twice(string file, string name, string field) =>
        new(file, name, $"field '{field}' appears twice", null);

    private static string Describe(JsonValueKind kind) => JsonFields.Describe(kind);
}
