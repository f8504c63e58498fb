// GgufLayout.cs — a minimal GGUF v3 parser for the writer's structural tests: header, typed metadata and tensor
// infos, so a test can check value types, dimension order, offsets and padding byte by byte. Whether llama.cpp
// runs the file the way loraprune does is checked by llama.cpp itself (LlamaCpp/GgufLlamaCppTests).
using System.Text;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Tests.IO;

/// <summary>A metadata value: its GGUF type, the element type for arrays, and the decoded value (arrays as object[]).</summary>
internal sealed record GgufValue(GgufValueType Type, GgufValueType? ElementType, object Value)
{
    public T[] Array<T>() => [.. ((object[])Value).Cast<T>()];
}

/// <summary>A tensor info: name, dimensions as stored (ggml order, innermost first), type and data offset.</summary>
internal sealed record GgufTensorInfo(string Name, long[] Dimensions, GgmlType Type, long Offset)
{
    /// <summary>"blk.0.attn_q.weight [64, 16] F16 @4096", what tests compare (the record's own equality compares the array by reference).</summary>
    public override string ToString() => $"{Name} [{string.Join(", ", Dimensions)}] {Type} @{Offset}";
}

internal sealed class GgufLayout
{
    private GgufLayout(uint version, Dictionary<string, GgufValue> metadata, List<string> keys, List<GgufTensorInfo> tensors, long dataStart)
    {
        Version = version;
        Metadata = metadata;
        Keys = keys;
        Tensors = tensors;
        DataStart = dataStart;
    }

    public uint Version { get; }
    public IReadOnlyDictionary<string, GgufValue> Metadata { get; }
    public IReadOnlyList<string> Keys { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>File offset of the data section (first byte after the tensor infos' padding).</summary>
    public long DataStart { get; }

    public GgufTensorInfo Tensor(string name) => Tensors.Single(t => t.Name == name);

    public static GgufLayout Parse(byte[] file)
    {
        using var r = new BinaryReader(new MemoryStream(file), Encoding.UTF8);
        Assert.Equal("GGUF"u8.ToArray(), r.ReadBytes(4));
        uint version = r.ReadUInt32();
        long tensorCount = checked((long)r.ReadUInt64()), keyCount = checked((long)r.ReadUInt64());
        var metadata = new Dictionary<string, GgufValue>(StringComparer.Ordinal);
        var keys = new List<string>();
        for (long i = 0; i < keyCount; i++)
        {
            string key = ReadString(r);
            var type = (GgufValueType)r.ReadUInt32();
            GgufValue value = type == GgufValueType.Array ? ReadArray(r) : new GgufValue(type, null, ReadScalar(r, type));
            metadata.Add(key, value);
            keys.Add(key);
        }
        var tensors = new List<GgufTensorInfo>();
        for (long i = 0; i < tensorCount; i++)
        {
            string name = ReadString(r);
            long[] dims = new long[r.ReadUInt32()];
            for (int d = 0; d < dims.Length; d++) dims[d] = checked((long)r.ReadUInt64());
            tensors.Add(new GgufTensorInfo(name, dims, (GgmlType)r.ReadUInt32(), checked((long)r.ReadUInt64())));
        }
        long dataStart = (r.BaseStream.Position + GgufWriter.Alignment - 1) / GgufWriter.Alignment * GgufWriter.Alignment;
        return new GgufLayout(version, metadata, keys, tensors, dataStart);
    }

    private static GgufValue ReadArray(BinaryReader r)
    {
        var elementType = (GgufValueType)r.ReadUInt32();
        var values = new object[checked((int)r.ReadUInt64())];
        for (int i = 0; i < values.Length; i++) values[i] = ReadScalar(r, elementType);
        return new GgufValue(GgufValueType.Array, elementType, values);
    }

    private static object ReadScalar(BinaryReader r, GgufValueType type) => type switch
    {
        GgufValueType.UInt32 => r.ReadUInt32(),
        GgufValueType.Int32 => r.ReadInt32(),
        GgufValueType.Float32 => r.ReadSingle(),
        GgufValueType.Bool => r.ReadByte() switch { 0 => false, 1 => true, var b => throw new InvalidDataException($"bool byte {b}") },
        GgufValueType.String => ReadString(r),
        GgufValueType.UInt64 => r.ReadUInt64(),
        _ => throw new InvalidDataException($"value type {type} is not one the writer produces"),
    };

    private static string ReadString(BinaryReader r) => Encoding.UTF8.GetString(r.ReadBytes(checked((int)r.ReadUInt64())));
}
