// Tensor.cs — a typed, shaped view of a DeviceBuffer region: the managed side of lp_tensor.
// Either owns its buffer (Context.NewTensor/Upload) or is a view that never frees it; views are
// bounds-checked on construction, so a descriptor handed to native code always lies in its buffer.
namespace LoRAPrune.Native;

public sealed unsafe class Tensor : IDisposable
{
    private readonly long[] _shape;
    private readonly long[] _strides;
    private readonly bool _ownsBuffer;

    /// <summary>A contiguous row-major view of buffer at offsetBytes; throws if it does not fit.</summary>
    public Tensor(DeviceBuffer buffer, ulong offsetBytes, LpDType dtype, params long[] shape)
        : this(buffer, offsetBytes, dtype, shape, ContiguousStrides(shape), ownsBuffer: false)
    {
    }

    internal Tensor(DeviceBuffer buffer, ulong offsetBytes, LpDType dtype, long[] shape, long[] strides, bool ownsBuffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(strides);
        ElementCount = CheckShape(shape);
        if (strides.Length != shape.Length)
            throw new ArgumentException($"strides has {strides.Length} entries but shape has {shape.Length}", nameof(strides));
        for (int i = 0; i < strides.Length; i++)
        {
            if (strides[i] < 0) throw new ArgumentOutOfRangeException(nameof(strides), $"strides[{i}]={strides[i]} must not be negative");
        }
        int size = dtype.Size();
        if (offsetBytes % (ulong)size != 0)
            throw new ArgumentException($"offset {offsetBytes} is not a multiple of the {dtype} element size {size}", nameof(offsetBytes));
        ulong span = SpanBytes(shape, strides, size);
        if (offsetBytes > buffer.Bytes || span > buffer.Bytes - offsetBytes)
            throw new ArgumentOutOfRangeException(nameof(shape),
                $"{ShapeText(shape)} {dtype} at offset {offsetBytes} spans {span} bytes but the buffer has {buffer.Bytes}");
        Buffer = buffer;
        OffsetBytes = offsetBytes;
        DType = dtype;
        _shape = (long[])shape.Clone();
        _strides = (long[])strides.Clone();
        ByteCount = span;
        _ownsBuffer = ownsBuffer;
    }

    /// <summary>A view with explicit element strides (the last must be 1 for lp_op_gemm; a batch stride may be 0).</summary>
    public static Tensor Strided(DeviceBuffer buffer, ulong offsetBytes, LpDType dtype, long[] shape, long[] strides) =>
        new(buffer, offsetBytes, dtype, shape, strides, ownsBuffer: false);

    public DeviceBuffer Buffer { get; }

    public ulong OffsetBytes { get; }

    public LpDType DType { get; }

    /// <summary>Sizes, outermost first (a copy).</summary>
    public long[] Shape => (long[])_shape.Clone();

    /// <summary>Strides in elements, outermost first (a copy).</summary>
    public long[] Strides => (long[])_strides.Clone();

    public long ElementCount { get; }

    /// <summary>Bytes spanned from the first to one past the last element.</summary>
    public ulong ByteCount { get; }

    /// <summary>True when the strides are the row-major contiguous ones (size-1 dims ignored, as lp.h does).</summary>
    public bool IsContiguous
    {
        get
        {
            long expect = 1;
            for (int i = _shape.Length - 1; i >= 0; i--)
            {
                if (_shape[i] != 1 && _strides[i] != expect) return false;
                expect *= _shape[i];
            }
            return true;
        }
    }

    /// <summary>The lp_tensor for native calls; throws ObjectDisposedException if the buffer is gone.</summary>
    public LpTensor Descriptor
    {
        get
        {
            LpTensor t = default;
            t.Data = (void*)(Buffer.DevicePointer + (nint)OffsetBytes);
            t.DType = (int)DType;
            t.NDim = _shape.Length;
            for (int i = 0; i < _shape.Length; i++)
            {
                t.Ne[i] = _shape[i];
                t.St[i] = _strides[i];
            }
            return t;
        }
    }

    /// <summary>Writes data (row-major) into an f32, bf16 or f16 tensor; bf16/f16 are rounded on the host (nearest even).</summary>
    public void Upload(ReadOnlySpan<float> data)
    {
        CheckWritable(data.Length, "float");
        switch (DType)
        {
            case LpDType.F32:
                Buffer.Upload(data, OffsetBytes);
                break;
            case LpDType.BF16:
            case LpDType.F16:
                var packed = new ushort[data.Length];
                bool bf16 = DType == LpDType.BF16;
                for (int i = 0; i < data.Length; i++) packed[i] = bf16 ? Half16.FloatToBf16(data[i]) : Half16.FloatToF16(data[i]);
                Buffer.Upload<ushort>(packed, OffsetBytes);
                break;
            default:
                throw new InvalidOperationException($"Upload(float) needs an f32, bf16 or f16 tensor, not {DType}");
        }
    }

