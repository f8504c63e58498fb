// BenchStepTests.cs — `loraprune bench step` and `bench page` through the real command tree on the tiny model: a
// row per criterion with its memory, breakdown and roof in the JSON, grad holding the most memory; the GEMM list the
// roof is built from; the op classes of the breakdown; usage errors; and the page assembled from result folders.
using System.Text.Json;
using LoRAPrune.Core.Bench;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Pruning;
using LoRAPrune.Tests.Conformance;
using LoRAPrune.Tests.IO;
using LoRAPrune.Tests.Model;

namespace LoRAPrune.Tests.Bench;

public sealed class BenchStepTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string TinyConfigFile()
    {
        string path = _folder.File("config.json");
        EngineGradientTests.TinyConfig.Save(path);
        return path;
    }

    [Fact]
    public void Step_bench_on_cpu_reports_every_criterion_with_memory_breakdown_and_roof()
    {
        string outDir = _folder.File("step");
        var (exit, output, errors) = CliRunner.Run("bench", "step", "--config", TinyConfigFile(), "--device", "cpu", "--batch", "4", "--micro-batch", "2",
                                                   "--seq", "8", "--warmup", "0", "--repeat", "2", "--profile-steps", "1", "--out", outDir);
        Assert.True(exit == 0, $"exit {exit}\n{output}\n{errors}");
        Assert.Contains("tokens/s", output);
        Assert.Contains("lora peak allocator memory", output);

        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, StepBenchReport.JsonFileName)));
        JsonElement root = json.RootElement;
        Assert.StartsWith("loraprune bench step --config", root.GetProperty("command").GetString());
        Dictionary<string, JsonElement> results = root.GetProperty("results").EnumerateArray().ToDictionary(r => r.GetProperty("criterion").GetString()!);
        Assert.Equal(["lora", "grad", "magnitude", "finetune"], results.Keys);
        Assert.Contains("lora step", output);
        Assert.Contains("of the finetune step's", output);
        foreach ((string name, JsonElement r) in results)
        {
            bool prune = name != "finetune";
            Assert.Equal(2, r.GetProperty("step_ms").GetArrayLength());
            Assert.True(r.GetProperty("tokens_per_s").GetDouble() > 0, name);
            Assert.True(r.GetProperty("gemm_roof_tokens_per_s").GetDouble() > 0, name);
            // The range brackets the median: the slowest and the fastest of the timed steps against the same roof.
            double[] steps = r.GetProperty("step_ms").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            double roofMs = r.GetProperty("gemm_roof_step_ms").GetDouble();
            Assert.Equal(roofMs / steps.Max(), r.GetProperty("fraction_of_gemm_roof_slowest_step").GetDouble(), 9);
            Assert.Equal(roofMs / steps.Min(), r.GetProperty("fraction_of_gemm_roof_fastest_step").GetDouble(), 9);
            Assert.InRange(r.GetProperty("fraction_of_gemm_roof").GetDouble(), roofMs / steps.Max(), roofMs / steps.Min());
            Assert.True(r.GetProperty("peak_allocator_bytes").GetUInt64() > r.GetProperty("weight_bytes").GetUInt64(), name);
            double classes = r.GetProperty("class_ms").EnumerateObject().Sum(c => c.Value.GetDouble());
            Assert.Equal(r.GetProperty("profiled_step_ms").GetDouble(), classes, 6);
            // Only a prune step scores importance; the finetune step never calls an importance op.
            Assert.Equal(prune, r.GetProperty("class_ms").GetProperty("importance").GetDouble() > 0);
            Assert.True(r.GetProperty("op_ms").TryGetProperty("cross_entropy_forward_backward", out _), name);
        }
        // The grad criterion holds an f32 gradient of every scored linear: all 2 layers x 7 projections of the tiny model.
        long scored = 2 * (16 * 16 + 2 * 8 * 16 + 16 * 16 + 3 * 24 * 16);
        Assert.Equal(scored, results["grad"].GetProperty("base_gradient_elements").GetInt64());
        Assert.Equal(0, results["lora"].GetProperty("base_gradient_elements").GetInt64());
        Assert.Equal(0, results["finetune"].GetProperty("base_gradient_elements").GetInt64());
        ulong Peak(string criterion) => results[criterion].GetProperty("peak_allocator_bytes").GetUInt64();
        Assert.True(Peak("grad") >= Peak("magnitude") + (ulong)scored * 4, $"grad {Peak("grad")}, magnitude {Peak("magnitude")}");
        Assert.True(Peak("grad") > Peak("lora"), $"grad {Peak("grad")}, lora {Peak("lora")}");
        Assert.Contains("| lora |", File.ReadAllText(Path.Combine(outDir, StepBenchReport.MarkdownFileName)));
    }

    // A tiny lora step with --activations; checks the recorded dtype ("auto" resolved to the backend's default) and
    // returns the step's peak allocator bytes.
    private ulong StepWithActivations(string device, string activations)
    {
        string outDir = _folder.File($"step-{device}-{activations}");
        var (exit, output, errors) = CliRunner.Run("bench", "step", "--config", TinyConfigFile(), "--device", device, "--batch", "2", "--seq", "8",
                                                   "--criterion", "lora", "--warmup", "0", "--repeat", "1", "--profile-steps", "0",
                                                   "--activations", activations, "--out", outDir);
        Assert.True(exit == 0, $"exit {exit}\n{output}\n{errors}");
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, StepBenchReport.JsonFileName)));
        string expected = activations == "auto" ? (device == "cpu" ? "f32" : "bf16") : activations;
        Assert.Equal(expected, json.RootElement.GetProperty("settings").GetProperty("activations").GetString());
        Assert.Contains($"activations {expected}", File.ReadAllText(Path.Combine(outDir, StepBenchReport.MarkdownFileName)));
        return json.RootElement.GetProperty("results")[0].GetProperty("peak_allocator_bytes").GetUInt64();
    }

    /// <summary>--activations on cpu: auto is f32; bf16 runs too (the cpu backend widens it per op).</summary>
    [Fact]
    public void Activation_dtype_is_recorded_on_cpu_and_bf16_runs_there_too()
    {
        StepWithActivations("cpu", "auto");
        StepWithActivations("cpu", "bf16");
    }

    /// <summary>On the CUDA emulator auto is bf16, and it lowers the lora step's peak allocator memory below f32's.</summary>
    [EmulatorFact]
    public void Bf16_activations_lower_the_emulators_peak_memory()
    {
        ulong f32 = StepWithActivations("cudaemu", "f32"), bf16 = StepWithActivations("cudaemu", "auto");
        Assert.True(bf16 < f32, $"cudaemu lora step peak: bf16 activations {bf16} bytes, f32 {f32}");
    }

    [Fact]
    public void Roof_counts_forward_and_activation_backward_of_every_linear_and_the_head_and_weight_gradients_only_for_grad()
    {
        LlamaConfig c = EngineGradientTests.TinyConfig;
        const int tokens = 16, micro = 3;
        long linears = 2 * (16 * 16 + 2 * 8 * 16 + 16 * 16 + 3 * 24 * 16), head = 50 * 16;
        IReadOnlyList<StepGemm> lora = StepGemmRoof.Gemms(c, tokens, micro, StepBench.ScoredWeights(c, PruneCriterion.Lora, LlamaLinears.All));
        Assert.Equal(4.0 * tokens * micro * (linears + head), lora.Sum(g => g.Flops * g.Count));
        IReadOnlyList<StepGemm> grad = StepGemmRoof.Gemms(c, tokens, micro, StepBench.ScoredWeights(c, PruneCriterion.Grad, LlamaLinears.All));
        Assert.Equal(2.0 * tokens * micro * linears, grad.Sum(g => g.Flops * g.Count) - lora.Sum(g => g.Flops * g.Count));
    }

    [Theory]
    [InlineData("lora_linear_forward", OpClass.Gemm)]
    [InlineData("lora_linear_backward", OpClass.Gemm)]
    [InlineData("attention_backward", OpClass.Attention)]
    [InlineData("cross_entropy_forward_backward", OpClass.CrossEntropy)]
    [InlineData("importance_accumulate", OpClass.Importance)]
    [InlineData("adamw_step", OpClass.Optimizer)]
    [InlineData("grad_clip", OpClass.Optimizer)]
    [InlineData("swiglu_forward", OpClass.Elementwise)]
    public void Ops_fall_in_their_class(string op, OpClass expected) => Assert.Equal(expected, OpClasses.Of(op));

    [Theory]
    [InlineData("--criterion", "random")]
    [InlineData("--batch", "3", "--micro-batch", "2")]
    [InlineData("--model", "somewhere")]
    public void Usage_errors_exit_2_with_one_line(params string[] extra)
    {
        var (exit, _, errors) = CliRunner.Run(["bench", "step", "--config", TinyConfigFile(), "--device", "cpu", .. extra]);
        Assert.Equal(2, exit);
        Assert.StartsWith("bench step: ", errors);
    }

    [Fact]
    public void Page_puts_machine_commit_and_each_result_with_its_command_under_one_title()
    {
        string kernels = _folder.File("kernels"), step = _folder.File("step"), page = _folder.File("benchmarks.md");
        Assert.Equal(0, CliRunner.Run("bench", "kernels", "--quick", "--backend", "cpu", "--out", kernels).Exit);
        Assert.Equal(0, CliRunner.Run("bench", "step", "--config", TinyConfigFile(), "--device", "cpu", "--batch", "2", "--seq", "4", "--criterion", "lora",
                                      "--warmup", "0", "--repeat", "1", "--profile-steps", "0", "--out", step).Exit);
        var (exit, output, errors) = CliRunner.Run("bench", "page", "--out", page, kernels, step);
        Assert.True(exit == 0, $"exit {exit}\n{output}\n{errors}");
        string text = File.ReadAllText(page);
        Assert.StartsWith("# Benchmarks\n", text);
        Assert.Contains("- machine: ", text);
        Assert.Contains("## loraprune bench kernels", text);
        Assert.Contains("- command: `loraprune bench kernels --quick --backend cpu", text);
        Assert.Contains("## loraprune bench step: cpu", text);
        Assert.Contains("command: `loraprune bench step --config", text);
        Assert.True(text.IndexOf("bench kernels", StringComparison.Ordinal) < text.IndexOf("bench step:", StringComparison.Ordinal));

        string empty = _folder.File("empty");
        Directory.CreateDirectory(empty);
        var missing = CliRunner.Run("bench", "page", "--out", page, empty);
        Assert.Equal(1, missing.Exit);
        Assert.Contains("holds neither", missing.Err);
    }
}
