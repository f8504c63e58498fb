// FinetuneData.cs — opens a fine-tuning run's training and held-out samples from its settings: plain
// text (TextBlocks), pre-tokenized ids (TokenFile) or Alpaca JSONL (AlpacaJsonl, cutoff = --seq),
// with the model folder's tokenizer, or the embedded LLaMA-2 one for a 32,000-id model that has none.
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Text;

namespace LoRAPrune.Core.Training;

public static class FinetuneData
{
    public static readonly IReadOnlyList<string> Kinds = ["text", "tokens", "alpaca"];

    /// <summary>The training samples and, when EvalDataFile is set, the held-out samples (same kind and T).
    /// Throws <see cref="DataFileException"/>, <see cref="TokenizerFileException"/> or <see cref="TrainingSetupException"/>.</summary>
    public static (ISampleSource Train, ISampleSource? Eval) Open(FinetuneSettings settings, LlamaConfig model)
    {
        ITokenizer? tokenizer = settings.DataKind == "tokens" ? null : Tokenizer(settings.ModelFolder, model);
        ISampleSource train = Load(settings.DataKind, settings.DataFiles, tokenizer, model, settings.Seq);
        ISampleSource? eval = settings.EvalDataFile is null ? null : Load(settings.DataKind, [settings.EvalDataFile], tokenizer, model, settings.Seq);
        return (train, eval);
    }

    private static ISampleSource Load(string kind, IReadOnlyList<string> files, ITokenizer? tokenizer, LlamaConfig model, int seq)
    {
        switch (kind)
        {
            case "tokens":
                if (files.Count != 1) throw new TrainingSetupException($"--tokens takes one file, got {files.Count}");
                return TokenFile.Load(files[0], model.VocabSize, seq);
            case "text":
                return TextBlocks.Load(files, tokenizer!, seq);
            case "alpaca":
                if (files.Count != 1) throw new TrainingSetupException($"--alpaca takes one file, got {files.Count}");
                return AlpacaJsonl.Load(files[0], tokenizer!, seq);
            default:
                throw new TrainingSetupException($"unknown data kind '{kind}' (expected {string.Join(", ", Kinds)})");
        }
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

    /// <summary>The model folder's tokenizer; the embedded LLaMA-2 tokenizer when the folder has none and the
    /// model has LLaMA-2's 32,000 ids; otherwise an error.</summary>
    public static ITokenizer Tokenizer(string modelFolder, LlamaConfig model)
    {
        ITokenizer tokenizer;
        if (File.Exists(Path.Combine(modelFolder, "tokenizer.json")) || File.Exists(Path.Combine(modelFolder, "tokenizer.model")))
            tokenizer = TokenizerLoader.Load(modelFolder);
        else if (model.VocabSize == 32000)
            tokenizer = TokenizerLoader.LoadLlama2Default();
        else
            throw new TrainingSetupException(
                $"--model: {modelFolder} has no tokenizer.json or tokenizer.model to tokenize the data with (vocab_size {model.VocabSize}); give pre-tokenized ids with --tokens");
        if (tokenizer.VocabSize > model.VocabSize)
            throw new TrainingSetupException($"--model: the tokenizer ({tokenizer.Name}) has {tokenizer.VocabSize} ids but the model's vocab_size is {model.VocabSize}");
        return tokenizer;
    }
}
