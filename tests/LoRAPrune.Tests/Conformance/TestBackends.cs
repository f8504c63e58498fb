// TestBackends.cs — which backend variants the tests run on: every backend library that loads
// (cpu, cudaemu in each barrier order, cuda when a GPU is present), or the list in
// LORAPRUNE_TEST_BACKENDS. The cpu backend is the host and oracle of many tests, so it is always
// loaded and Get("cpu") always works; only the backends under test are restricted.
// LORAPRUNE_REQUIRE_BACKENDS names libraries that must be present (CI).
using LoRAPrune.Native;

namespace LoRAPrune.Tests.Conformance;

/// <summary>A backend plus, for the CUDA emulator, the barrier order its kernels run in and the
/// barrier site knocked out (none unless the knockout test sets one).</summary>
public sealed record BackendVariant(string Name, Backend Backend, EmulationOrder Order, string? Knockout = null)
{
    public Context CreateContext()
    {
        var ctx = Backend.CreateContext();
        try
        {
            if (Backend.Kind == BackendKind.CudaEmulated) ctx.SetEmulationOrder(Order, seed: 20260611);
            if (Knockout is not null) ctx.SetEmulationKnockout(Knockout);
        }
        catch
        {
            ctx.Dispose();
            throw;
        }
        return ctx;
    }

    public override string ToString() => Name;
}

public static class TestBackends
{
    private const string HostName = "cpu";

    private static readonly Lazy<IReadOnlyList<BackendVariant>> variants = new(Discover);
    private static readonly Lazy<BackendVariant> host = new(() => new BackendVariant(HostName, Backend.Load(HostName), EmulationOrder.Forward));

    /// <summary>The variants under test: those of the requested backends that loaded and have a device.</summary>
    public static IReadOnlyList<BackendVariant> Variants => variants.Value;

    /// <summary>The cpu backend, loaded whatever LORAPRUNE_TEST_BACKENDS says: the host and oracle of
    /// tests that are not about one backend.</summary>
    public static BackendVariant Host => host.Value;

    /// <summary>A variant under test by name; "cpu" is always available (as the host).</summary>
    public static BackendVariant Get(string name) =>
        Variants.FirstOrDefault(v => v.Name == name) ?? (name == HostName ? Host : throw new InvalidOperationException(
            $"backend variant '{name}' is not under test (loaded: {string.Join(", ", Variants.Select(v => v.Name))}; LORAPRUNE_TEST_BACKENDS={Environment.GetEnvironmentVariable("LORAPRUNE_TEST_BACKENDS") ?? "unset"})"));

    /// <summary>Names of the requested backend libraries (LORAPRUNE_TEST_BACKENDS, default: all known).</summary>
    public static IReadOnlyList<string> Requested =>
        (Environment.GetEnvironmentVariable("LORAPRUNE_TEST_BACKENDS") is { Length: > 0 } list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : Backend.KnownNames).ToList();

    /// <summary>The CUDA emulator variants under test (one per barrier order); empty when cudaemu is not.</summary>
    public static IReadOnlyList<BackendVariant> Emulated => Variants.Where(v => v.Backend.Kind == BackendKind.CudaEmulated).ToList();

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
