// DataFetchException.cs — why `loraprune data fetch` could not produce the corpus cache: a download
// that failed, a tarball whose SHA-512 is not the pinned one, or an archive without the expected files.
namespace LoRAPrune.Core.Data;

/// <summary>A corpus download, integrity check or extraction failed; the message is one line for the user.</summary>
public sealed class DataFetchException : Exception
{
    public DataFetchException(string message, Exception? inner = null) : base(message, inner) { }
}
