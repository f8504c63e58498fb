// JsonFields.cs — typed reads of JSON files and fields for config.json, the shard index and
// adapter_config.json: each wrong type, range or missing field becomes a one-line
// ModelFormatException naming the file and the field.
using System.Text.Json;

namespace LoRAPrune.Core.IO;

/// <summary>Reads JSON files and typed fields with errors that name the file and the field.</summary>
internal static class JsonFields
{
    /// <summary>Largest JSON side file (config, index, adapter config) accepted.</summary>
    private const long MaxJsonFileBytes = 64L << 20;

    /// <summary>Reads and parses <paramref name="path"/>, whose root must be a JSON object.</summary>
    public static JsonDocument ParseObjectFile(string path)
    {
        string file = Path.GetFileName(path);
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new ModelFormatException(file, $"file not found ({path})");
            if (info.Length > MaxJsonFileBytes)
                throw new ModelFormatException(file, $"file is {info.Length} bytes, larger than the {MaxJsonFileBytes >> 20} MiB limit for a JSON file");
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException(file, $"cannot read ({e.Message})", e);
        }
        return ParseObject(bytes, file);
    }

    /// <summary>Parses <paramref name="utf8"/>, whose root must be a JSON object.</summary>
    public static JsonDocument ParseObject(ReadOnlyMemory<byte> utf8, string file)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new ModelFormatException(file, $"not valid JSON ({e.Message})", e);
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            JsonValueKind kind = doc.RootElement.ValueKind;
            doc.Dispose();
            throw new ModelFormatException(file, $"is {Describe(kind)}, expected a JSON object");
        }
        return doc;
    }

    /// <summary>The field's value, or null when the field is absent or JSON null.</summary>
    public static JsonElement? Get(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out JsonElement v) && v.ValueKind != JsonValueKind.Null ? v : null;

    /// <summary>An integer field in int range; null when absent or null.</summary>
    public static int? Int(JsonElement obj, string name, string file, string prefix = "")
    {
        if (Get(obj, name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i))
            throw new ModelFormatException(file, $"{prefix}{name} is {Show(v)}, expected an integer");
        return i;
    }

    /// <summary>A positive integer field that must be present.</summary>
    public static int RequiredPositiveInt(JsonElement obj, string name, string file, string prefix = "")
    {
        int value = Int(obj, name, file, prefix) ?? throw new ModelFormatException(file, $"missing field '{prefix}{name}'");
        return value > 0 ? value : throw new ModelFormatException(file, $"{prefix}{name}={value}, expected a positive integer");
    }

    /// <summary>A positive integer field with a default.</summary>
    public static int PositiveInt(JsonElement obj, string name, string file, int fallback, string prefix = "")
    {
        int value = Int(obj, name, file, prefix) ?? fallback;
        return value > 0 ? value : throw new ModelFormatException(file, $"{prefix}{name}={value}, expected a positive integer");
    }

    /// <summary>A finite number field; null when absent or null.</summary>
    public static double? Number(JsonElement obj, string name, string file, string prefix = "")
    {
        if (Get(obj, name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d))
            throw new ModelFormatException(file, $"{prefix}{name} is {Show(v)}, expected a finite number");
        return d;
    }

    /// <summary>A boolean field; null when absent or null.</summary>
    public static bool? Bool(JsonElement obj, string name, string file, string prefix = "")
    {
        if (Get(obj, name) is not { } v) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ModelFormatException(file, $"{prefix}{name} is {Show(v)}, expected true or false"),
        };
    }

    /// <summary>A string field; null when absent or null.</summary>
    public static string? String(JsonElement obj, string name, string file, string prefix = "")
    {
        if (Get(obj, name) is not { } v) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new ModelFormatException(file, $"{prefix}{name} is {Show(v)}, expected a string");
    }

    /// <summary>An array of integers (a single integer counts as a one-element array); null when absent or null.</summary>
    public static int[]? IntList(JsonElement obj, string name, string file, string prefix = "")
    {
        if (Get(obj, name) is not { } v) return null;
        if (v.ValueKind == JsonValueKind.Number) return [Int(obj, name, file, prefix)!.Value];
        if (v.ValueKind != JsonValueKind.Array)
            throw new ModelFormatException(file, $"{prefix}{name} is {Show(v)}, expected an array of integers");
        var result = new int[v.GetArrayLength()];
        int i = 0;
        foreach (JsonElement e in v.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out result[i]))
                throw new ModelFormatException(file, $"{prefix}{name}[{i}] is {Show(e)}, expected an integer");
            i++;
        }
        return result;
    }

    /// <summary>"an object", "a string", ... for messages.</summary>
    public static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };

    /// <summary>A value as messages show it: numbers and short strings verbatim, containers by kind.</summary>
    public static string Show(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Number => Cut(v.GetRawText()),
        JsonValueKind.String => ModelFormatException.Quote(v.GetString()!),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => Describe(v.ValueKind),
    };

    private static string Cut(string s) => s.Length > 40 ? s[..40] + "..." : s;
}
