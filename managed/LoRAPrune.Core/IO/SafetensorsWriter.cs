// SafetensorsWriter.cs — builds a safetensors file from named tensors and writes it atomically.
// Output is deterministic: tensors are laid out by element size (largest first, so every tensor stays
// aligned to its element size) then by name, the header is padded with spaces so the data section
// starts at an 8-byte multiple, and the same tensors always give the same bytes.
using System.Buffers;
using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace LoRAPrune.Core.IO;

/// <summary>Collects tensors and metadata, then writes them as one safetensors file.</summary>
public sealed class SafetensorsWriter
{
    private readonly Dictionary<string, PendingTensor> _tensors = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, string> _metadata = new(StringComparer.Ordinal);

    /// <summary>One tensor waiting to be written; <see cref="WriteData"/> must write exactly ByteLength bytes.</summary>
    internal sealed record PendingTensor(string Name, SafetensorsDType DType, long[] Shape, long ByteLength, Action<Stream> WriteData);

    /// <summary>Number of tensors added.</summary>
    public int Count => _tensors.Count;

    /// <summary>Total bytes of tensor data.</summary>
    public long DataBytes => _tensors.Values.Sum(t => t.ByteLength);

    /// <summary>The metadata written under "__metadata__".</summary>
    public IReadOnlyDictionary<string, string> Metadata => _metadata;

    /// <summary>Sets a "__metadata__" entry (e.g. "format" = "pt", which Hugging Face loaders expect).</summary>
    public SafetensorsWriter AddMetadata(string key, string value)
    {
        _metadata[key] = value;
        return this;
    }

    /// <summary>Adds a tensor from its stored bytes (little-endian elements of <paramref name="dtype"/>).</summary>
    public SafetensorsWriter Add(string name, SafetensorsDType dtype, IReadOnlyList<long> shape, ReadOnlyMemory<byte> data)
    {
        long bytes = CheckedByteLength(name, dtype, shape);
        if (data.Length != bytes)
            throw new ArgumentException($"tensor '{name}': {data.Length} bytes given but shape {TensorInfo.FormatShape(shape)} of {dtype.HeaderName()} needs {bytes}", nameof(data));
        return Add(name, dtype, shape, stream => stream.Write(data.Span));
    }

    /// <summary>Adds float32 values stored as <paramref name="dtype"/> (F32, F16 or BF16, rounded to nearest even).</summary>
    public SafetensorsWriter AddFloats(string name, SafetensorsDType dtype, IReadOnlyList<long> shape, ReadOnlyMemory<float> values)
    {
        if (!dtype.IsWeightFloat())
            throw new ArgumentException($"tensor '{name}': floats can be stored as F32, F16 or BF16, not {dtype.HeaderName()}", nameof(dtype));
        long bytes = CheckedByteLength(name, dtype, shape);
        if ((long)values.Length * dtype.SizeOf() != bytes)
            throw new ArgumentException($"tensor '{name}': {values.Length} values given but shape {TensorInfo.FormatShape(shape)} holds {bytes / dtype.SizeOf()}", nameof(values));
        return Add(name, dtype, shape, stream => WriteFloats(stream, values.Span, dtype));
    }

    /// <summary>Adds a tensor whose bytes <paramref name="writeData"/> streams at save time; it must write
    /// exactly shape x element-size bytes. If it throws, the save fails and leaves nothing behind.</summary>
    public SafetensorsWriter Add(string name, SafetensorsDType dtype, IReadOnlyList<long> shape, Action<Stream> writeData)
    {
        ArgumentNullException.ThrowIfNull(writeData);
        long bytes = CheckedByteLength(name, dtype, shape);
        if (!_tensors.TryAdd(name, new PendingTensor(name, dtype, [.. shape], bytes, writeData)))
            throw new ArgumentException($"tensor '{name}' was already added", nameof(name));
        return this;
    }

