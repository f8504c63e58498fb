// DataFileException.cs — the one error the data sources and the corpus cache throw for input that
// cannot be used: a text file that is not UTF-8, a token file of the wrong length, a bad JSONL line,
// a split that was never fetched. One line naming the file (and line or byte offset) and the problem.
namespace LoRAPrune.Core.Data;

/// <summary>A data file or named split that cannot be used, with the file and the reason in the message.</summary>
public sealed class DataFileException : Exception
{
    /// <summary>"{path}: {problem}".</summary>
    public DataFileException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>The file, split or folder that could not be used (with ":line" for line-oriented formats).</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
}
