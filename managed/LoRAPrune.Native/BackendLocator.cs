// BackendLocator.cs — where a backend library is looked for, in order, and the file name it has
// on this OS. Every candidate path and the reason it was not used ends up in the load trace, so
// "backend not found" always says where it looked.
using System.Runtime.InteropServices;

namespace LoRAPrune.Native;

internal static class BackendLocator
{
    public const string DirectoryVariable = "LORAPRUNE_NATIVE_DIR";

    /// <summary>The runtime identifier of the staging folders (artifacts/native/&lt;rid&gt;, runtimes/&lt;rid&gt;/native).</summary>
    public static string RuntimeId
    {
        get
        {
            string os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
            string arch = RuntimeInformation.ProcessArchitecture switch
            {
                Architecture.X64 => "x64",
                Architecture.Arm64 => "arm64",
                Architecture.X86 => "x86",
                Architecture.Arm => "arm",
                var other => other.ToString().ToLowerInvariant(),
            };
            return os + "-" + arch;
        }
    }

    /// <summary>libloraprune_&lt;name&gt;.so, loraprune_&lt;name&gt;.dll or libloraprune_&lt;name&gt;.dylib.</summary>
    public static string FileName(string name)
    {
        if (OperatingSystem.IsWindows()) return $"loraprune_{name}.dll";
        if (OperatingSystem.IsMacOS()) return $"libloraprune_{name}.dylib";
        return $"libloraprune_{name}.so";
    }

    /// <summary>
    /// The search directories, in order: $LORAPRUNE_NATIVE_DIR, &lt;base&gt;/runtimes/&lt;rid&gt;/native,
    /// &lt;base&gt;, then the nearest artifacts/native/&lt;rid&gt; above &lt;base&gt; (developer runs from
    /// the source tree). Notes explain directories that could not be searched.
    /// </summary>
    public static List<string> SearchDirectories(List<string> notes)
    {
        var dirs = new List<string>();
        string? env = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (string.IsNullOrWhiteSpace(env)) notes.Add($"${DirectoryVariable}: not set");
        else dirs.Add(Path.GetFullPath(env));

        string baseDir = Path.GetFullPath(AppContext.BaseDirectory);
        dirs.Add(Path.Combine(baseDir, "runtimes", RuntimeId, "native"));
        dirs.Add(baseDir);

        string? staged = FindStagingDirectory(baseDir);
        if (staged is null) notes.Add($"artifacts/native/{RuntimeId}/: not found in {baseDir} or any folder above it");
        else dirs.Add(staged);

        return dirs.Select(d => Path.TrimEndingDirectorySeparator(d)).Distinct(StringComparer.Ordinal).ToList();
    }

    private static string? FindStagingDirectory(string start)
    {
        for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "artifacts", "native", RuntimeId);
            if (Directory.Exists(candidate)) return candidate;
        }
        return null;
    }
}