    /// <summary>Writes data (row-major) into an i32 tensor.</summary>
    public void Upload(ReadOnlySpan<int> data)
    {
        if (DType != LpDType.I32) throw new InvalidOperationException($"Upload(int) needs an i32 tensor, not {DType}");
        CheckWritable(data.Length, "int");
        Buffer.Upload(data, OffsetBytes);
    }

    /// <summary>The elements in row-major order as float (f32, bf16 and f16 tensors; strided views too).</summary>
    public float[] ToFloatArray()
    {
        switch (DType)
        {
            case LpDType.F32:
                return Gather<float>();
            case LpDType.BF16:
                return Array.ConvertAll(Gather<ushort>(), Half16.Bf16ToFloat);
            case LpDType.F16:
                return Array.ConvertAll(Gather<ushort>(), Half16.F16ToFloat);
            default:
                throw new InvalidOperationException($"ToFloatArray needs an f32, bf16 or f16 tensor, not {DType}; use ToIntArray");
        }
    }

    /// <summary>The elements of an i32 tensor in row-major order.</summary>
    public int[] ToIntArray()
    {
        if (DType != LpDType.I32) throw new InvalidOperationException($"ToIntArray needs an i32 tensor, not {DType}");
        return Gather<int>();
    }

    /// <summary>Frees the buffer if this tensor owns it; a view frees nothing.</summary>
    public void Dispose()
    {
        if (_ownsBuffer) Buffer.Dispose();
    }

    public override string ToString() => $"{ShapeText(_shape)} {DType} at +{OffsetBytes} of a {Buffer.Bytes}-byte buffer on {Buffer.Context.Backend.Name}";

    internal static long CheckShape(long[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length < 1 || shape.Length > LpTensor.MaxDims)
            throw new ArgumentException($"a tensor has 1..{LpTensor.MaxDims} dims, not {shape.Length}", nameof(shape));
        long count = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] <= 0) throw new ArgumentOutOfRangeException(nameof(shape), $"shape[{i}]={shape[i]} must be positive");
            try
            {
                count = checked(count * shape[i]);
            }
            catch (OverflowException)
            {
                throw new ArgumentOutOfRangeException(nameof(shape), $"{ShapeText(shape)} has more than {long.MaxValue} elements");
            }
        }
        return count;
    }

    internal static long[] ContiguousStrides(long[] shape)
    {
        var strides = new long[shape?.Length ?? 0];
        long stride = 1;
        for (int i = strides.Length - 1; i >= 0; i--)
        {
            strides[i] = stride;
            stride = unchecked(stride * Math.Max(shape![i], 1));
        }
        return strides;
    }

    private static ulong SpanBytes(long[] shape, long[] strides, int size)
    {
        try
        {
            ulong last = 0;
            for (int i = 0; i < shape.Length; i++) last = checked(last + (ulong)(shape[i] - 1) * (ulong)strides[i]);
            return checked((last + 1) * (ulong)size);
        }
        catch (OverflowException)
        {
            throw new ArgumentOutOfRangeException(nameof(shape), $"{ShapeText(shape)} with strides ({string.Join(",", strides)}) spans more than 2^64 bytes");
        }
    }

    private static string ShapeText(long[] shape) => "(" + string.Join(",", shape) + ")";

    private void CheckWritable(int length, string what)
    {
        if (length != ElementCount)
            throw new ArgumentException($"{length} {what} values for a tensor of {ShapeText(_shape)} = {ElementCount} elements");
        if (!IsContiguous)
            throw new InvalidOperationException($"Upload needs a contiguous tensor; {ShapeText(_shape)} has strides ({string.Join(",", _strides)})");
    }

    // Downloads the spanned bytes and picks the elements in row-major order.
    private T[] Gather<T>() where T : unmanaged
    {
        if (IsContiguous)
        {
            var dense = new T[ElementCount];
            Buffer.Download<T>(dense, OffsetBytes);
            return dense;
        }
        var span = new T[ByteCount / (ulong)sizeof(T)];
        Buffer.Download<T>(span, OffsetBytes);
        var result = new T[ElementCount];
        var index = new long[_shape.Length];
        for (long n = 0; n < ElementCount; n++)
        {
            long offset = 0;
            for (int d = 0; d < index.Length; d++) offset += index[d] * _strides[d];
            result[n] = span[offset];
            for (int d = index.Length - 1; d >= 0; d--)
            {
                if (++index[d] < _shape[d]) break;
                index[d] = 0;
            }
        }
        return result;
    }
}
