// GenerateCommand.cs — `loraprune generate`: loads a model folder (and optionally a PEFT adapter) on a
// backend, encodes the prompt with the folder's tokenizer (BOS first) and streams the continuation to
// stdout token by token, greedy or top-p sampled; --prompt-ids works on raw ids without a tokenizer.
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using LoRAPrune.Core.Inference;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Text;
using LoRAPrune.Native;

namespace LoRAPrune.Cli.Commands;

internal sealed class GenerateCommand : Command
{
    private const int ExitFailed = 1;
    private const int ExitUsage = 2;

    private readonly Option<string> _model = new("--model")
    {
        Description = "Model folder: config.json, safetensors weights and tokenizer.json or tokenizer.model.",
        Required = true,
    };

    private readonly Option<string?> _adapter = new("--adapter")
    {
        Description = "PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) applied on top of the model.",
    };

    private readonly Option<string?> _prompt = new("--prompt")
    {
        Description = "Prompt text; it is encoded with BOS first, and the prompt plus the continuation is printed.",
    };

    private readonly Option<string?> _promptIds = new("--prompt-ids")
    {
        Description = "Prompt as comma-separated token ids, used as given (no tokenizer, no BOS added); the generated ids are printed.",
    };

    private readonly Option<int> _maxNewTokens = new("--max-new-tokens")
    {
        Description = "Most tokens to generate (fewer when an end-of-sequence token comes or max_position_embeddings is reached).",
        DefaultValueFactory = _ => 64,
    };

    private readonly Option<bool> _greedy = new("--greedy")
    {
        Description = "Always take the most likely token (ignores --top-p and --temperature).",
    };

    private readonly Option<double> _topP = new("--top-p")
    {
        Description = "Nucleus sampling: draw among the fewest most likely tokens whose probabilities sum to at least this.",
        DefaultValueFactory = _ => 0.9,
    };

    private readonly Option<double> _temperature = new("--temperature")
    {
        Description = "Softmax temperature of the sampling (0 means greedy).",
        DefaultValueFactory = _ => 0.8,
    };

    private readonly Option<ulong?> _seed = new("--seed")
    {
        Description = "Seed of the sampling; the same seed, model, prompt, options and backend give the same text. Default: a random seed, printed.",
    };

    private readonly Option<string> _device = new("--device")
    {
        Description = "auto (cuda when a GPU is usable, else cpu), cpu, cuda or cudaemu.",
        DefaultValueFactory = _ => "auto",
    };

    private readonly Option<string> _dtype = new("--dtype")
    {
        Description = "Storage of the base weights on the device: f32, or bf16 (half the memory; computed in f32).",
        DefaultValueFactory = _ => "f32",
    };

