// NativeLayoutTests.cs — the managed struct mirrors must match lp.h byte for byte, or every native
// call would read garbage; sizes and field offsets are pinned against the C layout (x86-64/arm64).
using System.Runtime.CompilerServices;
using LoRAPrune.Native;

namespace LoRAPrune.Tests.Native;

public sealed class NativeLayoutTests
{
    [Fact]
    public unsafe void LpTensor_is_80_bytes_like_lp_tensor()
    {
        Assert.Equal(8 + 4 + 4 + 32 + 32, sizeof(LpTensor));
        LpTensor t = default;
        byte* start = (byte*)&t;
        Assert.Equal(0, (int)((byte*)&t.Data - start));
        Assert.Equal(8, (int)((byte*)&t.DType - start));
        Assert.Equal(12, (int)((byte*)&t.NDim - start));
        Assert.Equal(16, (int)((byte*)t.Ne - start));
        Assert.Equal(48, (int)((byte*)t.St - start));
    }

    [Fact]
    public unsafe void Device_info_and_memory_stats_match_the_C_structs()
    {
        // lp_device_info: 2*int32 + char[128] + 2*uint64 + 4*int32 = 168; lp_memory_stats: 2*int32 + 5*uint64 = 48.
        Assert.Equal(168, sizeof(LpDeviceInfo));
        Assert.Equal(48, sizeof(LpMemoryStats));
        LpDeviceInfo info = default;
        byte* start = (byte*)&info;
        Assert.Equal(136, (int)((byte*)&info.TotalMemory - start));
        Assert.Equal(152, (int)((byte*)&info.ComputeMajor - start));
    }

    [Fact]
    public void Abi_version_splits_and_other_majors_are_refused()
    {
        Assert.Equal((1, 0), LpAbi.Split(0x0001_0000));
        Assert.Equal((2, 7), LpAbi.Split(0x0002_0007));
        Assert.Null(Backend.AbiMismatch(0x0001_0000));
        Assert.Null(Backend.AbiMismatch(0x0001_0003)); // a newer minor only adds exports
        string? refusal = Backend.AbiMismatch(0x0002_0001);
        Assert.NotNull(refusal);
        Assert.Contains("2.1", refusal);                              // the library's version
        Assert.Contains($"{LpAbi.Major}.{LpAbi.Minor}", refusal);     // the host's version
        Assert.NotNull(Backend.AbiMismatch(0x0000_0009));
    }

    [Fact]
    public void Enums_have_the_values_of_lp_h()
    {
        Assert.Equal(-4, (int)LpStatus.OutOfMemory);
        Assert.Equal(-8, (int)LpStatus.Internal);
        Assert.Equal(2, (int)LpDType.BF16);
        Assert.Equal(3, (int)LpDType.I32);
        Assert.Equal(2, (int)BackendKind.CudaEmulated);
        Assert.Equal(1, (int)ImportanceMode.Grad);
        Assert.Equal(2, (int)EmulationOrder.Shuffled);
        Assert.Equal(1, LpAbi.Major);
        Assert.True(Unsafe.SizeOf<LpStatus>() == 4);
    }
}
