// PretrainData.cs — the training and held-out samples of a pretraining run: text files or named splits of
// `loraprune data fetch` (joined, tokenized once with one BOS, cut into blocks of --seq) or one pre-tokenized
// file, each source recorded with its SHA-256 so the recipe says exactly what the model was trained on.
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Core.Training;

/// <summary>One data source as given (a path or a split name), the file it resolved to, and that file's hash.</summary>
public sealed record PretrainDataFile(string Spec, string Path, long Bytes, string Sha256)
{
    public JsonObject ToJson() => new()
    {
        ["spec"] = Spec,
        ["path"] = System.IO.Path.GetFullPath(Path),
        ["bytes"] = Bytes,
        ["sha256"] = Sha256,
    };
}

public sealed class PretrainData
{
    private PretrainData(ISampleSource train, IReadOnlyList<PretrainDataFile> trainFiles, ISampleSource? eval,
                         IReadOnlyList<PretrainDataFile> evalFiles, PretrainTokenizer? tokenizer)
    {
        Train = train;
        TrainFiles = trainFiles;
        Eval = eval;
        EvalFiles = evalFiles;
        Tokenizer = tokenizer;
    }

    public ISampleSource Train { get; }
    public IReadOnlyList<PretrainDataFile> TrainFiles { get; }
    public ISampleSource? Eval { get; }
    public IReadOnlyList<PretrainDataFile> EvalFiles { get; }

    /// <summary>The tokenizer that tokenized the text, or the one named for a token-file run; null when none.</summary>
    public PretrainTokenizer? Tokenizer { get; }

    /// <summary>Resolves, hashes and loads the data the settings name for a model of <paramref name="config"/>.
    /// Throws <see cref="DataFileException"/>, <see cref="Text.TokenizerFileException"/> or <see cref="TrainingSetupException"/>.</summary>
    public static PretrainData Open(PretrainSettings settings, LlamaConfig config)
    {
        bool text = settings.DataKind == "text";
        PretrainTokenizer? tokenizer = PretrainTokenizer.Resolve(settings.Tokenizer, settings.InitModel, config, required: text);
        DataCache? cache = text ? DataCache.Resolve(settings.CacheFolder) : null;
        IReadOnlyList<PretrainDataFile> trainFiles = settings.Data.Select(spec => Resolve(spec, cache)).ToList();
        ISampleSource train = Load(text, trainFiles, tokenizer, config, settings.Seq);
        if (settings.EvalData is null) return new PretrainData(train, trainFiles, null, [], tokenizer);
        IReadOnlyList<PretrainDataFile> evalFiles = [Resolve(settings.EvalData, cache)];
        ISampleSource eval = Load(text, evalFiles, tokenizer, config, settings.Seq);
        return new PretrainData(train, trainFiles, eval, evalFiles, tokenizer);
    }

    // A split name ("sotu:train") unless a file of that name exists (text data only); otherwise a file that must exist.
    private static PretrainDataFile Resolve(string spec, DataCache? cache)
    {
        string path = cache is not null && DataCache.LooksLikeSplitName(spec) && !File.Exists(spec) ? cache.ResolveSplit(spec) : spec;
        if (!File.Exists(path))
            throw new DataFileException(spec, cache is null ? "file does not exist" : "file does not exist (and it is not a split name such as sotu:train)");
        try
        {
            using FileStream stream = File.OpenRead(path);
            return new PretrainDataFile(spec, path, stream.Length, Convert.ToHexStringLower(SHA256.HashData(stream)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFileException(path, $"cannot read: {e.Message}", e);
        }
    }

    private static ISampleSource Load(bool text, IReadOnlyList<PretrainDataFile> files, PretrainTokenizer? tokenizer, LlamaConfig config, int seq) =>
        text ? TextBlocks.Load(files.Select(f => f.Path).ToList(), tokenizer!.Tokenizer, seq) : TokenFile.Load(files.Single().Path, config.VocabSize, seq);
}
