// KernelBench.cs — runs `bench kernels`: measures each backend's roofs, then for every op at every
// shape set validates first (against the cpu backend's outputs, or float64 spot checks on the cpu
// backend itself) and times only what validated. Progress goes to a caller-supplied sink.
using System.Runtime.InteropServices;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Bench;

/// <param name="Backends">The backends to benchmark, in the order the table lists them.</param>
/// <param name="Reference">The cpu backend other backends are compared with (null when none loads).</param>
/// <param name="Shapes">The shape sets.</param>
/// <param name="Quick">Small roofline probes (the shapes are chosen by the caller).</param>
/// <param name="ToolVersion">Recorded in the report.</param>
/// <param name="Cases">The cases of one shape set (default KernelCases.All); tests substitute their own.</param>
public sealed record KernelBenchOptions(IReadOnlyList<Backend> Backends, Backend? Reference, IReadOnlyList<BenchShapes> Shapes,
                                        int Warmup, int Repeat, bool Quick, string ToolVersion,
                                        Func<BenchShapes, IEnumerable<Func<KernelCase>>>? Cases = null);

public static class KernelBench
{
    /// <summary>Seed of the spot checks' element sampling.</summary>
    public const int SampleSeed = 20260611;

    public static KernelBenchReport Run(KernelBenchOptions options, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Backends.Count == 0) throw new ArgumentException("no backend to benchmark", nameof(options));
        DateTimeOffset started = DateTimeOffset.UtcNow;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Action<string>? announce = progress is null ? null : text => progress(FormattableString.Invariant($"{clock.Elapsed.TotalSeconds,7:0.0}s {text}"));
        var contexts = new List<Context>();
        Context? referenceContext = null;
        try
        {
            // The cpu backend runs first, so its validated outputs are the reference of the others.
            foreach (Backend backend in options.Backends.OrderBy(b => b.Kind == BackendKind.Cpu ? 0 : 1)) contexts.Add(backend.CreateContext());
            Context? sharedCpu = contexts.FirstOrDefault(c => c.Backend.Kind == BackendKind.Cpu);
            if (sharedCpu is null && options.Reference is not null) referenceContext = options.Reference.CreateContext();
            Context? reference = sharedCpu ?? referenceContext;

            var backends = new List<BackendReport>();
            foreach (Context context in contexts)
            {
                (ulong copyBytes, int gemmSize) = RooflineProbe.Sizes(context.Backend.Kind, options.Quick);
                Roofline roof = RooflineProbe.Measure(context, copyBytes, gemmSize, options.Warmup, options.Repeat,
                                                      text => announce?.Invoke($"{context.Backend.Name} {text}"));
                backends.Add(Describe(context.Backend, roof));
            }

            var results = new List<KernelResult>();
            foreach (BenchShapes shapes in options.Shapes)
            {
                List<Func<KernelCase>> cases = (options.Cases ?? KernelCases.All)(shapes).ToList();
                for (int index = 0; index < cases.Count; index++)
                {
                    string where = $"[{shapes.Name} {index + 1}/{cases.Count}]";
                    KernelCase kernel = cases[index]();
                    var cpuOutputs = new CpuOutputs(reference is null ? "no cpu backend loads, so there is nothing to validate against" : null);
                    if (referenceContext is not null)
                    {
                        announce?.Invoke($"{where} cpu reference {kernel.Title}");
                        RunOnCpu(referenceContext, kernel, cpuOutputs);
                    }
                    for (int b = 0; b < contexts.Count; b++)
                    {
                        Context context = contexts[b];
                        announce?.Invoke($"{where} {context.Backend.Name} {kernel.Title}");
                        KernelResult result = RunCase(context, kernel, shapes, options, backends[b].Roof, cpuOutputs);
                        results.Add(result);
                        if (!result.Validated) announce?.Invoke($"{where} {context.Backend.Name} {kernel.Title}: {Cell(result)}");
                    }
                }
            }
            return new KernelBenchReport(started, options.ToolVersion, GitHash(options.Backends), HostDescription(), options.Warmup, options.Repeat,
                                         options.Quick, options.Shapes, backends, results);
        }
        finally
        {
            foreach (Context context in contexts) context.Dispose();
            referenceContext?.Dispose();
        }
    }

    // Validates one case on one context and, if it passed, times it. The cpu backend is spot-checked
    // in float64 and, when it passes, its outputs become the reference of the backends after it.
    private static KernelResult RunCase(Context context, KernelCase kernel, BenchShapes shapes, KernelBenchOptions options, Roofline roof, CpuOutputs cpu)
    {
        bool isCpu = context.Backend.Kind == BackendKind.Cpu;
        Validation? validation = null;
        try
        {
            context.ResetPeak();
            using var instance = new KernelInstance(context);
            kernel.Build(instance);
            instance.Launch();
            IReadOnlyDictionary<string, float[]> outputs = instance.ReadOutputs();
            if (isCpu)
            {
                validation = SpotCheck(kernel, outputs);
                cpu.Accept(outputs, validation);
            }
            else if (cpu.Outputs is not null)
                validation = Validator.CompareOutputs(outputs, cpu.Outputs, kernel.Tolerance);
            else
                return Failed(context, kernel, shapes, null, cpu.Error ?? "the cpu reference produced no outputs");
            if (!validation.Passed) return Failed(context, kernel, shapes, validation, null);

            Timing timing = BenchTimer.Measure(context, instance.Launch, options.Warmup, options.Repeat);
            (double floor, string bound) = roof.Floor(kernel.Bytes, kernel.Flops, kernel.Roof);
            return new KernelResult(context.Backend.Name, shapes.Name, kernel.Op, kernel.Variant, kernel.Shape, kernel.Bytes, kernel.Flops, validation,
                                    timing, kernel.Bytes / timing.MedianSeconds / 1e9, kernel.Flops / timing.MedianSeconds / 1e9,
                                    floor / timing.MedianSeconds, bound, context.GetMemoryStats().PeakBytes, null);
        }
        catch (Exception e) when (IsRunFailure(e))
        {
            if (isCpu && cpu.Outputs is null) cpu.Fail("the cpu reference run failed: " + e.Message);
            return Failed(context, kernel, shapes, validation, e.Message);
        }
    }

    // Runs a case on the cpu reference context only to produce (spot-checked) reference outputs,
    // when the cpu backend itself is not benchmarked.
    private static void RunOnCpu(Context reference, KernelCase kernel, CpuOutputs cpu)
    {
        try
        {
            using var instance = new KernelInstance(reference);
            kernel.Build(instance);
            instance.Launch();
            IReadOnlyDictionary<string, float[]> outputs = instance.ReadOutputs();
            cpu.Accept(outputs, SpotCheck(kernel, outputs));
        }
        catch (Exception e) when (IsRunFailure(e))
        {
            cpu.Fail("the cpu reference run failed: " + e.Message);
        }
    }

    private static Validation SpotCheck(KernelCase kernel, IReadOnlyDictionary<string, float[]> outputs) =>
        Validator.CheckSamples(outputs, kernel.Spot(outputs, new Random(SampleSeed)), kernel.Tolerance);

    // Failures that belong to one op (a native error, a shape it cannot allocate), not to the whole run.
    private static bool IsRunFailure(Exception e) => e is NativeException or OutOfMemoryException or ArgumentException or InvalidOperationException;

    private static KernelResult Failed(Context context, KernelCase kernel, BenchShapes shapes, Validation? validation, string? error) =>
        new(context.Backend.Name, shapes.Name, kernel.Op, kernel.Variant, kernel.Shape, kernel.Bytes, kernel.Flops, validation,
            null, null, null, null, null, context.GetMemoryStats().PeakBytes, error);

    // The cpu backend's outputs of the current case, kept only when they passed their float64 spot check.
    private sealed class CpuOutputs(string? error)
    {
        public IReadOnlyDictionary<string, float[]>? Outputs { get; private set; }

        public string? Error { get; private set; } = error;

        public void Accept(IReadOnlyDictionary<string, float[]> outputs, Validation validation)
        {
            if (validation.Passed) Outputs = outputs;
            else Error = "the cpu reference failed its float64 spot check: " + validation.Detail;
        }

        public void Fail(string error) => Error = error;
    }

    private static string Cell(KernelResult result) => KernelBenchReport.Cells(result)[^1] +
        (result.Validation is { Passed: false } v ? $" ({v.Detail})" : "");

    private static BackendReport Describe(Backend backend, Roofline roof)
    {
        DeviceInfo device = backend.GetDeviceInfo(0);
        return new BackendReport(backend.Name, device.Name, backend.LibraryPath, BuildProperties(backend.BuildInfo), roof);
    }

    /// <summary>The "key=value" lines of lp_get_build_info as a dictionary.</summary>
    public static IReadOnlyDictionary<string, string> BuildProperties(string buildInfo)
    {
        var properties = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in buildInfo.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = line.IndexOf('=');
            if (eq > 0) properties[line[..eq]] = line[(eq + 1)..];
        }
        return properties;
    }

    /// <summary>The git hash the backends' libraries were built from (all distinct ones), or "unknown".</summary>
    public static string GitHash(IEnumerable<Backend> backends)
    {
        string[] hashes = backends.Select(b => BuildProperties(b.BuildInfo).GetValueOrDefault("git") ?? "")
                                  .Where(h => h.Length > 0).Distinct().ToArray();
        return hashes.Length == 0 ? "unknown" : string.Join(", ", hashes);
    }

    private static string HostDescription() =>
        $"{RuntimeInformation.OSDescription.Trim()} {RuntimeInformation.OSArchitecture}, {Environment.ProcessorCount} logical processors, .NET {Environment.Version}";
}
