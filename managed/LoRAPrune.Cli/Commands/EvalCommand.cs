// EvalCommand.cs — `loraprune eval`: perplexity of a model (plus an optional LoRA adapter) on named
// splits, text files or token files under the pinned protocol of docs/method.md §5.2, one protocol line
// per (data set, window) with the model's SHA-256; eval.json and metrics.jsonl in --out when given.
using System.CommandLine;
using System.Globalization;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.Eval;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Text;
using LoRAPrune.Native;
using Spectre.Console;

namespace LoRAPrune.Cli.Commands;

internal sealed class EvalCommand : Command
{
    private const int ExitFailed = 1;
    private const int ExitUsage = 2;

    /// <summary>The data evaluated when neither --data nor --tokens is given: the WikiText-2 and PTB stand-ins.</summary>
    private static readonly string[] DefaultData = [CorpusSplits.SotuTest.Name, CorpusSplits.BrownTest.Name];

    private readonly Option<string> _model = new("--model")
    {
        Description = "Model folder: config.json + model.safetensors (or shards + model.safetensors.index.json) + tokenizer.json or tokenizer.model.",
        Required = true,
    };

    private readonly Option<string?> _adapter = new("--adapter")
    {
        Description = "PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) applied on top of the model.",
    };

    private readonly Option<string[]> _data = new("--data")
    {
        Description = "Data sets, each scored on its own: a split (sotu:test, sotu:valid, sotu:train, brown:test, brown:train, moby:train; " +
                      "run `loraprune data fetch` first) or a UTF-8 text file. Default: sotu:test brown:test (unless --tokens is given).",
        AllowMultipleArgumentsPerToken = true,
    };

    private readonly Option<string[]> _tokens = new("--tokens")
    {
        Description = "Pre-tokenized data sets: files of uint32 little-endian token ids (no header), used as stored (no BOS added).",
        AllowMultipleArgumentsPerToken = true,
    };

    private readonly Option<int[]> _window = new("--window")
    {
        Description = $"Window length(s) in tokens; stride = window (default {PerplexityProtocol.DefaultWindow}, the LLM-Pruner/LoRAPrune protocol).",
        AllowMultipleArgumentsPerToken = true,
    };

    private readonly Option<string> _device = new("--device")
    {
        Description = "Backend: auto (cuda when a GPU is usable, else cpu), cpu, cudaemu or cuda.",
        DefaultValueFactory = _ => "auto",
    };

    private readonly Option<string> _dtype = new("--dtype")
    {
        Description = "Storage of the linear weights on the device: f32 or bf16 (activations are f32 either way).",
        DefaultValueFactory = _ => "f32",
    };

    private readonly Option<int> _batch = new("--batch")
    {
        Description = "Windows per forward pass (does not change the result: windows are independent and unpadded).",
        DefaultValueFactory = _ => 4,
    };

    private readonly Option<string?> _tokenizer = new("--tokenizer")
    {
        Description = "Tokenizer for text data instead of the model folder's: 'llama2' (the embedded LLaMA-1/2 vocabulary) or a tokenizer.json / tokenizer.model file.",
    };

    private readonly Option<string?> _cache = new("--cache")
    {
        Description = $"Corpus cache holding the splits (default: ${DataCache.EnvironmentVariable}, else ~/.cache/loraprune).",
    };

    private readonly Option<string?> _out = new("--out")
    {
        Description = $"Folder for {EvalReport.JsonFileName} (replaced) and {EvalReport.MetricsFileName} (appended).",
    };

    public EvalCommand() : base("eval",
        "Perplexity under the pinned protocol: join texts with \"\\n\\n\", tokenize once with one BOS, non-overlapping windows, PPL = exp(mean NLL).")
    {
        _device.AcceptOnlyFromAmong(Backend.DeviceChoices);
        _dtype.AcceptOnlyFromAmong("f32", "bf16");
        Options.Add(_model);
        Options.Add(_adapter);
        Options.Add(_data);
        Options.Add(_tokens);
        Options.Add(_window);
        Options.Add(_device);
        Options.Add(_dtype);
        Options.Add(_batch);
        Options.Add(_tokenizer);
        Options.Add(_cache);
        Options.Add(_out);
        SetAction(Run);
    }

