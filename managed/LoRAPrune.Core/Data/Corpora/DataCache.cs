// DataCache.cs — where fetched corpora live and how a named split ("sotu:test") becomes a file:
// <cache>/packages (verified tarballs), <cache>/sources (extracted files), <cache>/splits (split texts),
// <cache>/manifest.json. The cache is LORAPRUNE_CACHE, else ~/.cache/loraprune, unless a command says otherwise.
namespace LoRAPrune.Core.Data;

/// <summary>The layout of one corpus cache folder.</summary>
public sealed class DataCache
{
    /// <summary>Environment variable that moves the default cache.</summary>
    public const string EnvironmentVariable = "LORAPRUNE_CACHE";

    /// <summary>The manifest file name.</summary>
    public const string ManifestFileName = "manifest.json";

    public DataCache(string root) => Root = Path.GetFullPath(root);

    /// <summary>The cache folder.</summary>
    public string Root { get; }

    /// <summary>Verified tarballs.</summary>
    public string PackagesFolder => Path.Combine(Root, "packages");

    /// <summary>Files extracted from the tarballs, one folder per package.</summary>
    public string SourcesFolder => Path.Combine(Root, "sources");

    /// <summary>The split text files.</summary>
    public string SplitsFolder => Path.Combine(Root, "splits");

    /// <summary>What was fetched and built, with hashes (written last).</summary>
    public string ManifestPath => Path.Combine(Root, ManifestFileName);

    /// <summary>The cache named by <paramref name="folder"/>, else by LORAPRUNE_CACHE, else ~/.cache/loraprune.</summary>
    public static DataCache Resolve(string? folder = null)
    {
        if (!string.IsNullOrEmpty(folder)) return new DataCache(folder);
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } fromEnvironment) return new DataCache(fromEnvironment);
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return new DataCache(Path.Combine(home, ".cache", "loraprune"));
    }

    /// <summary>True when <paramref name="value"/> has the form of a split name ("corpus:part", lower-case letters).</summary>
    public static bool LooksLikeSplitName(string value)
    {
        int colon = value.IndexOf(':');
        return colon > 0 && colon < value.Length - 1 && value.Count(c => c == ':') == 1 &&
               value.All(c => c == ':' || c is >= 'a' and <= 'z');
    }

    /// <summary>The file of split <paramref name="name"/>; throws <see cref="DataFileException"/> for an unknown
    /// split or one that has not been fetched.</summary>
    public string ResolveSplit(string name)
    {
        SplitDefinition split = CorpusSplits.Find(name)
            ?? throw new DataFileException(name, $"unknown split (known: {string.Join(", ", CorpusSplits.All.Select(s => s.Name))})");
        string path = Path.Combine(SplitsFolder, split.FileName);
        if (!File.Exists(path) || !File.Exists(ManifestPath))
            throw new DataFileException(name, $"not in the data cache {Root}; run `loraprune data fetch` first");
        return path;
    }
}
