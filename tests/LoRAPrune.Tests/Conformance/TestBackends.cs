// TestBackends.cs — which backend variants the conformance suite runs on: every backend library
// that loads (cpu, cudaemu in each barrier order, cuda when a GPU is present), or the list in
// LORAPRUNE_TEST_BACKENDS. LORAPRUNE_REQUIRE_BACKENDS names libraries that must be present (CI).
using LoRAPrune.Native;

namespace LoRAPrune.Tests.Conformance;

/// <summary>A backend plus, for the CUDA emulator, the barrier order its kernels run in.</summary>
public sealed record BackendVariant(string Name, Backend Backend, EmulationOrder Order)
{
    public Context CreateContext()
    {
        var ctx = Backend.CreateContext();
        if (Backend.Kind == BackendKind.CudaEmulated) ctx.SetEmulationOrder(Order, seed: 20260611);
        return ctx;
    }

    public override string ToString() => Name;
}

public static class TestBackends
{
    private static readonly Lazy<IReadOnlyList<BackendVariant>> variants = new(Discover);

    public static IReadOnlyList<BackendVariant> Variants => variants.Value;

    public static BackendVariant Get(string name) =>
        Variants.FirstOrDefault(v => v.Name == name) ?? throw new InvalidOperationException($"backend variant '{name}' is not loaded");

    /// <summary>Names of the requested backend libraries (LORAPRUNE_TEST_BACKENDS, default: all known).</summary>
    public static IReadOnlyList<string> Requested =>
        (Environment.GetEnvironmentVariable("LORAPRUNE_TEST_BACKENDS") is { Length: > 0 } list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : Backend.KnownNames).ToList();

    private static IReadOnlyList<BackendVariant> Discover()
    {
        var result = new List<BackendVariant>();
        foreach (var name in Requested)
        {
            if (!Backend.TryLoad(name, out var backend, out _) || backend is null) continue;
            if (backend.DeviceCount == 0) continue; // a CUDA build on a machine without a GPU
            if (backend.Kind == BackendKind.CudaEmulated)
            {
                result.Add(new BackendVariant($"{name}/forward", backend, EmulationOrder.Forward));
                result.Add(new BackendVariant($"{name}/reverse", backend, EmulationOrder.Reverse));
                result.Add(new BackendVariant($"{name}/shuffled", backend, EmulationOrder.Shuffled));
            }
            else
            {
                result.Add(new BackendVariant(name, backend, EmulationOrder.Forward));
            }
        }
        return result;
    }
}
