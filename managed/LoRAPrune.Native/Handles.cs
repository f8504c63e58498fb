// Handles.cs — SafeHandles owning lp_context_t and lp_buffer_t. A buffer handle holds a reference
// on its context handle, so a context is destroyed only after its last buffer is freed; every
// native call on a context (including frees from the finalizer thread) runs under its Gate lock.
using System.Runtime.InteropServices;

namespace LoRAPrune.Native;

internal sealed unsafe class ContextHandle : SafeHandle
{
    private readonly Dictionary<nint, WeakReference<BufferHandle>> _buffers = new();

    public ContextHandle(Backend backend, nint context) : base(0, ownsHandle: true)
    {
        Backend = backend;
        SetHandle(context);
    }

    public Backend Backend { get; }

    /// <summary>Serialises native calls on this context with frees that the finalizer thread makes.</summary>
    public Lock Gate { get; } = new();

    public override bool IsInvalid => handle == 0;

    /// <summary>The raw lp_context_t; throws ObjectDisposedException once the context is disposed.</summary>
    public nint Raw
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return handle;
        }
    }

    public void Register(BufferHandle buffer)
    {
        lock (Gate) _buffers[buffer.Raw] = new WeakReference<BufferHandle>(buffer, trackResurrection: true);
    }

    public void Unregister(nint buffer)
    {
        lock (Gate) _buffers.Remove(buffer);
    }

    /// <summary>Frees every buffer still alive; their managed wrappers then report ObjectDisposedException.</summary>
    public void FreeAllBuffers()
    {
        lock (Gate)
        {
            var live = new List<BufferHandle>();
            foreach (WeakReference<BufferHandle> reference in _buffers.Values)
            {
                if (reference.TryGetTarget(out BufferHandle? buffer)) live.Add(buffer);
            }
            foreach (BufferHandle buffer in live) buffer.Dispose();
        }
    }

    protected override bool ReleaseHandle()
    {
        lock (Gate) return Backend.Api.lp_context_destroy(handle) == LpStatus.Ok;
    }
}

internal sealed unsafe class BufferHandle : SafeHandle
{
    private readonly ContextHandle _context;

    /// <summary>Takes ownership of an lp_buffer_t just allocated in context (caller holds context.Gate).</summary>
    public BufferHandle(ContextHandle context, nint buffer) : base(0, ownsHandle: true)
    {
        _context = context;
        bool added = false;
        context.DangerousAddRef(ref added);
        SetHandle(buffer);
        context.Register(this);
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>The raw lp_buffer_t; throws ObjectDisposedException once the buffer is freed.</summary>
    public nint Raw
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return handle;
        }
    }

    protected override bool ReleaseHandle()
    {
        LpStatus status;
        lock (_context.Gate)
        {
            _context.Unregister(handle);
            status = _context.Backend.Api.lp_buffer_free(handle);
        }
        _context.DangerousRelease();
        return status == LpStatus.Ok;
    }
}
