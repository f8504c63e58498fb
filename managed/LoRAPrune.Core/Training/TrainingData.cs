// TrainingData.cs — the training and held-out samples of any run, resolved once: text files or named splits
// of `loraprune data fetch` (joined, tokenized once with one BOS, cut into blocks of --seq), one pre-tokenized
// file, or one Alpaca/LaMini JSONL file; each source recorded with its SHA-256 so recipes and reports say
// exactly what the run saw.
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Text;

namespace LoRAPrune.Core.Training;

/// <summary>One data source as given (a path or a split name), the file it resolved to, and that file's hash.</summary>
public sealed record DataFile(string Spec, string Path, long Bytes, string Sha256)
{
    public JsonObject ToJson() => new()
    {
        ["spec"] = Spec,
        ["path"] = System.IO.Path.GetFullPath(Path),
        ["bytes"] = Bytes,
        ["sha256"] = Sha256,
    };
}

public sealed class TrainingData
{
    private TrainingData(DataSpec spec, ISampleSource train, IReadOnlyList<DataFile> trainFiles, ISampleSource? eval, IReadOnlyList<DataFile> evalFiles)
    {
        Spec = spec;
        Train = train;
        TrainFiles = trainFiles;
        Eval = eval;
        EvalFiles = evalFiles;
    }

    public DataSpec Spec { get; }
    public ISampleSource Train { get; }
    public IReadOnlyList<DataFile> TrainFiles { get; }
    public ISampleSource? Eval { get; }
    public IReadOnlyList<DataFile> EvalFiles { get; }

    /// <summary>Resolves, hashes and loads the data <paramref name="run"/> names for a model of <paramref name="config"/>;
    /// <paramref name="tokenizer"/> is needed for text and Alpaca data. Throws <see cref="DataFileException"/>,
    /// <see cref="TokenizerFileException"/> or <see cref="TrainingSetupException"/>.</summary>
    public static TrainingData Open(RunSettings run, ITokenizer? tokenizer, LlamaConfig config)
    {
        run.Data.Validate();
        if (run.Data.NeedsTokenizer && tokenizer is null)
            throw new TrainingSetupException($"{run.Data.Kind} data needs a tokenizer; give pre-tokenized ids with --tokens instead");
        DataCache? cache = run.Data.Kind == DataSpec.Text ? DataCache.Resolve(run.CacheFolder) : null;
        IReadOnlyList<DataFile> trainFiles = run.Data.Sources.Select(spec => Resolve(spec, cache)).ToList();
        ISampleSource train = Load(run.Data.Kind, trainFiles, tokenizer, config, run.Seq);
        if (train.Count == 0) throw new DataFileException(trainFiles[0].Path, $"the training data holds no sample of {run.Seq} tokens");
        if (run.EvalData is null) return new TrainingData(run.Data, train, trainFiles, null, []);
        IReadOnlyList<DataFile> evalFiles = [Resolve(run.EvalData, cache)];
        ISampleSource eval = Load(run.Data.Kind, evalFiles, tokenizer, config, run.Seq);
        if (eval.Count == 0) throw new TrainingSetupException($"{eval.Description}: the evaluation data has no samples");
        return new TrainingData(run.Data, train, trainFiles, eval, evalFiles);
    }

    /// <summary>For runs on an existing model (finetune, prune): its config, its tokenizer (the folder's own, or the
    /// embedded LLaMA-2 one for a 32,000-id model; required only for text and Alpaca data) and the run's data.</summary>
    public static (LlamaConfig Config, ModelTokenizer? Tokenizer, TrainingData Data) OpenForModel(RunSettings run, string modelFolder)
    {
        if (!Directory.Exists(modelFolder)) throw new TrainingSetupException($"--model: folder {modelFolder} does not exist");
        LlamaConfig config = LlamaConfig.Load(Path.Combine(modelFolder, LlamaCheckpoint.ConfigFileName));
        ModelTokenizer? tokenizer = ModelTokenizer.ForModel(modelFolder, config, required: run.Data.NeedsTokenizer);
        return (config, tokenizer, Open(run, tokenizer?.Tokenizer, config));
    }

    /// <summary>SHA-256 (hex) of every sample's tokens and targets in index order: what the trainer will see,
    /// whatever the files, paths or tokenizer that produced it (a resume checks it).</summary>
    public static string ContentHash(ISampleSource source)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int i = 0; i < source.Count; i++)
        {
            TrainingSample s = source[i];
            hash.AppendData(MemoryMarshal.AsBytes(s.Tokens.AsSpan()));
            hash.AppendData(MemoryMarshal.AsBytes(s.Targets.AsSpan()));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>The record of one sample source for recipes and reports: kind, files with hashes, counts.</summary>
    public JsonObject Record(ISampleSource source, IReadOnlyList<DataFile> files) => new()
    {
        ["kind"] = Spec.Kind,
        ["files"] = new JsonArray(files.Select(f => (JsonNode)f.ToJson()).ToArray()),
        ["description"] = source.Description,
        ["tokens"] = source is TokenBlocks blocks ? blocks.TokenCount : null,
        ["samples"] = source.Count,
        ["samples_sha256"] = ContentHash(source),
    };

    // A split name ("sotu:train") unless a file of that name exists (text data only); otherwise a file that must exist.
    private static DataFile Resolve(string spec, DataCache? cache)
    {
        string path = cache is not null && DataCache.LooksLikeSplitName(spec) && !File.Exists(spec) ? cache.ResolveSplit(spec) : spec;
        if (!File.Exists(path))
            throw new DataFileException(spec, cache is null ? "file does not exist" : "file does not exist (and it is not a split name such as sotu:train)");
        try
        {
            using FileStream stream = File.OpenRead(path);
            return new DataFile(spec, path, stream.Length, Convert.ToHexStringLower(SHA256.HashData(stream)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFileException(path, $"cannot read: {e.Message}", e);
        }
    }

    private static ISampleSource Load(string kind, IReadOnlyList<DataFile> files, ITokenizer? tokenizer, LlamaConfig config, int seq) => kind switch
    {
        DataSpec.Text => TextBlocks.Load(files.Select(f => f.Path).ToList(), tokenizer!, seq),
        DataSpec.Tokens => TokenFile.Load(files.Single().Path, config.VocabSize, seq),
        DataSpec.Alpaca => AlpacaJsonl.Load(files.Single().Path, tokenizer!, seq),
        _ => throw new TrainingSetupException($"unknown data kind '{kind}' (expected {string.Join(", ", DataSpec.Kinds)})"),
    };
}
