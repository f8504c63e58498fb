// StagedFile.cs — the first half of an atomic write: the content goes to a hidden temporary file in
// the destination's folder and is flushed to disk; Commit renames it over the destination, Dispose
// without Commit deletes it. A failed write therefore never leaves a partial or clobbered file.
namespace LoRAPrune.Core.IO;

/// <summary>A fully written temporary file waiting to replace its destination.</summary>
internal sealed class StagedFile : IDisposable
{
    private bool _done;

    private StagedFile(string destination, string tempPath)
    {
        Destination = destination;
        TempPath = tempPath;
    }

    /// <summary>The path the content will have after Commit.</summary>
    public string Destination { get; }

    /// <summary>The hidden temporary file holding the content until Commit.</summary>
    public string TempPath { get; }

    /// <summary>Writes the content through <paramref name="write"/> into a temporary file beside
    /// <paramref name="destination"/>; if <paramref name="write"/> throws, the temporary file is removed.</summary>
    public static StagedFile Write(string destination, Action<FileStream> write)
    {
        string full = Path.GetFullPath(destination);
        string folder = Path.GetDirectoryName(full)!;
        string temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            return new StagedFile(full, temp);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Renames the temporary file over the destination (replacing any existing file).</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_done, this);
        File.Move(TempPath, Destination, overwrite: true);
        _done = true;
    }

    /// <summary>Deletes the temporary file unless it was committed.</summary>
    public void Dispose()
    {
        if (_done) return;
        _done = true;
        TryDelete(TempPath);
    }

    private static void TryDelete(string path)
    {
        // Only called on a failure path: the original error is the one worth reporting.
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
