// Roofline.cs — the two roofs each backend is held against, measured in the same run as the ops:
// copy bandwidth (a device-to-device buffer copy, bytes read + written) and dense GEMM throughput
// (square f32 and bf16-operand GEMMs through lp_op_gemm). Each roof is the best of its samples.
using LoRAPrune.Native;

namespace LoRAPrune.Core.Bench;

/// <param name="CopyBufferBytes">Size of the copied buffer.</param>
/// <param name="CopyGBps">Bytes read + written per second, 1e9 units.</param>
/// <param name="GemmSize">M = N = K of the GEMM probes.</param>
/// <param name="GemmF32Gflops">f32 GEMM throughput, 1e9 FLOP/s.</param>
/// <param name="GemmBf16Gflops">bf16-operand (f32 accumulate) GEMM throughput, 1e9 FLOP/s.</param>
public sealed record Roofline(ulong CopyBufferBytes, double CopyGBps, int GemmSize, double GemmF32Gflops, double GemmBf16Gflops)
{
    /// <summary>Seconds the roofline model allows for `bytes` and `flops` against the given compute roof.</summary>
    public (double Seconds, string Bound) Floor(double bytes, double flops, ComputeRoof roof)
    {
        double memory = bytes / (CopyGBps * 1e9);
        double peak = roof switch
        {
            ComputeRoof.GemmF32 => GemmF32Gflops,
            ComputeRoof.GemmBf16 => GemmBf16Gflops,
            _ => double.PositiveInfinity,
        };
        double compute = flops / (peak * 1e9);
        return compute > memory ? (compute, roof == ComputeRoof.GemmBf16 ? "bf16 gemm" : "f32 gemm") : (memory, "copy bw");
    }
}

public static class RooflineProbe
{
    /// <summary>Probe sizes: 256 MiB copy and 2048^3 GEMM on the cpu and the emulator, 8192^3 on a GPU; small ones when quick.</summary>
    public static (ulong CopyBytes, int GemmSize) Sizes(BackendKind kind, bool quick) => quick
        ? (16UL << 20, kind == BackendKind.Cuda ? 2048 : 256)
        : (256UL << 20, kind == BackendKind.Cuda ? 8192 : 2048);

    /// <summary>Fewest samples a roof is the best of: one stalled sample must not lower a roof.</summary>
    public const int MinSamples = 5;

    public static Roofline Measure(Context context, ulong copyBytes, int gemmSize, int warmup, int repeat, Action<string>? progress = null)
    {
        repeat = Math.Max(repeat, MinSamples);
        progress?.Invoke($"roofline: copy {copyBytes >> 20} MiB");
        double copy = CopyGBps(context, copyBytes, warmup, repeat);
        progress?.Invoke($"roofline: f32 GEMM {gemmSize}^3");
        double f32 = GemmGflops(context, LpDType.F32, gemmSize, warmup, repeat);
        progress?.Invoke($"roofline: bf16 GEMM {gemmSize}^3");
        double bf16 = GemmGflops(context, LpDType.BF16, gemmSize, warmup, repeat);
        return new Roofline(copyBytes, copy, gemmSize, f32, bf16);
    }

    private static double CopyGBps(Context context, ulong bytes, int warmup, int repeat)
    {
        using DeviceBuffer src = context.Alloc(bytes), dst = context.Alloc(bytes);
        src.Fill(0x3c, 0, bytes);
        dst.Fill(0, 0, bytes);
        Timing timing = BenchTimer.Measure(context, () => dst.CopyFrom(src, 0, 0, bytes), warmup, repeat);
        // bytes: read the source and write the destination
        return 2.0 * bytes / timing.MinSeconds / 1e9;
    }

    private static double GemmGflops(Context context, LpDType dtype, int size, int warmup, int repeat)
    {
        long count = (long)size * size;
        float[] a = HostData.Uniform(301, count), b = HostData.Uniform(302, count);
        using Tensor ta = dtype == LpDType.BF16 ? context.UploadBf16(a, size, size) : context.Upload(a, size, size);
        using Tensor tb = dtype == LpDType.BF16 ? context.UploadBf16(b, size, size) : context.Upload(b, size, size);
        using Tensor tc = context.NewTensor(LpDType.F32, size, size);
        Timing timing = BenchTimer.Measure(context, () => context.Gemm(ta, tb, tc, transA: false, transB: false, alpha: 1f, beta: 0f), warmup, repeat);
        // flops: a multiply and an add for every (m, n, k)
        return 2.0 * size * size * (double)size / timing.MinSeconds / 1e9;
    }
}
