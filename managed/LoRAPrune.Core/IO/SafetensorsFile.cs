// SafetensorsFile.cs — a read-only, memory-mapped safetensors file. Opening it validates the length
// field and the whole header (see SafetensorsHeader) before any tensor data is read; tensors are then
// served as byte spans, float32 arrays (F32/F16/BF16) or raw pointers for zero-copy device upload.
using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;

namespace LoRAPrune.Core.IO;

/// <summary>An open, validated safetensors file. Spans and pointers it hands out live until Dispose.</summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _data;                 // first byte of the data section
    private readonly Dictionary<string, TensorInfo> _tensors;
    private bool _disposed;

    private SafetensorsFile(string fullPath, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* data,
        SafetensorsHeader header, long headerBytes, long dataBytes)
    {
        FullPath = fullPath;
        FileName = Path.GetFileName(fullPath);
        _map = map;
        _view = view;
        _data = data;
        _tensors = header.Tensors;
        Metadata = header.Metadata;
        HeaderBytes = headerBytes;
        DataBytes = dataBytes;
        Tensors = [.. _tensors.Values.OrderBy(t => t.Name, StringComparer.Ordinal)];
    }

    /// <summary>Absolute path of the file.</summary>
    public string FullPath { get; }

    /// <summary>The file name, as error messages name the file.</summary>
    public string FileName { get; }

    /// <summary>Length of the JSON header (the data section starts at 8 + HeaderBytes).</summary>
    public long HeaderBytes { get; }

    /// <summary>Length of the data section.</summary>
    public long DataBytes { get; }

    /// <summary>Every tensor, sorted by name.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>The header's "__metadata__" map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Maps and validates <paramref name="path"/>; throws <see cref="ModelFormatException"/> on any problem.</summary>
    public static SafetensorsFile Open(string path)
    {
        string fullPath = Path.GetFullPath(path);
        string file = Path.GetFileName(fullPath);
        FileStream stream;
        try
        {
            stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        }
        catch (FileNotFoundException e)
        {
            throw new ModelFormatException(file, $"file not found ({fullPath})", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException(file, $"cannot open ({e.Message})", e);
        }

        long fileBytes = stream.Length;
        if (fileBytes < 8)
        {
            stream.Dispose();
            throw new ModelFormatException(file, $"truncated: file is {fileBytes} bytes, shorter than the 8-byte header length field");
        }

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        byte* basePtr = null;
        try
        {
            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
            byte* start = basePtr + view.PointerOffset;

            ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(start, 8));
            if (declared > (ulong)(fileBytes - 8))
                throw new ModelFormatException(file, $"truncated or corrupt: header length {declared} is past the end of the file ({fileBytes} bytes)");
            if (declared > SafetensorsHeader.MaxHeaderBytes)
                throw new ModelFormatException(file, $"header length {declared} is larger than the {SafetensorsHeader.MaxHeaderBytes} byte limit");
            long headerBytes = (long)declared;
            long dataBytes = fileBytes - 8 - headerBytes;

            byte[] json = new ReadOnlySpan<byte>(start + 8, (int)headerBytes).ToArray();
            SafetensorsHeader header = SafetensorsHeader.Parse(json, dataBytes, file);
            return new SafetensorsFile(fullPath, map, view, start + 8 + headerBytes, header, headerBytes, dataBytes);
        }
        catch (Exception e)
        {
            if (basePtr != null) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            if (map is not null) map.Dispose();
            else stream.Dispose();
            if (e is ModelFormatException) throw;
            if (e is IOException or UnauthorizedAccessException)
                throw new ModelFormatException(file, $"cannot map the file ({e.Message})", e);
            throw;
        }
    }

    /// <summary>True when the file holds a tensor named <paramref name="name"/>.</summary>
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>Looks up a tensor's header entry.</summary>
    public bool TryGetTensor(string name, out TensorInfo info) => _tensors.TryGetValue(name, out info!);

    /// <summary>A tensor's header entry; a missing tensor is a <see cref="ModelFormatException"/>.</summary>
    public TensorInfo GetTensor(string name) =>
        _tensors.TryGetValue(name, out TensorInfo? info) ? info : throw new ModelFormatException(FileName, $"missing tensor {ModelFormatException.Quote(name)}");

    /// <summary>The tensor's stored bytes (little-endian elements of its dtype), valid until Dispose.</summary>
    public ReadOnlySpan<byte> GetBytes(string name) => GetBytes(GetTensor(name));

    /// <summary>The stored bytes of a tensor of this file.</summary>
    public ReadOnlySpan<byte> GetBytes(TensorInfo tensor)
    {
        CheckOwned(tensor);
        if (tensor.ByteLength > int.MaxValue)
            throw new ModelFormatException(FileName, tensor.Name, $"is {tensor.ByteLength} bytes, too large for a span; use GetDataPointer", null);
        return new ReadOnlySpan<byte>(_data + tensor.DataBegin, (int)tensor.ByteLength);
    }

    /// <summary>Pointer to the tensor's first byte in the mapping (read-only), valid until Dispose.</summary>
    public byte* GetDataPointer(TensorInfo tensor)
    {
        CheckOwned(tensor);
        return _data + tensor.DataBegin;
    }

    /// <summary>The tensor as float32 values (F32, F16 or BF16 storage), row-major.</summary>
    public float[] ReadFloats(string name)
    {
        TensorInfo tensor = GetTensor(name);
        if (tensor.ElementCount > Array.MaxLength)
            throw new ModelFormatException(FileName, name, $"has {tensor.ElementCount} elements, too many for one float array", null);
        var values = new float[tensor.ElementCount];
        ReadFloats(name, values);
        return values;
    }

    /// <summary>Decodes the tensor into <paramref name="destination"/>, whose length must equal its element count.</summary>
    public void ReadFloats(string name, Span<float> destination)
    {
        TensorInfo tensor = GetTensor(name);
        if (!tensor.DType.IsWeightFloat())
            throw new ModelFormatException(FileName, name, $"dtype {tensor.DType.HeaderName()} cannot be read as floats (expected F32, F16 or BF16)", null);
        if (destination.Length != tensor.ElementCount)
            throw new ArgumentException($"{FileName}: tensor '{name}' has {tensor.ElementCount} elements, destination holds {destination.Length}", nameof(destination));
        const int ChunkElements = 1 << 24;
        int size = tensor.DType.SizeOf();
        byte* source = GetDataPointer(tensor);
        for (int done = 0; done < destination.Length; done += ChunkElements)
        {
            int n = Math.Min(ChunkElements, destination.Length - done);
            TensorConversion.ToFloats(new ReadOnlySpan<byte>(source + (long)done * size, n * size), tensor.DType, destination.Slice(done, n));
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }

    private void CheckOwned(TensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_tensors.TryGetValue(tensor.Name, out TensorInfo? own) || !ReferenceEquals(own, tensor))
            throw new ArgumentException($"tensor '{tensor.Name}' does not belong to {FileName}", nameof(tensor));
    }
}
