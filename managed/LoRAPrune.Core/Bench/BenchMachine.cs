// BenchMachine.cs — one line naming the machine a benchmark ran on (CPU model and logical processors, OS), for
// report headers: a number in a results page is only meaningful next to the hardware that produced it.
using System.Runtime.InteropServices;

namespace LoRAPrune.Core.Bench;

public static class BenchMachine
{
    /// <summary>"AMD EPYC 7B13, 2 logical processors, Ubuntu 24.04.1 LTS X64, .NET 10.0.0".</summary>
    public static string Describe()
    {
        string cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU"
            : "unknown CPU";
        return $"{cpu}, {Environment.ProcessorCount} logical processors, {RuntimeInformation.OSDescription.Trim()} {RuntimeInformation.OSArchitecture}, .NET {Environment.Version}";
    }
}
