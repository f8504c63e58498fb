// NativeStructs.cs — byte-for-byte mirrors of the structs of lp.h (lp_tensor, lp_device_info,
// lp_memory_stats). Layout is sequential with natural alignment, exactly as the C compiler lays
// them out; tests pin the sizes (80, 168 and 48 bytes).
using System.Runtime.InteropServices;

namespace LoRAPrune.Native;

/// <summary>Blittable mirror of lp_tensor: device address, dtype, ndim, sizes and strides (elements).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct LpTensor
{
    public const int MaxDims = 4;

    public void* Data;
    public int DType;
    public int NDim;
    public fixed long Ne[MaxDims];
    public fixed long St[MaxDims];
}

/// <summary>Mirror of lp_device_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LpDeviceInfo
{
    public int StructSize;
    public int Backend;
    public fixed byte Name[128];
    public ulong TotalMemory;
    public ulong FreeMemory;
    public int ComputeMajor;
    public int ComputeMinor;
    public int Multiprocessors;
    public int Reserved;
}

/// <summary>Mirror of lp_memory_stats.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct LpMemoryStats
{
    public int StructSize;
    public int Reserved;
    public ulong CurrentBytes;
    public ulong PeakBytes;
    public ulong WorkspaceBytes;
    public ulong LiveBuffers;
    public ulong TotalAllocs;
}

/// <summary>One device of a backend (lp_device_get_info).</summary>
public sealed record DeviceInfo(BackendKind Backend, string Name, ulong TotalMemory, ulong FreeMemory,
                                int ComputeMajor, int ComputeMinor, int Multiprocessors);

/// <summary>Memory bookkeeping of one context (lp_context_get_memory_stats).</summary>
public sealed record MemoryStats(ulong CurrentBytes, ulong PeakBytes, ulong WorkspaceBytes, ulong LiveBuffers, ulong TotalAllocs);