    public GenerateCommand() : base("generate", "Generate text from a model (and optional LoRA adapter), streamed token by token.")
    {
        _device.AcceptOnlyFromAmong(Backend.DeviceChoices);
        _dtype.AcceptOnlyFromAmong("f32", "bf16");
        _maxNewTokens.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1) r.AddError("--max-new-tokens must be at least 1");
        });
        _topP.Validators.Add(r =>
        {
            double p = r.GetValueOrDefault<double>();
            if (!(p > 0 && p <= 1)) r.AddError("--top-p must be in (0, 1]");
        });
        _temperature.Validators.Add(r =>
        {
            double t = r.GetValueOrDefault<double>();
            if (!(double.IsFinite(t) && t >= 0)) r.AddError("--temperature must be a non-negative number");
        });
        foreach (Option option in new Option[] { _model, _adapter, _prompt, _promptIds, _maxNewTokens, _greedy, _topP, _temperature, _seed, _device, _dtype })
            Options.Add(option);
        SetAction(Run);
    }

    private int Run(ParseResult parseResult)
    {
        TextWriter output = parseResult.InvocationConfiguration.Output;
        TextWriter error = parseResult.InvocationConfiguration.Error;
        string? prompt = parseResult.GetValue(_prompt);
        string? promptIdsText = parseResult.GetValue(_promptIds);
        if ((prompt is null) == (promptIdsText is null))
        {
            error.WriteLine("generate: give exactly one of --prompt and --prompt-ids");
            return ExitUsage;
        }
        int[]? promptIds = null;
        if (promptIdsText is not null && !TryParseIds(promptIdsText, out promptIds, out string? idProblem))
        {
            error.WriteLine($"generate: --prompt-ids: {idProblem}");
            return ExitUsage;
        }
        string modelDir = parseResult.GetValue(_model)!;
        if (!Directory.Exists(modelDir))
        {
            error.WriteLine($"generate: --model: folder {modelDir} does not exist");
            return ExitUsage;
        }
        string? adapterDir = parseResult.GetValue(_adapter);
        if (adapterDir is not null && !Directory.Exists(adapterDir))
        {
            error.WriteLine($"generate: --adapter: folder {adapterDir} does not exist");
            return ExitUsage;
        }

        Backend backend;
        try
        {
            backend = Backend.Select(parseResult.GetValue(_device)!);
        }
        catch (BackendUnavailableException e)
        {
            error.WriteLine($"generate: {e.Message}");
            return ExitFailed;
        }
        var dtype = parseResult.GetValue(_dtype) == "bf16" ? LpDType.BF16 : LpDType.F32;
        ulong seed = parseResult.GetValue(_seed) ?? (ulong)Random.Shared.NextInt64(long.MaxValue);
        var sampling = new SamplingOptions
        {
            Greedy = parseResult.GetValue(_greedy),
            TopP = parseResult.GetValue(_topP),
            Temperature = parseResult.GetValue(_temperature),
        };

        try
        {
            using var checkpoint = LlamaCheckpoint.Open(modelDir);
            LlamaConfig config = checkpoint.Config;
            ITokenizer? tokenizer = prompt is null ? null : TokenizerLoader.Load(modelDir);
            int[] ids = tokenizer is null ? promptIds! : tokenizer.Encode(prompt!, addBos: true);
            var stopIds = new HashSet<int>(config.EosTokenIds);
            if (tokenizer?.EosId is int eos) stopIds.Add(eos);

            using Context ctx = backend.CreateContext();
            using LlamaWeights weights = LlamaWeights.Load(ctx, checkpoint, dtype);
            using LoraAdapters? lora = adapterDir is null ? null : LoadAdapter(ctx, config, adapterDir);
            using var generator = new TokenGenerator(weights, lora);
            var options = new GenerationOptions
            {
                MaxNewTokens = parseResult.GetValue(_maxNewTokens),
                StopIds = stopIds,
                VocabLimit = tokenizer?.VocabSize,
            };
            var sampler = new Sampler(sampling, seed);
            error.WriteLine($"generate: {modelDir} on {backend.Name} ({dtype.ToString().ToLowerInvariant()} weights{(lora is null ? "" : $", adapter r={lora.Options.Rank}")}), " +
                            $"{ids.Length} prompt tokens, {(sampler.IsGreedy ? "greedy" : $"top-p {sampling.TopP.ToString(CultureInfo.InvariantCulture)} at temperature {sampling.Temperature.ToString(CultureInfo.InvariantCulture)}")}, seed {seed}");

            var clock = Stopwatch.StartNew();
            int produced = tokenizer is null
                ? StreamIds(generator, ids, options, sampler, output)
                : StreamText(generator, tokenizer, ids, options, sampler, output);
            double seconds = clock.Elapsed.TotalSeconds;
            string reason = generator.Stop switch
            {
                StopReason.EndOfSequence => "end of sequence",
                StopReason.ContextFull => $"max_position_embeddings ({config.MaxPositionEmbeddings}) reached",
                _ => "--max-new-tokens reached",
            };
            error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"generate: {produced} tokens in {seconds:F2} s ({(seconds > 0 ? produced / seconds : 0):F1} tokens/s); stopped: {reason}"));
            return 0;
        }
        catch (Exception e) when (e is ModelFormatException or TokenizerFileException or NotSupportedException or ArgumentException
                                      or NativeException or IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"generate: {e.Message}");
            return ExitFailed;
        }
    }

    private static LoraAdapters LoadAdapter(Context ctx, LlamaConfig config, string folder)
    {
        PeftAdapter adapter = PeftAdapter.Load(folder, config);
        return LoraAdapters.FromPeft(ctx, config, adapter, adapter.Config);
    }

    private static int StreamText(TokenGenerator generator, ITokenizer tokenizer, int[] ids, GenerationOptions options, Sampler sampler, TextWriter output)
    {
        var streamer = new TextStreamer(tokenizer, ids);
        output.Write(streamer.Begin());
        output.Flush();
        int produced = 0;
        foreach (int id in generator.Generate(ids, options, sampler))
        {
            produced++;
            output.Write(streamer.Push(id));
            output.Flush();
        }
        output.WriteLine(streamer.Flush());
        return produced;
    }

    private static int StreamIds(TokenGenerator generator, int[] ids, GenerationOptions options, Sampler sampler, TextWriter output)
    {
        int produced = 0;
        foreach (int id in generator.Generate(ids, options, sampler))
        {
            output.Write(produced++ == 0 ? id.ToString(CultureInfo.InvariantCulture) : "," + id.ToString(CultureInfo.InvariantCulture));
            output.Flush();
        }
        output.WriteLine();
        return produced;
    }

    /// <summary>Parses "1, 2,3" into ids; false with a reason for anything else.</summary>
    public static bool TryParseIds(string text, out int[] ids, out string? problem)
    {
        var list = new List<int>();
        foreach (string part in text.Split(','))
        {
            string trimmed = part.Trim();
            if (!int.TryParse(trimmed, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
            {
                ids = [];
                problem = $"'{trimmed}' is not a non-negative integer token id (expected comma-separated ids such as 1,450,22)";
                return false;
            }
            list.Add(id);
        }
        ids = [.. list];
        problem = null;
        return true;
    }
}
