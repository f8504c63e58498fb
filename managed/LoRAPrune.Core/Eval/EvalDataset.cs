// EvalDataset.cs — one data set to score, already as the protocol's single id stream: a named split
// of the corpus cache or a text file (tokenized once, one BOS at the start), or a token file (ids as
// stored, no BOS). Carries the names and the BOS handling every result line must state.
using LoRAPrune.Core.Data;
using LoRAPrune.Core.Text;

namespace LoRAPrune.Core.Eval;

/// <summary>A data set as one id stream plus what the report says about it.</summary>
/// <param name="Name">Data set name: the corpus of a split ("sotu") or the file name.</param>
/// <param name="Split">The split ("test") or "file" / "tokens" for files given by path.</param>
/// <param name="Bos">BOS handling, one word: see <see cref="BosAtStart"/>, <see cref="BosNonePreTokenized"/>, <see cref="BosNoneInTokenizer"/>.</param>
/// <param name="Ids">The whole id stream.</param>
/// <param name="Files">The files read.</param>
public sealed record EvalDataset(string Name, string Split, string Bos, int[] Ids, IReadOnlyList<string> Files)
{
    /// <summary>Text tokenized once with a single BOS at the very start.</summary>
    public const string BosAtStart = "single-bos-at-start";

    /// <summary>A token file: ids used as stored, nothing added.</summary>
    public const string BosNonePreTokenized = "none-pretokenized";

    /// <summary>Text, but the tokenizer defines no BOS.</summary>
    public const string BosNoneInTokenizer = "none-tokenizer-has-no-bos";

    /// <summary>Split <paramref name="splitName"/> ("sotu:test") of <paramref name="cache"/>, tokenized.</summary>
    public static EvalDataset FromSplit(DataCache cache, string splitName, ITokenizer tokenizer, int modelVocab)
    {
        string path = cache.ResolveSplit(splitName);
        string[] parts = splitName.Split(':');
        return FromText(parts[0], parts[1], [path], tokenizer, modelVocab);
    }

    /// <summary>A UTF-8 text file, tokenized; named after the file, split "file".</summary>
    public static EvalDataset FromTextFile(string path, ITokenizer tokenizer, int modelVocab) =>
        FromText(Path.GetFileName(path), "file", [path], tokenizer, modelVocab);

    /// <summary>A token file (see <see cref="TokenFile"/>), ids checked against <paramref name="modelVocab"/>.</summary>
    public static EvalDataset FromTokenFile(string path, int modelVocab) =>
        new(Path.GetFileName(path), "tokens", BosNonePreTokenized, TokenFile.ReadIds(path, modelVocab), [path]);

    /// <summary>Texts read strictly as UTF-8, joined and tokenized by the protocol; every id must be below <paramref name="modelVocab"/>.</summary>
    public static EvalDataset FromText(string name, string split, IReadOnlyList<string> files, ITokenizer tokenizer, int modelVocab)
    {
        var texts = new List<string>(files.Count);
        foreach (string file in files)
        {
            string text = Utf8TextFile.Read(file);
            if (text.Length == 0) throw new DataFileException(file, "file is empty");
            texts.Add(text);
        }
        int[] ids = PerplexityProtocol.Tokenize(texts, tokenizer);
        int bad = Array.FindIndex(ids, id => id >= modelVocab);
        if (bad >= 0)
            throw new DataFileException(files[0], $"tokenizer {tokenizer.Name} produced id {ids[bad]}, but the model's vocab_size is {modelVocab}: tokenizer and model do not match");
        return new EvalDataset(name, split, tokenizer.BosId is null ? BosNoneInTokenizer : BosAtStart, ids, files);
    }
}
