// Context.cs — one lp_context_t: a device, a stream, a BLAS handle and a workspace, plus the
// buffers and tensors allocated in it. Not thread-safe, like the native context: use one per
// thread. Disposing it frees every buffer still alive. The op methods are in ContextOps.cs.
using System.Runtime.CompilerServices;
using System.Text;

namespace LoRAPrune.Native;

public sealed unsafe partial class Context : IDisposable
{
    private readonly ContextHandle _handle;

    internal Context(Backend backend, ContextHandle handle)
    {
        Backend = backend;
        _handle = handle;
    }

    /// <summary>The library this context belongs to.</summary>
    public Backend Backend { get; }

    internal ContextHandle Handle => _handle;

    internal Lock Gate => _handle.Gate;

    private NativeApi Api => Backend.Api;

    public MemoryStats GetMemoryStats()
    {
        LpMemoryStats stats = default;
        stats.StructSize = sizeof(LpMemoryStats);
        lock (Gate) Check(Api.lp_context_get_memory_stats(_handle.Raw, &stats));
        return new MemoryStats(stats.CurrentBytes, stats.PeakBytes, stats.WorkspaceBytes, stats.LiveBuffers, stats.TotalAllocs);
    }

    /// <summary>Restarts the peak-memory high-water mark at the current usage.</summary>
    public void ResetPeak()
    {
        lock (Gate) Check(Api.lp_context_reset_peak(_handle.Raw));
    }

    /// <summary>Waits until every op queued on this context has finished.</summary>
    public void Synchronize()
    {
        lock (Gate) Check(Api.lp_context_synchronize(_handle.Raw));
    }

    /// <summary>Barrier thread order of the emulated CUDA backend for this context's launches; other
    /// backends accept Forward only.</summary>
    public void SetEmulationOrder(EmulationOrder order, ulong seed = 0)
    {
        lock (Gate) Check(Api.lp_context_set_emulation_order(_handle.Raw, (int)order, seed));
    }

    /// <summary>Emulated CUDA backend only: every launch of this context skips the barrier written at
    /// <paramref name="site"/> ("attention.cu:118"), as if it were deleted; null restores it.</summary>
    public void SetEmulationKnockout(string? site)
    {
        byte[]? text = site is null ? null : Encoding.UTF8.GetBytes(site + "\0");
        fixed (byte* p = text)
        {
            lock (Gate) Check(Api.lp_context_set_emulation_knockout(_handle.Raw, p));
        }
    }

    /// <summary>Emulated CUDA backend only: the barrier sites this context's launches met since the
    /// previous call.</summary>
    public IReadOnlyList<BarrierSite> TakeEmulationBarrierSites()
    {
        byte* text;
        lock (Gate)
        {
            Check(Api.lp_context_take_emulation_barrier_sites(_handle.Raw, &text));
            return BarrierSite.ParseLines(NativeApi.Utf8(text));
        }
    }

    /// <summary>A new device buffer of the given size (contents undefined).</summary>
    public DeviceBuffer Alloc(ulong bytes)
    {
        lock (Gate)
        {
            nint raw;
            Check(Api.lp_buffer_alloc(_handle.Raw, bytes, &raw));
            void* data;
            LpStatus status = Api.lp_buffer_get_data(raw, &data);
            if (status != LpStatus.Ok)
            {
                string message = Api.LastErrorMessage();
                Api.lp_buffer_free(raw);
                throw new NativeException(status, message, "lp_buffer_get_data(raw, &data)", Backend.Name);
            }
            return new DeviceBuffer(this, new BufferHandle(_handle, raw), bytes, (nint)data);
        }
    }

    /// <summary>A tensor that owns a fresh buffer of exactly its size (contents undefined).</summary>
    public Tensor NewTensor(LpDType dtype, params long[] shape)
    {
        long count = Tensor.CheckShape(shape);
        DeviceBuffer buffer = Alloc((ulong)count * (ulong)dtype.Size());
        return new Tensor(buffer, 0, dtype, shape, Tensor.ContiguousStrides(shape), ownsBuffer: true);
    }

    /// <summary>An f32 tensor with these contents; no shape means 1-D of data.Length.</summary>
    public Tensor Upload(float[] data, params long[] shape) => UploadAs(LpDType.F32, data, shape);

    /// <summary>An i32 tensor with these contents; no shape means 1-D of data.Length.</summary>
    public Tensor Upload(int[] data, params long[] shape)
    {
        Tensor tensor = NewTensor(LpDType.I32, ShapeOf(data.Length, shape));
        UploadOrDispose(tensor, () => tensor.Upload(data));
        return tensor;
    }

    /// <summary>A bf16 tensor with these contents, rounded to nearest even on the host.</summary>
    public Tensor UploadBf16(float[] data, params long[] shape) => UploadAs(LpDType.BF16, data, shape);

    /// <summary>Frees every buffer still alive in this context, then the context.</summary>
    public void Dispose()
    {
        if (_handle.IsClosed) return;
        _handle.FreeAllBuffers();
        _handle.Dispose();
    }

    public override string ToString() => $"context on {Backend.Name}";

    private void Check(LpStatus status, [CallerArgumentExpression(nameof(status))] string call = "") => Backend.Check(status, call);

    private Tensor UploadAs(LpDType dtype, float[] data, long[] shape)
    {
        Tensor tensor = NewTensor(dtype, ShapeOf(data.Length, shape));
        UploadOrDispose(tensor, () => tensor.Upload(data));
        return tensor;
    }

    private static long[] ShapeOf(int length, long[] shape) => shape.Length == 0 ? new long[] { length } : shape;

    private static void UploadOrDispose(Tensor tensor, Action upload)
    {
        try
        {
            upload();
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }
}
