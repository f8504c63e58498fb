// DeviceBuffer.cs — one lp_buffer_t: a single device allocation (host memory on the cpu backend)
// owned by a SafeHandle. Copies in and out are bounds-checked by the library; the buffer's context
// stays alive as long as the buffer does.
namespace LoRAPrune.Native;

public sealed unsafe class DeviceBuffer : IDisposable
{
    private readonly BufferHandle _handle;
    private readonly nint _data;

    internal DeviceBuffer(Context context, BufferHandle handle, ulong bytes, nint data)
    {
        Context = context;
        _handle = handle;
        Bytes = bytes;
        _data = data;
    }

    public Context Context { get; }

    /// <summary>Size of the allocation in bytes.</summary>
    public ulong Bytes { get; }

    /// <summary>Device address of the first byte (lp_buffer_get_data), 256-byte aligned.</summary>
    public nint DevicePointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _data;
        }
    }

    /// <summary>True once the buffer (or its context) has been disposed.</summary>
    public bool IsDisposed => _handle.IsClosed;

    private NativeApi Api => Context.Backend.Api;

    /// <summary>Copies src to bytes [offsetBytes, offsetBytes + src size) of the buffer.</summary>
    public void Upload<T>(ReadOnlySpan<T> src, ulong offsetBytes = 0) where T : unmanaged
    {
        ulong bytes = (ulong)src.Length * (ulong)sizeof(T);
        fixed (T* host = src)
        {
            lock (Context.Gate) Context.Backend.Check(Api.lp_buffer_upload(_handle.Raw, offsetBytes, host, bytes));
        }
    }

    /// <summary>Copies bytes [offsetBytes, offsetBytes + dst size) of the buffer to dst (waits for queued ops).</summary>
    public void Download<T>(Span<T> dst, ulong offsetBytes = 0) where T : unmanaged
    {
        ulong bytes = (ulong)dst.Length * (ulong)sizeof(T);
        fixed (T* host = dst)
        {
            lock (Context.Gate) Context.Backend.Check(Api.lp_buffer_download(_handle.Raw, offsetBytes, host, bytes));
        }
    }

    /// <summary>Sets bytes [offsetBytes, offsetBytes + bytes) to value.</summary>
    public void Fill(byte value, ulong offsetBytes, ulong bytes)
    {
        lock (Context.Gate) Context.Backend.Check(Api.lp_buffer_fill(_handle.Raw, offsetBytes, bytes, &value, 1));
    }

    /// <summary>Device-to-device copy from another buffer of the same context.</summary>
    public void CopyFrom(DeviceBuffer src, ulong srcOffset, ulong dstOffset, ulong bytes)
    {
        lock (Context.Gate) Context.Backend.Check(Api.lp_buffer_copy(_handle.Raw, dstOffset, src._handle.Raw, srcOffset, bytes));
    }

    public void Dispose() => _handle.Dispose();

    public override string ToString() => $"{Bytes}-byte buffer on {Context.Backend.Name}";
}
