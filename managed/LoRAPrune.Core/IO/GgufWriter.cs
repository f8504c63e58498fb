// GgufWriter.cs — writes GGUF version 3, the single-file model format of llama.cpp: header, typed
// metadata, tensor infos (dimensions in ggml order, innermost first), then every tensor's data at a
// 32-byte aligned offset. Tensor data is produced by one callback per tensor, so a model streams through.
using System.Text;

namespace LoRAPrune.Core.IO;

/// <summary>GGUF metadata value types (gguf.h <c>gguf_type</c>).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>The ggml tensor types this writer stores (ggml.h <c>ggml_type</c>): unquantised floats only.</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    BF16 = 30,
}

/// <summary>
/// Builds a GGUF v3 file: add metadata and tensors, then <see cref="WriteTo"/>. All numbers are little-endian;
/// strings are a uint64 byte count followed by UTF-8 bytes. <c>general.alignment</c> is always written (32), and
/// each tensor starts at a multiple of it from the start of the data section, in the order the tensors were added,
/// with zero padding between them, exactly as ggml's reader recomputes the offsets.
/// </summary>
public sealed class GgufWriter
{
    /// <summary>GGUF version written.</summary>
    public const uint Version = 3;

    /// <summary>Byte alignment of the data section and of every tensor in it.</summary>
    public const int Alignment = 32;

    /// <summary>ggml's GGML_MAX_NAME: a tensor name must be shorter than this many bytes.</summary>
    public const int MaxTensorNameBytes = 64;

    /// <summary>ggml's GGML_MAX_DIMS.</summary>
    public const int MaxDimensions = 4;

    private static ReadOnlySpan<byte> Magic => "GGUF"u8;

    private readonly List<(string Key, GgufValueType Type, Action<BinaryWriter> Write)> _metadata = [];
    private readonly List<GgufTensor> _tensors = [];

    /// <summary>A writer holding only <c>general.alignment</c>.</summary>
    public GgufWriter() => AddUInt32("general.alignment", Alignment);

    /// <summary>Tensors in the order they will be written.</summary>
    public IReadOnlyList<GgufTensor> Tensors => _tensors;

    public void AddUInt32(string key, uint value) => Add(key, GgufValueType.UInt32, w => w.Write(value));

    public void AddFloat32(string key, float value) => Add(key, GgufValueType.Float32, w => w.Write(value));

    public void AddBool(string key, bool value) => Add(key, GgufValueType.Bool, w => w.Write((byte)(value ? 1 : 0)));

    public void AddString(string key, string value) => Add(key, GgufValueType.String, w => WriteString(w, value));

    public void AddInt32Array(string key, IReadOnlyList<int> values) =>
        AddArray(key, GgufValueType.Int32, values.Count, w => { foreach (int v in values) w.Write(v); });

    public void AddFloat32Array(string key, IReadOnlyList<float> values) =>
        AddArray(key, GgufValueType.Float32, values.Count, w => { foreach (float v in values) w.Write(v); });

    public void AddStringArray(string key, IReadOnlyList<string> values) =>
        AddArray(key, GgufValueType.String, values.Count, w => { foreach (string v in values) WriteString(w, v); });

    /// <summary>
    /// Adds a tensor of <paramref name="shape"/> given row-major, outermost first (as safetensors and PyTorch
    /// write it); the file stores the dimensions reversed, innermost first, which is ggml's ne[] order.
    /// <paramref name="writeData"/> must write exactly the tensor's bytes (row-major, little-endian).
    /// </summary>
    public void AddTensor(string name, GgmlType type, IReadOnlyList<long> shape, Action<Stream> writeData)
    {
        int nameBytes = Encoding.UTF8.GetByteCount(name);
        if (nameBytes == 0 || nameBytes >= MaxTensorNameBytes)
            throw new ArgumentException($"tensor name '{name}' has {nameBytes} bytes; GGUF readers (ggml) take 1 to {MaxTensorNameBytes - 1}", nameof(name));
        if (_tensors.Any(t => t.Name == name)) throw new ArgumentException($"tensor '{name}' is added twice", nameof(name));
        if (shape.Count is 0 or > MaxDimensions)
            throw new ArgumentException($"tensor '{name}' has {shape.Count} dimensions; GGUF (ggml) takes 1 to {MaxDimensions}", nameof(shape));
        if (shape.Any(d => d <= 0)) throw new ArgumentException($"tensor '{name}' has shape {TensorInfo.FormatShape(shape)}; every dimension must be positive", nameof(shape));
        _tensors.Add(new GgufTensor(name, type, [.. shape], writeData));
    }

    /// <summary>Writes the whole file to <paramref name="stream"/> (which must be seekable, e.g. a FileStream).</summary>
    public void WriteTo(Stream stream)
    {
        if (!stream.CanSeek) throw new ArgumentException("the GGUF writer needs a seekable stream to check tensor sizes", nameof(stream));
        long start = stream.Position;
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            w.Write((ulong)_tensors.Count);
            w.Write((ulong)_metadata.Count);
            foreach ((string key, GgufValueType type, Action<BinaryWriter> write) in _metadata)
            {
                WriteString(w, key);
                w.Write((uint)type);
                write(w);
            }
            long offset = 0;
            foreach (GgufTensor t in _tensors)
            {
                WriteString(w, t.Name);
                w.Write((uint)t.Shape.Length);
                for (int d = t.Shape.Length - 1; d >= 0; d--) w.Write((ulong)t.Shape[d]);
                w.Write((uint)t.Type);
                w.Write((ulong)offset);
                offset += Padded(t.ByteLength);
            }
            w.Flush();
        }
        Pad(stream, start);
        foreach (GgufTensor t in _tensors)
        {
            long before = stream.Position;
            t.WriteData(stream);
            long written = stream.Position - before;
            if (written != t.ByteLength)
                throw new InvalidOperationException($"tensor '{t.Name}' wrote {written} bytes, its shape and type need {t.ByteLength}");
            Pad(stream, start);
        }
    }

    /// <summary>Bytes of one element of <paramref name="type"/>.</summary>
    public static int ElementSize(GgmlType type) => type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 or GgmlType.BF16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    private void Add(string key, GgufValueType type, Action<BinaryWriter> write)
    {
        if (string.IsNullOrEmpty(key)) throw new ArgumentException("a metadata key must not be empty", nameof(key));
        if (_metadata.Any(m => m.Key == key)) throw new ArgumentException($"metadata key '{key}' is added twice", nameof(key));
        _metadata.Add((key, type, write));
    }

    private void AddArray(string key, GgufValueType elementType, int count, Action<BinaryWriter> writeElements)
    {
        Add(key, GgufValueType.Array, w =>
        {
            w.Write((uint)elementType);
            w.Write((ulong)count);
            writeElements(w);
        });
    }

    private static void WriteString(BinaryWriter w, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static long Padded(long bytes) => (bytes + Alignment - 1) / Alignment * Alignment;

    private static void Pad(Stream stream, long start)
    {
        long used = stream.Position - start;
        Span<byte> zeros = stackalloc byte[Alignment];
        zeros.Clear();
        stream.Write(zeros[..(int)(Padded(used) - used)]);
    }
}

/// <summary>A tensor waiting to be written: name, type, row-major shape and the callback that writes its bytes.</summary>
public sealed record GgufTensor(string Name, GgmlType Type, long[] Shape, Action<Stream> WriteData)
{
    /// <summary>Bytes of the tensor's data (without padding).</summary>
    public long ByteLength => Shape.Aggregate(1L, (a, b) => checked(a * b)) * GgufWriter.ElementSize(Type);
}