    /// <summary>The header entries the file will have, in data order (offsets relative to the data section).</summary>
    public IReadOnlyList<TensorInfo> PlanLayout()
    {
        var layout = new List<TensorInfo>(_tensors.Count);
        long offset = 0;
        foreach (PendingTensor t in Ordered())
        {
            layout.Add(new TensorInfo(t.Name, t.DType, t.Shape, offset, offset + t.ByteLength));
            offset += t.ByteLength;
        }
        return layout;
    }

    /// <summary>Writes the file atomically: on any failure the destination is left as it was.</summary>
    public void Save(string path)
    {
        using StagedFile staged = Stage(path);
        staged.Commit();
    }

    /// <summary>Writes the content to a temporary file beside <paramref name="path"/>; the caller commits it.</summary>
    internal StagedFile Stage(string path)
    {
        IReadOnlyList<TensorInfo> layout = PlanLayout();
        byte[] header = BuildHeader(layout);
        return StagedFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (TensorInfo info in layout)
            {
                PendingTensor t = _tensors[info.Name];
                long before = stream.Position;
                t.WriteData(stream);
                long written = stream.Position - before;
                if (written != t.ByteLength)
                    throw new InvalidOperationException($"{Path.GetFileName(path)}: tensor '{t.Name}': its data source wrote {written} bytes, expected {t.ByteLength}");
            }
        });
    }

    /// <summary>The tensors in data order: element size descending, then name (ordinal).</summary>
    internal IEnumerable<PendingTensor> Ordered() =>
        _tensors.Values.OrderByDescending(t => t.DType.SizeOf()).ThenBy(t => t.Name, StringComparer.Ordinal);

    /// <summary>A writer holding the given subset of this writer's tensors and all of its metadata.</summary>
    internal SafetensorsWriter Subset(IEnumerable<PendingTensor> tensors)
    {
        var part = new SafetensorsWriter();
        foreach (KeyValuePair<string, string> m in _metadata) part.AddMetadata(m.Key, m.Value);
        foreach (PendingTensor t in tensors) part.Add(t.Name, t.DType, t.Shape, t.WriteData);
        return part;
    }

    private byte[] BuildHeader(IReadOnlyList<TensorInfo> layout)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (_metadata.Count > 0)
            {
                json.WriteStartObject("__metadata__");
                foreach (KeyValuePair<string, string> m in _metadata) json.WriteString(m.Key, m.Value);
                json.WriteEndObject();
            }
            foreach (TensorInfo t in layout)
            {
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType.HeaderName());
                json.WriteStartArray("shape");
                foreach (long d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(t.DataBegin);
                json.WriteNumberValue(t.DataEnd);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        byte[] header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    private static long CheckedByteLength(string name, SafetensorsDType dtype, IReadOnlyList<long> shape)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name.Length == 0 || name == "__metadata__")
            throw new ArgumentException($"'{name}' cannot be a tensor name", nameof(name));
        long bytes = dtype.SizeOf();
        foreach (long d in shape)
        {
            if (d < 0) throw new ArgumentException($"tensor '{name}': shape {TensorInfo.FormatShape(shape)} has a negative dimension", nameof(shape));
            bytes = checked(bytes * d);
        }
        return bytes;
    }

    /// <summary>Writes float32 values stored as <paramref name="dtype"/> (F32, F16 or BF16, rounded to nearest even) in chunks.</summary>
    internal static void WriteFloats(Stream stream, ReadOnlySpan<float> values, SafetensorsDType dtype)
    {
        const int ChunkElements = 1 << 16;
        byte[] chunk = ArrayPool<byte>.Shared.Rent(ChunkElements * dtype.SizeOf());
        try
        {
            for (int done = 0; done < values.Length; done += ChunkElements)
            {
                int n = Math.Min(ChunkElements, values.Length - done);
                Span<byte> bytes = chunk.AsSpan(0, n * dtype.SizeOf());
                TensorConversion.FromFloats(values.Slice(done, n), dtype, bytes);
                stream.Write(bytes);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }
}
