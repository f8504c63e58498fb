// BackendFactAttributes.cs — tests that need a backend besides the cpu one among the backends under
// test (the CUDA emulator, or any device backend); they are reported as skipped, with the reason,
// where it is not loaded or not requested, instead of passing without running.
using LoRAPrune.Native;

namespace LoRAPrune.Tests.Conformance;

/// <summary>A test that needs the CUDA emulator (cudaemu) under test.</summary>
public sealed class EmulatorFactAttribute : FactAttribute
{
    public EmulatorFactAttribute()
    {
        if (TestBackends.Emulated.Count == 0)
            Skip = "the CUDA emulator (cudaemu) is not under test: it did not load, or LORAPRUNE_TEST_BACKENDS leaves it out";
    }
}

/// <summary>A test that needs a backend under test besides the cpu one (cudaemu or cuda).</summary>
public sealed class DeviceBackendFactAttribute : FactAttribute
{
    public DeviceBackendFactAttribute()
    {
        if (!TestBackends.Variants.Any(v => v.Backend.Kind != BackendKind.Cpu))
            Skip = "no device backend (cudaemu, or cuda with a GPU) is under test";
    }
}
