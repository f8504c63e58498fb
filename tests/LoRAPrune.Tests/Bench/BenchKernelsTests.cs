// BenchKernelsTests.cs — `loraprune bench kernels --quick` through the real command tree (exit code,
// a JSON entry per op validated by float64 spot checks, the markdown), validation of a non-cpu
// backend against the cpu one, and the validator's teeth: different outputs, NaN and wrong float64
// samples fail, and a failing op is not timed.
using System.CommandLine;
using System.Text.Json;
using LoRAPrune.Cli;
using LoRAPrune.Core.Bench;
using LoRAPrune.Native;
using DeviceBackendFactAttribute = LoRAPrune.Tests.Conformance.DeviceBackendFactAttribute;
using TestBackends = LoRAPrune.Tests.Conformance.TestBackends;

namespace LoRAPrune.Tests.Bench;

public sealed class BenchKernelsTests : IDisposable
{
    // Every op of lp.h a LoRAPrune step runs, as `bench kernels` must list it.
    private static readonly string[] RequiredOps =
    {
        "gemm", "lora_linear_fwd", "lora_linear_bwd", "attention_fwd", "attention_bwd", "rmsnorm_fwd", "rmsnorm_bwd",
        "rope_fwd", "rope_bwd", "swiglu_fwd", "swiglu_bwd", "embedding_fwd", "embedding_bwd", "cross_entropy_fwd",
        "cross_entropy_bwd", "cross_entropy_fwd_bwd", "adamw", "grad_norm", "importance_accumulate", "importance_group_normalize", "importance_ema",
        "gather_rows", "gather_cols", "lora_merge",
    };

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "lp-bench-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Quick_cpu_run_validates_every_op_and_writes_json_and_markdown()
    {
        var (exit, output, errors) = CliRunner.Run("bench", "kernels", "--quick", "--backend", "cpu", "--out", _dir);
        Assert.True(exit == 0, $"exit {exit}\n{output}\n{errors}");
        string text = output.ToString();
        Assert.Contains("median ms", text);
        Assert.DoesNotContain("\u001b[", text);
        Assert.Contains("[default-quick 1/", errors.ToString()); // progress goes to stderr

        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, BenchReportWriter.JsonFileName)));
        JsonElement root = json.RootElement;
        Assert.True(root.GetProperty("all_validated").GetBoolean());
        JsonElement backend = Assert.Single(root.GetProperty("backends").EnumerateArray());
        Assert.Equal("cpu", backend.GetProperty("name").GetString());
        Assert.True(backend.GetProperty("roof").GetProperty("copy_gbps").GetDouble() > 0);
        Assert.True(backend.GetProperty("roof").GetProperty("gemm_f32_gflops").GetDouble() > 0);

        List<JsonElement> results = root.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(KernelCases.All(BenchShapes.DefaultQuick).Count(), results.Count);
        foreach (JsonElement r in results)
        {
            string name = $"{r.GetProperty("op").GetString()} ({r.GetProperty("variant").GetString()})";
            Assert.True(r.GetProperty("validated").GetBoolean(), name + ": " + r.GetProperty("validation").GetRawText());
            Assert.Equal("f64-spot-check", r.GetProperty("validation").GetProperty("method").GetString());
            Assert.True(r.GetProperty("median_ms").GetDouble() > 0, name);
            Assert.True(r.GetProperty("min_ms").GetDouble() <= r.GetProperty("median_ms").GetDouble(), name);
            Assert.True(r.GetProperty("bytes").GetDouble() > 0, name);
        }
        var ops = results.Select(r => r.GetProperty("op").GetString()).ToHashSet();
        foreach (string op in RequiredOps) Assert.Contains(op, ops);
        var linear = results.Where(r => r.GetProperty("op").GetString()!.StartsWith("lora_linear", StringComparison.Ordinal))
                            .Select(r => r.GetProperty("variant").GetString()).ToHashSet();
        Assert.Equal(new HashSet<string?> { "f32 W", "bf16 W" }, linear);
        var axes = results.Where(r => r.GetProperty("op").GetString() == "importance_accumulate").Select(r => r.GetProperty("variant").GetString());
        Assert.Equal(new[] { "lora, axis 0", "lora, axis 1" }, axes);

        string markdown = File.ReadAllText(Path.Combine(_dir, BenchReportWriter.MarkdownFileName));
        Assert.StartsWith("# loraprune bench kernels", markdown);
        Assert.Contains("| backend | op | shape | median ms | min ms | GB/s | GFLOP/s | % roof | validated |", markdown);
        Assert.Contains("every op validated", markdown);
        foreach (string op in RequiredOps) Assert.Contains($"| cpu | {op}", markdown);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void Different_outputs_fail_the_comparison()
    {
        var reference = new Dictionary<string, float[]> { ["y"] = new[] { 1f, 2f, 3f, 4f } };
        Validation same = Validator.CompareOutputs(new Dictionary<string, float[]> { ["y"] = new[] { 1f, 2f, 3f, 4f } }, reference, Tolerance.F32);
        Assert.True(same.Passed, same.Detail);
        Assert.Equal(0, same.Error);

        Validation different = Validator.CompareOutputs(new Dictionary<string, float[]> { ["y"] = new[] { 1f, 2f, 3.01f, 4f } }, reference, Tolerance.F32);
        Assert.False(different.Passed);
        Assert.Equal(ValidationMethod.CpuCompare, different.Method);
        Assert.StartsWith("FAILED vs cpu", different.Summary);
        Assert.Contains("worst [2]", different.Detail);

        Validation nan = Validator.CompareOutputs(new Dictionary<string, float[]> { ["y"] = new[] { 1f, float.NaN, 3f, 4f } }, reference, Tolerance.F32);
        Assert.False(nan.Passed);
        Assert.Contains("non-finite", nan.Detail);

        Validation missing = Validator.CompareOutputs(new Dictionary<string, float[]>(), reference, Tolerance.F32);
        Assert.False(missing.Passed);
    }

    [Fact]
    public void Wrong_float64_samples_fail_the_spot_check()
    {
        var outputs = new Dictionary<string, float[]> { ["out"] = new[] { 0.5f, -0.25f } };
        var good = new[] { new SpotSample("out", 0, 0.5, 0.5), new SpotSample("out", 1, -0.25, -0.25) };
        Assert.True(Validator.CheckSamples(outputs, good, Tolerance.Exact).Passed);
        var bad = new[] { new SpotSample("out", 0, 0.5, 0.5), new SpotSample("out", 1, -0.25, -0.2500001) };
        Validation verdict = Validator.CheckSamples(outputs, bad, Tolerance.Exact);
        Assert.False(verdict.Passed);
        Assert.StartsWith("FAILED f64 spot", verdict.Summary);
    }

    [Fact]
    public void An_op_that_fails_validation_is_reported_and_not_timed()
    {
        Backend cpu = Backend.Load("cpu");
        KernelCase real = KernelCases.SwiGluForward(BenchShapes.DefaultQuick);
        KernelCase broken = real with { Spot = (outputs, rng) => real.Spot(outputs, rng).Select(s => s with { Expected = s.Expected + 0.5 }) };
        var options = new KernelBenchOptions(new[] { cpu }, cpu, new[] { BenchShapes.DefaultQuick }, Warmup: 0, Repeat: 1, Quick: true,
                                             ToolVersion: "test", Cases: _ => new Func<KernelCase>[] { () => real, () => broken });
        KernelBenchReport report = KernelBench.Run(options);

        Assert.False(report.AllValidated);
        Assert.Equal(2, report.Results.Count);
        Assert.True(report.Results[0].Validated);
        Assert.NotNull(report.Results[0].Timing);
        KernelResult failed = report.Results[1];
        Assert.False(failed.Validated);
        Assert.Null(failed.Timing);
        Assert.StartsWith("FAILED f64 spot", KernelBenchReport.Cells(failed)[^1]);
        Assert.Contains("## Failures", BenchReportWriter.ToMarkdown(report));
    }

    // The CUDA emulator is built everywhere the CUDA sources are; a real GPU backend counts too.
    // Skipped, with the reason, where neither is under test.
    [DeviceBackendFact]
    public void A_device_backend_is_validated_against_the_cpu_backend()
    {
        Backend device = TestBackends.Variants.First(v => v.Backend.Kind != BackendKind.Cpu).Backend;
        Backend cpu = TestBackends.Host.Backend;
        var options = new KernelBenchOptions(new[] { device }, cpu, new[] { BenchShapes.DefaultQuick }, Warmup: 0, Repeat: 1, Quick: true,
                                             ToolVersion: "test", Cases: s => new Func<KernelCase>[]
                                             {
                                                 () => KernelCases.LoraLinearForward(s, LpDType.BF16), () => KernelCases.RmsNormBackward(s),
                                             });
        KernelBenchReport report = KernelBench.Run(options);

        Assert.True(report.AllValidated, string.Join("\n", report.Results.Select(r => r.Validation?.Detail ?? r.Error)));
        Assert.All(report.Results, r =>
        {
            Assert.Equal(device.Name, r.Backend);
            Assert.Equal(ValidationMethod.CpuCompare, r.Validation!.Method);
            Assert.NotNull(r.Timing);
        });
        Assert.Equal(Tolerance.Bf16Weights, report.Results[0].Validation!.Tolerance);
    }
}
