// ProcessMemory.cs — the process's peak resident set (Linux VmHWM), and its reset, so `bench step` can report the peak
// RSS of each criterion in one process: writing "5" to /proc/self/clear_refs restarts the high-water mark (Linux 4.0+).
// Elsewhere both calls report that they cannot, and the bench leaves the column empty.
namespace LoRAPrune.Core.Bench;

public static class ProcessMemory
{
    private const string ClearRefs = "/proc/self/clear_refs";
    private const string Status = "/proc/self/status";

    /// <summary>Restarts the peak-RSS mark at the current resident set; false where the OS offers no way to.</summary>
    public static bool ResetPeakResident()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(ClearRefs)) return false;
        try
        {
            File.WriteAllText(ClearRefs, "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Peak resident set in bytes since the process started or the last reset; null where it cannot be read.</summary>
    public static long? PeakResident()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(Status)) return null;
        foreach (string line in File.ReadLines(Status))
        {
            // "VmHWM:    480512 kB"
            if (!line.StartsWith("VmHWM:", StringComparison.Ordinal)) continue;
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return parts.Length >= 2 && long.TryParse(parts[1], out long kib) ? kib * 1024 : null;
        }
        return null;
    }
}
