// BenchReport.cs — what `bench kernels` measured: per backend the device and its measured roofs,
// per (backend, shape set, op) the validation verdict, the timing and the derived GB/s, GFLOP/s and
// fraction of the roof. The table cells are formatted here so terminal, text and markdown agree.
using System.Globalization;

namespace LoRAPrune.Core.Bench;

/// <param name="Name">"cpu", "cudaemu" or "cuda".</param>
/// <param name="Device">The device name of lp_device_get_info ("AMD EPYC ... (2 threads)").</param>
/// <param name="Library">Path of the loaded backend library.</param>
/// <param name="Build">The library's build info (git, compiler, blas, ...).</param>
/// <param name="Roof">The roofs measured on this backend in this run.</param>
public sealed record BackendReport(string Name, string Device, string Library, IReadOnlyDictionary<string, string> Build, Roofline Roof);

/// <param name="Timing">Null when the op was not timed (failed validation or an error).</param>
/// <param name="GBps">Bytes / median time, 1e9 units.</param>
/// <param name="Gflops">FLOPs / median time, 1e9 units.</param>
/// <param name="RoofFraction">Roofline time / median time: 1 means at the roof.</param>
/// <param name="RoofBound">Which roof limits the op at its size: "copy bw", "f32 gemm" or "bf16 gemm".</param>
/// <param name="PeakBytes">Peak bytes the context held while the op was set up, validated and timed.</param>
/// <param name="Error">The exception text when the op could not be run.</param>
public sealed record KernelResult(string Backend, string ShapeSet, string Op, string Variant, string Shape, double Bytes, double Flops,
                                  Validation? Validation, Timing? Timing, double? GBps, double? Gflops, double? RoofFraction,
                                  string? RoofBound, ulong PeakBytes, string? Error)
{
    public bool Validated => Validation?.Passed == true && Error is null;

    public string Title => Variant.Length == 0 ? Op : $"{Op} ({Variant})";
}

/// <param name="Date">When the run started (UTC).</param>
/// <param name="ToolVersion">The loraprune version that ran it.</param>
/// <param name="Git">Git hash of the native libraries (lp_get_build_info), or "unknown".</param>
/// <param name="Host">Operating system and logical processor count of the host.</param>
public sealed record KernelBenchReport(DateTimeOffset Date, string ToolVersion, string Git, string Host, int Warmup, int Repeat, bool Quick,
                                       IReadOnlyList<BenchShapes> Shapes, IReadOnlyList<BackendReport> Backends, IReadOnlyList<KernelResult> Results)
{
    /// <summary>True when every op of every backend validated and ran.</summary>
    public bool AllValidated => Results.All(r => r.Validated);

    /// <summary>The command line that produced the report, when the caller records it.</summary>
    public string? CommandLine { get; init; }

    public static readonly string[] Columns = { "backend", "op", "shape", "median ms", "min ms", "GB/s", "GFLOP/s", "% roof", "validated" };

    /// <summary>The table cells of one result, in Columns order.</summary>
    public static string[] Cells(KernelResult r) => new[]
    {
        r.Backend,
        r.Title,
        r.Shape,
        r.Timing is null ? "-" : Milliseconds(r.Timing.MedianSeconds),
        r.Timing is null ? "-" : Milliseconds(r.Timing.MinSeconds),
        r.GBps is null ? "-" : Rate(r.GBps.Value),
        r.Gflops is null || r.Flops == 0 ? "-" : Rate(r.Gflops.Value),
        r.RoofFraction is null ? "-" : $"{(100 * r.RoofFraction.Value).ToString("0.#", CultureInfo.InvariantCulture)}% {r.RoofBound}",
        r.Error is not null ? "ERROR " + FirstLine(r.Error) : r.Validation?.Summary ?? "-",
    };

    /// <summary>One line per backend: its device and measured roofs.</summary>
    public static string RoofLine(BackendReport b) =>
        $"{b.Name}: {b.Device} | copy {Rate(b.Roof.CopyGBps)} GB/s ({b.Roof.CopyBufferBytes >> 20} MiB, read+write) | " +
        $"GEMM {b.Roof.GemmSize}^3 f32 {Rate(b.Roof.GemmF32Gflops)} GFLOP/s, bf16 {Rate(b.Roof.GemmBf16Gflops)} GFLOP/s";

    /// <summary>The validation thresholds with their reasons, one line each.</summary>
    public static IEnumerable<string> ThresholdLines() =>
        new[] { Tolerance.F32, Tolerance.Bf16Weights, Tolerance.Exact }.Select(t => $"threshold {Validator.Format(t.Limit)}: {t.Reason}");

    private static string Milliseconds(double seconds)
    {
        double ms = seconds * 1e3;
        return ms >= 100 ? ms.ToString("0.0", CultureInfo.InvariantCulture)
             : ms >= 1 ? ms.ToString("0.000", CultureInfo.InvariantCulture)
             : ms.ToString("0.0000", CultureInfo.InvariantCulture);
    }

    private static string Rate(double value) =>
        value >= 100 ? value.ToString("0", CultureInfo.InvariantCulture) : value.ToString("0.0#", CultureInfo.InvariantCulture);

    private static string FirstLine(string text)
    {
        int end = text.IndexOf('\n');
        return end < 0 ? text : text[..end];
    }
}
