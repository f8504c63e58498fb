// TokenizerFileException — thrown when a tokenizer file is missing, malformed or of an unsupported kind;
// the message always names the file and the problem so a user can fix the model folder.
namespace LoRAPrune.Core.Text;

/// <summary>A tokenizer file that cannot be used, with the file and the reason in the message.</summary>
public sealed class TokenizerFileException : Exception
{
    public TokenizerFileException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>The file (or folder) that could not be used.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
}
