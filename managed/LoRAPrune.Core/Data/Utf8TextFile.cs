// Utf8TextFile.cs — reads a text file as strict UTF-8: an invalid or truncated byte sequence is an
// error naming the file and the byte offset, never a silent U+FFFD that would change token counts.
// A leading UTF-8 byte-order mark is dropped (editors on Windows write one); nothing else is changed.
using System.Buffers;
using System.Text.Unicode;

namespace LoRAPrune.Core.Data;

/// <summary>Strict UTF-8 text file reading.</summary>
public static class Utf8TextFile
{
    private static ReadOnlySpan<byte> ByteOrderMark => [0xEF, 0xBB, 0xBF];

    /// <summary>The whole file as a string; throws <see cref="DataFileException"/> when it is missing or not UTF-8.</summary>
    public static string Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFileException(path, e is FileNotFoundException or DirectoryNotFoundException ? "file does not exist" : $"cannot read: {e.Message}", e);
        }
        return Decode(bytes, path);
    }

    /// <summary>Decodes <paramref name="bytes"/>; <paramref name="path"/> names the source in errors.</summary>
    public static string Decode(ReadOnlySpan<byte> bytes, string path)
    {
        int start = bytes.StartsWith(ByteOrderMark) ? ByteOrderMark.Length : 0;
        ReadOnlySpan<byte> body = bytes[start..];
        char[] chars = ArrayPool<char>.Shared.Rent(Math.Max(1, body.Length));
        try
        {
            OperationStatus status = Utf8.ToUtf16(body, chars, out int read, out int written, replaceInvalidSequences: false, isFinalBlock: false);
            if (status == OperationStatus.Done) return new string(chars, 0, written);
            string what = status == OperationStatus.NeedMoreData ? "truncated UTF-8 sequence" : "invalid UTF-8 byte";
            throw new DataFileException(path, $"not UTF-8 text: {what} 0x{body[read]:X2} at byte offset {start + read}");
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }
}
