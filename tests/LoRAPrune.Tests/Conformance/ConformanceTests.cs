// ConformanceTests.cs — every op x every backend variant x aligned and odd shapes, against the
// float64 reference (DESIGN §6). One theory per op family; each (backend, case) pair is its own
// test, named like `rmsnorm(backend: "cudaemu/reverse", op: "rmsnorm_backward(rows=5,cols=13)")`.
using System.Text.RegularExpressions;
using LoRAPrune.Native;

namespace LoRAPrune.Tests.Conformance;

public class ConformanceTests
{
    private static readonly Dictionary<string, Func<IEnumerable<OpCase>>> Families = new()
    {
        ["embedding"] = CasesElementwise.Embedding,
        ["rmsnorm"] = CasesElementwise.RmsNorm,
        ["rope"] = CasesElementwise.Rope,
        ["swiglu"] = CasesElementwise.SwiGlu,
        ["dropout"] = CasesElementwise.Dropout,
        ["gather"] = CasesElementwise.Gather,
        ["elementwise"] = CasesElementwise.Elementwise,
        ["gemm"] = CasesLinear.Gemm,
        ["lora_linear"] = CasesLinear.LoraLinear,
        ["lora_merge"] = CasesLinear.LoraMerge,
        ["bias"] = CasesLinear.Bias,
        ["attention"] = CasesAttention.Attention,
        ["cross_entropy"] = CasesTraining.CrossEntropy,
        ["adamw"] = CasesTraining.AdamW,
        ["grad_norm"] = CasesTraining.GradNorm,
        ["importance"] = CasesTraining.Importance,
        ["bf16_activations"] = CasesBf16Activations.All,
    };

    private static readonly Lazy<Dictionary<string, OpCase>> AllCases = new(() =>
        Families.Values.SelectMany(f => f()).ToDictionary(c => c.Name));

    /// <summary>Every conformance case of every family, by name.</summary>
    public static IReadOnlyDictionary<string, OpCase> Cases => AllCases.Value;

    public static IEnumerable<object[]> Data(string family) =>
        from v in TestBackends.Variants
        from c in Families[family]()
        select new object[] { v.Name, c.Name };

    /// <summary>Runs one case on one variant and verifies it: guard bytes, unchanged inputs and every
    /// expectation the case recorded. Throws when anything failed; otherwise hands the case's context
    /// to <paramref name="inspect"/> (the knockout test reads the emulator's barrier record there).</summary>
    internal static void RunCase(BackendVariant variant, OpCase opCase, Action<Context>? inspect = null)
    {
        using var h = new OpHarness(variant, opCase.Name);
        opCase.Run(h);
        h.Verify();
        inspect?.Invoke(h.Context);
    }

    private static void Run(string backend, string op) => RunCase(TestBackends.Get(backend), AllCases.Value[op]);

    [Theory, MemberData(nameof(Data), "embedding")] public void embedding(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "rmsnorm")] public void rmsnorm(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "rope")] public void rope(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "swiglu")] public void swiglu(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "dropout")] public void dropout(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "gather")] public void gather(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "elementwise")] public void elementwise(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "gemm")] public void gemm(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "lora_linear")] public void lora_linear(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "lora_merge")] public void lora_merge(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "bias")] public void bias(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "attention")] public void attention(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "cross_entropy")] public void cross_entropy(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "adamw")] public void adamw(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "grad_norm")] public void grad_norm(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "importance")] public void importance(string backend, string op) => Run(backend, op);
    [Theory, MemberData(nameof(Data), "bf16_activations")] public void bf16_activations(string backend, string op) => Run(backend, op);

    /// <summary>Every lp_op_* declared in lp.h has at least one conformance case, so a new op
    /// cannot land untested.</summary>
    [Fact]
    public void every_op_of_the_abi_has_cases()
    {
        var header = RepoFiles.Read("native/include/loraprune/lp.h");
        var ops = Regex.Matches(header, @"LP_API lp_status lp_op_(\w+)\(").Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.NotEmpty(ops);
        var covered = AllCases.Value.Keys.Select(k => k.Split('(')[0]).ToHashSet();
        var missing = ops.Where(o => !covered.Contains(o)).ToList();
        Assert.True(missing.Count == 0, "ops without conformance cases: " + string.Join(", ", missing));
    }

    /// <summary>CI names the backend libraries it built (LORAPRUNE_REQUIRE_BACKENDS=cpu,cudaemu): a
    /// library that fails to load must fail the run, not silently shrink the matrix. A required
    /// library that is also requested for testing must be under test, and must come from
    /// LORAPRUNE_NATIVE_DIR when that is set (the sanitizer run must not test an ordinary build).</summary>
    [Fact]
    public void required_backends_are_loaded()
    {
        var required = Environment.GetEnvironmentVariable("LORAPRUNE_REQUIRE_BACKENDS") ?? "cpu";
        var folder = Environment.GetEnvironmentVariable("LORAPRUNE_NATIVE_DIR");
        foreach (var name in required.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            Assert.True(Backend.TryLoad(name, out var backend, out var trace), $"backend '{name}' is required but did not load:\n{trace}");
            if (TestBackends.Requested.Contains(name)) Assert.Contains(TestBackends.Variants, v => v.Backend.Name == name);
            if (!string.IsNullOrEmpty(folder))
                Assert.True(Path.GetDirectoryName(backend!.LibraryPath) == Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)),
                            $"backend '{name}' was loaded from {backend.LibraryPath}, not from LORAPRUNE_NATIVE_DIR={folder}");
        }
    }
}

/// <summary>Finds files of the repository from the test's output folder.</summary>
public static class RepoFiles
{
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "LoRAPrune.sln"))) return dir.FullName;
            throw new DirectoryNotFoundException($"no LoRAPrune.sln above {AppContext.BaseDirectory}");
        }
    }

    public static string Read(string relative) => File.ReadAllText(Path.Combine(Root, relative));
}
