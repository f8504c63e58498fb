// AtomicFile.cs — writes a whole file atomically (temporary file in the same folder, flush, rename),
// the one way every writer in LoRAPrune.Core.IO puts a file on disk.
using System.Text;

namespace LoRAPrune.Core.IO;

/// <summary>Atomic whole-file writes: readers see the old file or the complete new one, never a part.</summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>; on any exception nothing changes.</summary>
    public static void Write(string path, Action<FileStream> write)
    {
        using StagedFile staged = StagedFile.Write(path, write);
        staged.Commit();
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 without a byte-order mark.</summary>
    public static void WriteText(string path, string text) =>
        Write(path, stream => stream.Write(new UTF8Encoding(false).GetBytes(text)));
}
