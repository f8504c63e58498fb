// ModelFormatException.cs — the one error every reader and writer in LoRAPrune.Core.IO throws for a
// bad model, adapter or config file: a single line naming the file, the tensor or field when there is
// one, and the problem, so the command line can print it unchanged and exit non-zero.
using System.Text;

namespace LoRAPrune.Core.IO;

/// <summary>A model, adapter or config file is missing, truncated, inconsistent or hostile.</summary>
public sealed class ModelFormatException : Exception
{
    /// <summary>"{file}: {problem}".</summary>
    public ModelFormatException(string file, string problem, Exception? inner = null)
        : base(OneLine($"{file}: {problem}"), inner)
    {
        File = file;
        Problem = problem;
    }

    /// <summary>"{file}: tensor '{tensor}': {problem}".</summary>
    public ModelFormatException(string file, string tensor, string problem, Exception? inner)
        : base(OneLine($"{file}: tensor {Quote(tensor)}: {problem}"), inner)
    {
        File = file;
        Tensor = tensor;
        Problem = problem;
    }

    /// <summary>The file the problem is in, as named in the message (a file name, not a full path).</summary>
    public string File { get; }

    /// <summary>The tensor the problem is about, when there is one.</summary>
    public string? Tensor { get; }

    /// <summary>The problem alone, without the file and tensor prefix.</summary>
    public string Problem { get; }

    /// <summary>
    /// Quotes a name taken from a file for an error message: control characters are escaped and very long
    /// names are cut, so a hostile name cannot break the one-line message or flood the terminal.
    /// </summary>
    public static string Quote(string name)
    {
        const int MaxChars = 200;
        var sb = new StringBuilder(Math.Min(name.Length, MaxChars) + 8);
        sb.Append('\'');
        foreach (char c in name.Length > MaxChars ? name[..MaxChars] : name)
        {
            if (char.IsControl(c)) sb.Append($"\\u{(int)c:x4}");
            else sb.Append(c);
        }
        if (name.Length > MaxChars) sb.Append("...");
        sb.Append('\'');
        return sb.ToString();
    }

    private static string OneLine(string message) => message.Replace('\r', ' ').Replace('\n', ' ');
}
