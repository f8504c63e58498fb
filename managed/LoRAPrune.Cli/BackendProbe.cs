// BackendProbe.cs — what one backend can do on this machine: whether its library loads (and, if
// not, why, in one line), its build info and its devices. Shared by `devices`, `--version` and the
// backend choice of the commands that run models.
using LoRAPrune.Native;

namespace LoRAPrune.Cli;

internal sealed record BackendProbe(
    string Name,
    string FileName,
    Backend? Backend,
    string? LoadProblem,
    string LoadTrace,
    IReadOnlyList<DeviceInfo> Devices,
    string? DeviceProblem)
{
    public bool Loaded => Backend is not null;

    /// <summary>Probes every known backend, in Backend.KnownNames order.</summary>
    public static IReadOnlyList<BackendProbe> ProbeAll() => Backend.KnownNames.Select(Probe).ToList();

    public static BackendProbe Probe(string name)
    {
        string file = Backend.LibraryFileName(name);
        Backend backend;
        try
        {
            backend = Backend.Load(name);
        }
        catch (BackendLoadException e)
        {
            return new BackendProbe(name, file, null, Summarise(name, file, e.Tried), e.Message, Array.Empty<DeviceInfo>(), null);
        }
        try
        {
            var devices = new List<DeviceInfo>();
            for (int i = 0; i < backend.DeviceCount; i++) devices.Add(backend.GetDeviceInfo(i));
            return new BackendProbe(name, file, backend, null, backend.LoadTrace, devices, null);
        }
        catch (NativeException e)
        {
            return new BackendProbe(name, file, backend, null, backend.LoadTrace, Array.Empty<DeviceInfo>(), e.NativeMessage);
        }
    }

    /// <summary>One line on how this backend stands ("available", "not available (...)", ...).</summary>
    public string Status
    {
        get
        {
            if (Backend is null) return $"not available ({LoadProblem})";
            if (DeviceProblem is not null) return $"built, but its devices cannot be queried: {DeviceProblem}";
            if (Devices.Count == 0)
                return Backend.Kind == BackendKind.Cuda ? "built, but no CUDA device was found" : "built, but it reports no device";
            return "available";
        }
    }

    /// <summary>The value of one "key=value" line of the build info, or null.</summary>
    public string? BuildValue(string key) => Backend is null ? null : BuildProperties(Backend.BuildInfo).GetValueOrDefault(key);

    public static Dictionary<string, string> BuildProperties(string buildInfo)
    {
        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in buildInfo.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = line.IndexOf('=');
            if (eq > 0) properties[line[..eq]] = line[(eq + 1)..];
        }
        return properties;
    }

    // The load trace in one line: the first real failure, or "<file> not found" when nothing was there.
    private static string Summarise(string name, string file, IReadOnlyList<string> tried)
    {
        foreach (string entry in tried)
        {
            int split = entry.LastIndexOf(": ", StringComparison.Ordinal);
            string reason = split < 0 ? entry : entry[(split + 2)..];
            if (reason != "not found" && reason != "not set" && !reason.StartsWith("not found in", StringComparison.Ordinal)) return entry;
        }
        string hint = name switch
        {
            "cuda" => " — no CUDA build",
            "cudaemu" => " — the emulated CUDA backend was not built",
            _ => " — build the native libraries with CMake",
        };
        return $"{file} not found{hint}";
    }
}
