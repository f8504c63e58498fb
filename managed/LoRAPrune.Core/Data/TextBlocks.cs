// TextBlocks.cs — plain-text training data: UTF-8 files joined with "\n\n" (as the perplexity protocol
// joins rows), tokenized once with one BOS at the very start, then cut into blocks of T+1 ids
// (see TokenBlocks). The pretraining and language-model fine-tuning source.
using LoRAPrune.Core.Text;

namespace LoRAPrune.Core.Data;

/// <summary>Blocks of T tokens from one or more plain-text files.</summary>
public sealed class TextBlocks : TokenBlocks
{
    /// <summary>The separator put between files before tokenizing.</summary>
    public const string FileSeparator = "\n\n";

    private readonly string _files;

    private TextBlocks(int[] ids, int sequenceLength, string files, bool hasBos) : base(ids, sequenceLength)
    {
        _files = files;
        HasBos = hasBos;
    }

    /// <summary>True when the stream starts with the tokenizer's BOS (false only for tokenizers without one).</summary>
    public bool HasBos { get; }

    /// <inheritdoc/>
    public override string Description => $"{_files}: {BlockSummary}, {(HasBos ? "BOS at the start" : "no BOS (the tokenizer has none)")}";

    /// <summary>Reads, joins and tokenizes <paramref name="files"/>; throws <see cref="DataFileException"/> for
    /// a missing, empty or non-UTF-8 file or when the stream has fewer than T+1 tokens.</summary>
    public static TextBlocks Load(IReadOnlyList<string> files, ITokenizer tokenizer, int sequenceLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        if (files.Count == 0) throw new ArgumentException("no text files given", nameof(files));
        var texts = new List<string>(files.Count);
        foreach (string file in files)
        {
            string text = Utf8TextFile.Read(file);
            if (text.Length == 0) throw new DataFileException(file, "file is empty");
            texts.Add(text);
        }
        int[] ids = tokenizer.Encode(string.Join(FileSeparator, texts), addBos: true);
        string name = files.Count == 1 ? files[0] : $"{files[0]} (+{files.Count - 1} more)";
        if (ids.Length < sequenceLength + 1)
            throw new DataFileException(name, $"only {ids.Length:N0} tokens, fewer than one block of {sequenceLength} + 1");
        return new TextBlocks(ids, sequenceLength, name, tokenizer.BosId is not null);
    }
}