    private int Run(ParseResult parseResult)
    {
        TextWriter error = parseResult.InvocationConfiguration.Error;
        int[] windows = parseResult.GetValue(_window) is { Length: > 0 } w ? w.Distinct().ToArray() : [PerplexityProtocol.DefaultWindow];
        int batch = parseResult.GetValue(_batch);
        if (windows.Where(x => x < 2).Select(x => (int?)x).FirstOrDefault() is int badWindow)
            return Usage(error, $"--window must be at least 2 (got {badWindow})");
        if (batch < 1) return Usage(error, $"--batch must be at least 1 (got {batch})");

        try
        {
            return Evaluate(parseResult, windows, batch);
        }
        catch (Exception e) when (e is ModelFormatException or TokenizerFileException or DataFileException or BackendUnavailableException or
                                        NativeException or NotSupportedException or IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"eval: {e.Message.ReplaceLineEndings(" ")}");
            return ExitFailed;
        }
    }

    private int Evaluate(ParseResult parseResult, int[] windows, int batch)
    {
        Terminal terminal = Terminal.For(parseResult);
        TextWriter error = parseResult.InvocationConfiguration.Error;
        string modelDir = parseResult.GetValue(_model)!;
        string? adapterDir = parseResult.GetValue(_adapter);
        string[] tokenFiles = parseResult.GetValue(_tokens) ?? [];
        string[] data = parseResult.GetValue(_data) is { Length: > 0 } d ? d : tokenFiles.Length > 0 ? [] : DefaultData;
        DataCache cache = DataCache.Resolve(parseResult.GetValue(_cache));
        bool bf16 = parseResult.GetValue(_dtype) == "bf16";

        // Resolve every data set name first, so a typo fails before the model is read.
        var sources = data.Select(spec => ResolveData(cache, spec)).ToList();
        foreach (string file in tokenFiles)
            if (!File.Exists(file)) throw new DataFileException(file, "file does not exist");

        using LlamaCheckpoint checkpoint = LlamaCheckpoint.Open(modelDir);
        LlamaConfig config = checkpoint.Config;
        ITokenizer? tokenizer = sources.Count > 0 ? LoadTokenizer(modelDir, parseResult.GetValue(_tokenizer)) : null;
        var datasets = new List<EvalDataset>();
        foreach ((string? split, string path) in sources)
            datasets.Add(split is null ? EvalDataset.FromTextFile(path, tokenizer!, config.VocabSize) : EvalDataset.FromSplit(cache, split, tokenizer!, config.VocabSize));
        datasets.AddRange(tokenFiles.Select(f => EvalDataset.FromTokenFile(f, config.VocabSize)));
        foreach (EvalDataset ds in datasets)
            foreach (int window in windows.Where(x => PerplexityProtocol.WindowCount(ds.Ids.Length, x) == 0))
                throw new DataFileException(ds.Files[0], $"only {ds.Ids.Length:N0} tokens, fewer than one window of {window}");
        foreach (int window in windows.Where(x => x > config.MaxPositionEmbeddings))
            error.WriteLine($"eval: warning: window {window} is longer than the model's max_position_embeddings ({config.MaxPositionEmbeddings})");

        PeftAdapter? peft = adapterDir is null ? null : PeftAdapter.Load(adapterDir, config);
        Fingerprint modelHash = ModelFingerprint.OfModel(checkpoint);
        Fingerprint? adapterHash = adapterDir is null ? null : ModelFingerprint.OfAdapter(adapterDir);

        Backend backend = Backend.Select(parseResult.GetValue(_device)!);
        using Context context = backend.CreateContext();
        using LlamaWeights weights = LlamaWeights.Load(context, checkpoint, bf16 ? LpDType.BF16 : LpDType.F32);
        using LoraAdapters? lora = peft is null ? null : LoraAdapters.FromPeft(context, config, peft, peft.Config);
        error.WriteLine($"eval: {modelDir} ({weights.ParameterCount:N0} parameters{(adapterDir is null ? "" : $", adapter {adapterDir}")}) on {backend.Name}, " +
                        $"{(bf16 ? "bf16" : "f32")} weights, {batch} window(s) per forward pass");

        var jobs = datasets.SelectMany(ds => windows.Select(window => (Dataset: ds, Window: window))).ToList();
        var results = new List<EvalResult>();
        if (terminal.Rich is { } rich)
        {
            rich.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var bars = jobs.Select(j => ctx.AddTask(Markup.Escape(Label(j.Dataset, j.Window)), autoStart: false,
                                                            maxValue: PerplexityProtocol.WindowCount(j.Dataset.Ids.Length, j.Window))).ToList();
                    for (int i = 0; i < jobs.Count; i++)
                    {
                        ProgressTask bar = bars[i];
                        bar.StartTask();
                        string label = Label(jobs[i].Dataset, jobs[i].Window);
                        results.Add(new EvalResult(jobs[i].Dataset, PerplexityProtocol.Evaluate(weights, lora, jobs[i].Dataset.Ids, jobs[i].Window, batch, p =>
                        {
                            bar.Value = p.WindowsDone;
                            bar.Description = Markup.Escape($"{label}: {p.TokensPerSecond.ToString("N0", CultureInfo.InvariantCulture)} tok/s");
                        })));
                        bar.StopTask();
                    }
                });
        }
        else
        {
            foreach ((EvalDataset ds, int window) in jobs)
            {
                PerplexityResult result = PerplexityProtocol.Evaluate(weights, lora, ds.Ids, window, batch);
                results.Add(new EvalResult(ds, result));
                error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"eval: {Label(ds, window)}: {result.Windows} windows in {result.Seconds:F1} s, {result.TokensPerSecond:F0} tok/s, {result.MillisecondsPerWindow:F1} ms/window"));
            }
        }

        var run = new EvalRun(Path.GetFullPath(modelDir), modelHash, adapterDir is null ? null : Path.GetFullPath(adapterDir), adapterHash,
                              tokenizer?.Name, backend.Name, bf16 ? "bf16" : "f32", batch, results, DateTimeOffset.UtcNow);
        foreach (EvalResult result in results) terminal.Out.WriteLine(EvalReport.ProtocolLine(run, result));
        terminal.Out.WriteLine(EvalReport.Caveat);
        if (parseResult.GetValue(_out) is { } outDir)
        {
            (string json, string metrics) = EvalReport.Write(run, outDir);
            terminal.Out.WriteLine($"wrote {json} and appended to {metrics}");
        }
        return 0;
    }

    private static string Label(EvalDataset ds, int window) => $"{ds.Name}:{ds.Split} window {window}";

    // A split name ("sotu:test") unless a file of that name exists; otherwise a text file that must exist.
    private static (string? Split, string Path) ResolveData(DataCache cache, string spec)
    {
        if (DataCache.LooksLikeSplitName(spec) && !File.Exists(spec)) return (spec, cache.ResolveSplit(spec));
        if (!File.Exists(spec)) throw new DataFileException(spec, "file does not exist (and it is not a split name such as sotu:test)");
        return (null, spec);
    }

    // The model folder's tokenizer, or the one --tokenizer names; the embedded LLaMA-2 one only when asked for.
    private static ITokenizer LoadTokenizer(string modelDir, string? choice)
    {
        if (choice == "llama2") return TokenizerLoader.LoadLlama2Default();
        if (choice is not null) return TokenizerLoader.LoadFile(choice);
        try
        {
            return TokenizerLoader.Load(modelDir);
        }
        catch (TokenizerFileException e) when (!File.Exists(Path.Combine(modelDir, "tokenizer.json")) && !File.Exists(Path.Combine(modelDir, "tokenizer.model")))
        {
            throw new TokenizerFileException(e.FilePath, $"{e.Problem}; pass --tokenizer llama2 for the embedded LLaMA-2 tokenizer, or --tokens for pre-tokenized data", e);
        }
    }

    private static int Usage(TextWriter error, string message)
    {
        error.WriteLine($"eval: {message}");
        return ExitUsage;
    }
}
