// Exceptions.cs — the two ways the native layer fails: a backend library that cannot be loaded
// (with the trace of every path tried) and a native call that returned an error status (with the
// library's own message and the C# text of the failing call).
namespace LoRAPrune.Native;

/// <summary>An lp_* call returned a negative status.</summary>
public sealed class NativeException : Exception
{
    internal NativeException(LpStatus status, string nativeMessage, string call, string backend)
        : base($"{(nativeMessage.Length > 0 ? nativeMessage : "(no message)")} ({status}) in {call} [backend {backend}]")
    {
        Status = status;
        NativeMessage = nativeMessage;
        Call = call;
        BackendName = backend;
    }

    /// <summary>The status code the native call returned.</summary>
    public LpStatus Status { get; }

    /// <summary>lp_last_error_message() of the failing library, e.g. "lp_op_rmsnorm_forward: x.ne[1]=13 but weight.ne[0] is 12".</summary>
    public string NativeMessage { get; }

    /// <summary>The C# expression of the failing call.</summary>
    public string Call { get; }

    /// <summary>The backend whose library failed ("cpu", "cudaemu", "cuda").</summary>
    public string BackendName { get; }
}

/// <summary>The backend a --device choice names cannot be used: its library does not load, or it reports no device.</summary>
public sealed class BackendUnavailableException : Exception
{
    internal BackendUnavailableException(string choice, string reason, string trace)
        : base($"--device {choice}: {reason} (run `loraprune devices --trace` to see where it looked)")
    {
        Choice = choice;
        Trace = trace;
    }

    /// <summary>The --device value asked for.</summary>
    public string Choice { get; }

    /// <summary>Every path the loader tried, one per line (empty when the library loaded but has no device).</summary>
    public string Trace { get; }
}

/// <summary>No usable library was found for a backend; the message lists every path tried and why it failed.</summary>
public sealed class BackendLoadException : Exception
{
    internal BackendLoadException(string message, IReadOnlyList<string> tried) : base(message)
    {
        Tried = tried;
    }

    /// <summary>One "path: reason" entry per location tried, in search order.</summary>
    public IReadOnlyList<string> Tried { get; }
}
