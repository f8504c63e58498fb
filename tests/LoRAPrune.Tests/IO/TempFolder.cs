// TempFolder.cs — a fresh temporary folder per test for the model I/O tests, deleted afterwards, so
// tests write their own small files and never share or leave state.
namespace LoRAPrune.Tests.IO;

/// <summary>A temporary folder removed on Dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Path = Directory.CreateTempSubdirectory("loraprune-io-").FullName;

    /// <summary>The folder's absolute path.</summary>
    public string Path { get; }

    /// <summary>A path inside the folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Names of everything in the folder, hidden temporary files included, sorted.</summary>
    public string[] Entries() => [.. Directory.EnumerateFileSystemEntries(Path).Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal)!];

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
