// TensorInfo.cs — one validated safetensors header entry: name, dtype, shape and where its bytes lie in
// the data section. Instances are only made after every field has been checked, so users may trust them.
namespace LoRAPrune.Core.IO;

/// <summary>A tensor's header entry; offsets are relative to the start of the data section.</summary>
public sealed class TensorInfo
{
    internal TensorInfo(string name, SafetensorsDType dtype, long[] shape, long dataBegin, long dataEnd)
    {
        Name = name;
        DType = dtype;
        Shape = shape;
        DataBegin = dataBegin;
        DataEnd = dataEnd;
    }

    /// <summary>The tensor name, e.g. "model.layers.0.self_attn.q_proj.weight".</summary>
    public string Name { get; }

    /// <summary>Element type.</summary>
    public SafetensorsDType DType { get; }

    /// <summary>Dimensions, outermost first (row-major); empty for a scalar.</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>First byte of the tensor in the data section.</summary>
    public long DataBegin { get; }

    /// <summary>One past the last byte of the tensor in the data section.</summary>
    public long DataEnd { get; }

    /// <summary>Number of bytes, DataEnd - DataBegin (= ElementCount * element size).</summary>
    public long ByteLength => DataEnd - DataBegin;

    /// <summary>Number of elements, the product of the shape (1 for a scalar).</summary>
    public long ElementCount => ByteLength / DType.SizeOf();

    /// <summary>True when the shape equals <paramref name="expected"/> dimension by dimension.</summary>
    public bool HasShape(IReadOnlyList<long> expected) => Shape.SequenceEqual(expected);

    /// <summary>"[688, 256]" — the shape as error messages print it.</summary>
    public static string FormatShape(IReadOnlyList<long> shape) => "[" + string.Join(", ", shape) + "]";

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {DType.HeaderName()} {FormatShape(Shape)} @[{DataBegin}, {DataEnd})";
}
