// InfoCommand.cs — `loraprune info`: what a model is (config summary), where its parameters sit (per
// part, per layer for pruned models), what LoRA adds at a rank, how much memory a LoRAPrune training
// step needs at a batch shape on each backend and weight dtype, and (with --ratio or --target-params)
// what a prune would remove: KV groups, heads, channels and parameters per layer, from config.json alone.
using System.CommandLine;
using System.Globalization;
using LoRAPrune.Core.Inference;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Pruning;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;
using Spectre.Console;

namespace LoRAPrune.Cli.Commands;

internal sealed class InfoCommand : Command
{
    private const int ExitFailed = 1;
    private const int ExitUsage = 2;
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    private readonly Option<string?> _model = new("--model")
    {
        Description = "Model folder (its config.json is read; the weights are not loaded).",
    };

    private readonly Option<string?> _config = new("--config")
    {
        Description = "A config.json on its own, instead of --model.",
    };

    private readonly Option<int> _batch = new("--batch")
    {
        Description = "Sequences per micro-batch of the training step estimated.",
        DefaultValueFactory = _ => 4,
    };

    private readonly Option<int> _seq = new("--seq")
    {
        Description = "Tokens per sequence of the training step estimated.",
        DefaultValueFactory = _ => 256,
    };

    private readonly Option<int> _loraRank = new("--lora-rank")
    {
        Description = "LoRA rank r (adapters on all seven projections, dropout 0.05, as in the paper).",
        DefaultValueFactory = _ => 8,
    };

    private readonly PruneOptionSet _prune = new();

    private readonly Option<long?> _steps = new("--steps")
    {
        Description = "Optimizer steps of the planned prune run (the last event's ratio depends on it); default: a long run.",
    };

    public InfoCommand() : base("info", "Summarise a model: config, parameter counts, LoRA size, training memory per backend, and (with --ratio or --target-params) the prune plan.")
    {
        foreach (Option<int> positive in new[] { _batch, _seq, _loraRank })
        {
            string name = positive.Name;
            positive.Validators.Add(r =>
            {
                if (r.GetValueOrDefault<int>() < 1) r.AddError($"{name} must be at least 1");
            });
        }
        Options.Add(_model);
        Options.Add(_config);
        Options.Add(_batch);
        Options.Add(_seq);
        Options.Add(_loraRank);
        foreach (Option option in _prune.PlanOptions) Options.Add(option);
        Options.Add(_steps);
        SetAction(Run);
    }

    private int Run(ParseResult parseResult)
    {
        TextWriter error = parseResult.InvocationConfiguration.Error;
        string? model = parseResult.GetValue(_model), configFile = parseResult.GetValue(_config);
        if ((model is null) == (configFile is null))
        {
            error.WriteLine("info: give exactly one of --model and --config");
            return ExitUsage;
        }
        string path = configFile ?? Path.Combine(model!, LlamaCheckpoint.ConfigFileName);
        if (model is not null && !Directory.Exists(model))
        {
            error.WriteLine($"info: --model: folder {model} does not exist");
            return ExitUsage;
        }
        if (!File.Exists(path))
        {
            error.WriteLine($"info: {path} does not exist");
            return configFile is null ? ExitFailed : ExitUsage;
        }
        LlamaConfig config;
        try
        {
            config = LlamaConfig.Load(path);
        }
        catch (Exception e) when (e is ModelFormatException or IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"info: {e.Message}");
            return ExitFailed;
        }

        var options = new TrainingMemoryOptions
        {
            Batch = parseResult.GetValue(_batch),
            Seq = parseResult.GetValue(_seq),
            LoraRank = parseResult.GetValue(_loraRank),
            CpuThreads = CpuThreads(),
        };
        var tables = new List<Table>
        {
            ConfigTable(config, path),
            ParameterTable(config, options.LoraRank),
        };
        if (!config.IsUniform) tables.Add(LayerTable(config));
        tables.Add(MemoryTable(config, options));
        if (_prune.PlanRequested(parseResult))
        {
            try
            {
                tables.Add(PlanTable(config, _prune.Bind(parseResult), parseResult.GetValue(_steps)));
            }
            catch (Exception e) when (e is TrainingSetupException or ArgumentException)
            {
                error.WriteLine($"info: {e.Message}");
                return ExitUsage;
            }
        }
        Write(Terminal.For(parseResult), tables);
        return 0;
    }

    // The cpu backend's OpenMP thread count (its attention scratch is per thread), else the core count.
    private static int CpuThreads() =>
        Backend.TryLoad("cpu", out Backend? cpu, out _) && cpu!.DeviceCount > 0 ? cpu.GetDeviceInfo(0).Multiprocessors : Environment.ProcessorCount;

    /// <summary>A titled table with a note under it, rendered with Spectre on terminals and as aligned text otherwise.</summary>
    private sealed record Table(string Title, string[] Headers, List<string[]> Rows, int TextColumns, string? Note = null);

    // What a prune with these flags removes, layer by layer, and what the ratio means for the whole model.
    private static Table PlanTable(LlamaConfig c, PruneOptions options, long? steps)
    {
        options.Validate();
        if (options.TargetParams is { } keep) options = options with { Ratio = PrunePlan.SolveRatio(c, options, steps, keep) };
        PrunePlan plan = PrunePlan.Make(c, options, steps);
        var before = ParameterCounts.Of(c).Layers;
        var after = ParameterCounts.Of(plan.Pruned).Layers;
        var rows = plan.Layers.Select(l => new[]
        {
            Fmt($"{l.Layer}"), l.Prunable ? "yes" : "exempt",
            Fmt($"{l.Groups} -> {l.GroupsKept}"), Fmt($"{l.Heads} -> {l.HeadsKept}"), Fmt($"{l.Channels:N0} -> {l.ChannelsKept:N0}"),
            Fmt($"{before[l.Layer].Total:N0} -> {after[l.Layer].Total:N0}"),
        }).ToList();
        rows.Add(["total", "", "", "", "", Fmt($"{plan.ParametersBefore:N0} -> {plan.ParametersAfter:N0}")]);
        string when = plan.LongRun ? "a long run (the paper schedule's last event falls just below the ratio)" : Fmt($"{steps:N0} steps (last event at r = {plan.AppliedRatio:R})");
        string ratio = options.TargetParams is { } f ? Fmt($"--target-params {f} -> ratio {options.Ratio:F4}") : Fmt($"--ratio {options.Ratio}");
        string note = Fmt($"{ratio} is the fraction of KV groups and MLP channels removed in each prunable layer ({PruneOptions.Name(options.Schedule)} schedule, {when}); ") +
                      Fmt($"it removes {plan.RemovedFraction:P1} of all parameters, since embeddings, norms, lm_head and exempt layers stay. ") +
                      "A KV group is one key/value head with its query heads, so heads go in whole groups.";
        return new Table("prune plan", ["layer", "pruned", "KV groups", "heads", "MLP channels", "parameters"], rows, TextColumns: 2, note);
    }

    private static Table ConfigTable(LlamaConfig c, string path)
    {
        string rope = c.RopeScaling switch
        {
            null => "none",
            { RopeType: "llama3" } s => Fmt($"llama3, factor {s.Factor}, low/high freq factor {s.LowFreqFactor}/{s.HighFreqFactor}, original max positions {s.OriginalMaxPositionEmbeddings}"),
            var s => Fmt($"{s.RopeType}, factor {s.Factor}"),
        };
        var rows = new List<string[]>
        {
            new[] { "model type", c.ModelType },
            new[] { "hidden size (C)", Fmt($"{c.HiddenSize}") },
            new[] { "layers (L)", Fmt($"{c.NumHiddenLayers}") },
            new[] { "attention heads (H)", Widths(c, c.AttentionHeads, c.NumAttentionHeads) },
            new[] { "key/value heads (KVH)", Widths(c, c.KeyValueHeads, c.NumKeyValueHeads) +
                    (c.IsUniform && c.NumKeyValueHeads != c.NumAttentionHeads ? Fmt($" (GQA, {c.NumAttentionHeads / c.NumKeyValueHeads} query heads per group)") : "") },
            new[] { "head dim (D)", Fmt($"{c.HeadDim}") },
            new[] { "MLP width (F)", Widths(c, c.Intermediate, c.IntermediateSize) + " (SwiGLU: gate, up, down)" },
            new[] { "vocabulary (V)", Fmt($"{c.VocabSize}") },
            new[] { "max positions", Fmt($"{c.MaxPositionEmbeddings}") },
            new[] { "RoPE theta", Fmt($"{c.RopeTheta}") },
            new[] { "RoPE scaling", rope },
            new[] { "RMSNorm eps", c.RmsNormEps.ToString("G", Invariant).Replace("E", "e", StringComparison.Ordinal) },
            new[] { "tied embeddings", c.TieWordEmbeddings ? "yes (lm_head = embed_tokens)" : "no" },
            new[] { "dtype on disk", c.TorchDtype ?? "not stated" },
        };
        return new Table($"model: {path}", ["field", "value"], rows, TextColumns: 2);
    }

    // "32" for uniform models; "per layer, 12..32 (unpruned 32)" for pruned ones.
    private static string Widths(LlamaConfig c, Func<int, int> perLayer, int plain)
    {
        var values = Enumerable.Range(0, c.NumHiddenLayers).Select(perLayer).ToArray();
        return values.Distinct().Count() == 1 ? Fmt($"{values[0]}") : Fmt($"per layer, {values.Min()}..{values.Max()} (unpruned {plain})");
    }

    private static Table ParameterTable(LlamaConfig c, int rank)
    {
        var p = ParameterCounts.Of(c);
        string Shape(LlamaLinear lin)
        {
            var (o, i) = lin.Shape(c, 0);
            return c.IsUniform ? Fmt($"{c.NumHiddenLayers} x ({o}, {i})") : "per layer (table below)";
        }
        var rows = new List<string[]>
        {
            Row("embed_tokens", Fmt($"({c.VocabSize}, {c.HiddenSize})"), p.Embedding, p.Total),
            Row("attention q_proj", Shape(LlamaLinear.QProj), p.Q, p.Total),
            Row("attention k_proj", Shape(LlamaLinear.KProj), p.K, p.Total),
            Row("attention v_proj", Shape(LlamaLinear.VProj), p.V, p.Total),
            Row("attention o_proj", Shape(LlamaLinear.OProj), p.O, p.Total),
            Row("MLP gate_proj", Shape(LlamaLinear.GateProj), p.Gate, p.Total),
            Row("MLP up_proj", Shape(LlamaLinear.UpProj), p.Up, p.Total),
            Row("MLP down_proj", Shape(LlamaLinear.DownProj), p.Down, p.Total),
            Row("norms", Fmt($"{2 * c.NumHiddenLayers + 1} x ({c.HiddenSize})"), p.Norms, p.Total),
        };
        if (p.Biases > 0)
        {
            var biased = LlamaLinears.All.Where(lin => lin.HasBias(c)).Select(lin => lin.ModuleName());
            rows.Add(Row("projection biases", Fmt($"{c.NumHiddenLayers} x ({string.Join(", ", biased)})"), p.Biases, p.Total));
        }
        rows.AddRange(new[]
        {
            c.TieWordEmbeddings
                ? ["lm_head", "tied to embed_tokens", "0", "0.00%"]
                : Row("lm_head", Fmt($"({c.VocabSize}, {c.HiddenSize})"), p.LmHead, p.Total),
            Row("total", "", p.Total, p.Total),
            Row("  of which projections (prunable)", "", p.Linear, p.Total),
        });
        long lora = ParameterCounts.Lora(c, rank, LlamaLinears.All);
        rows.Add(Row(Fmt($"LoRA r={rank}, all 7 projections"), "r x (in + out) each", lora, p.Total));
        return new Table("parameters", ["part", "shape", "parameters", "share"], rows, TextColumns: 2);
    }

    private static string[] Row(string part, string shape, long count, long total) =>
        [part, shape, Fmt($"{count:N0}"), Fmt($"{100.0 * count / total:F2}%")];

    private static Table LayerTable(LlamaConfig c)
    {
        var p = ParameterCounts.Of(c);
        var rows = p.Layers.Select(l => new[]
        {
            Fmt($"{l.Layer}"), Fmt($"{l.Heads}"), Fmt($"{l.KeyValueHeads}"), Fmt($"{l.Intermediate}"),
            Fmt($"{l.Attention:N0}"), Fmt($"{l.Mlp:N0}"), Fmt($"{l.Total:N0}"),
        }).ToList();
        return new Table("per-layer widths (pruned model)", ["layer", "heads", "kv heads", "MLP", "attention", "MLP params", "total"], rows, TextColumns: 1);
    }

    private static Table MemoryTable(LlamaConfig c, TrainingMemoryOptions o)
    {
        var columns = new (ScratchModel Backend, LpDType DType)[]
        {
            (ScratchModel.Cpu, LpDType.F32), (ScratchModel.Cpu, LpDType.BF16), (ScratchModel.Cuda, LpDType.F32), (ScratchModel.Cuda, LpDType.BF16),
        };
        var estimates = columns.Select(col => TrainingMemory.Estimate(c, o, col.Backend, col.DType)).ToArray();
        string[] Line(string name, Func<TrainingMemory, long> value) => [name, .. estimates.Select(e => Bytes(value(e)))];
        long n = (long)o.Batch * o.Seq;
        var rows = new List<string[]>
        {
            Line("base weights", e => e.BaseWeights),
            Line("LoRA params + grads (f32)", e => e.LoraParamsAndGrads),
            Line("AdamW m + v (f32)", e => e.Optimizer),
            Line("output masks", e => e.Masks),
            Line("saved activations (cpu f32, cuda bf16)", e => e.SavedActivations),
            Line(Fmt($"logits, one LM-head chunk ({LlamaGraph.HeadChunkRows(n, c.VocabSize)}, {c.VocabSize}) f32"), e => e.Logits),
            Line("backward buffers", e => e.BackwardBuffers),
            Line("scratch workspace", e => e.Scratch),
            Line("total", e => e.Total),
            Line("grad criterion would add", e => e.GradCriterionExtra),
            Line("total with grad criterion", e => e.Total + e.GradCriterionExtra),
        };
        string[] headers = ["training step", .. columns.Select(col => Fmt($"{(col.Backend == ScratchModel.Cpu ? $"cpu ({o.CpuThreads} thr)" : "cuda")} {(col.DType == LpDType.BF16 ? "bf16" : "f32")}"))];
        string note =
            Fmt($"One LoRAPrune step: LlamaGraph forward + backward over {o.Batch} x {o.Seq} tokens with LoRA r={o.LoraRank} (dropout {o.LoraDropout}) on all 7 projections and output masks, ") +
            "then gradient-norm clipping and AdamW. Saved activations are bf16 on cuda (its default; f32 on cpu). Every row but scratch is the exact size of the buffers the engine allocates; scratch replays the " +
            "backend kernels' workspace requests in step order (the workspace grows to max(request, 1.5x)). BLAS/cuBLAS internal workspaces and " +
            "allocator rounding are not counted. The grad criterion row is an f32 gradient of every base weight (plus its extra scratch): " +
            "the memory LoRAPrune's LoRA-gradient importance saves.";
        return new Table("memory", headers, rows, TextColumns: 1, note);
    }

    private static string Fmt(FormattableString s) => s.ToString(Invariant);

    /// <summary>Binary units with two decimals ("1.50 GiB"), bytes below 1 KiB.</summary>
    public static string Bytes(long bytes)
    {
        string[] units = ["KiB", "MiB", "GiB", "TiB"];
        if (bytes < 1024) return Fmt($"{bytes} B");
        double value = bytes;
        int unit = -1;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return Fmt($"{value:F2} {units[unit]}");
    }

    private static void Write(Terminal terminal, IReadOnlyList<Table> tables)
    {
        foreach (Table t in tables)
        {
            if (terminal.Rich is { } console)
            {
                var table = new Spectre.Console.Table().Border(TableBorder.Rounded).Title(Markup.Escape(t.Title));
                for (int i = 0; i < t.Headers.Length; i++)
                {
                    var column = new TableColumn(Markup.Escape(t.Headers[i]));
                    if (i >= t.TextColumns) column.RightAligned();
                    table.AddColumn(column);
                }
                foreach (string[] row in t.Rows) table.AddRow(row.Select(Markup.Escape).ToArray());
                console.Write(table);
                if (t.Note is not null) console.MarkupLine($"[grey]{Markup.Escape(t.Note)}[/]");
                continue;
            }
            WritePlain(terminal.Out, t);
        }
    }

    private static void WritePlain(TextWriter output, Table t)
    {
        output.WriteLine(t.Title);
        var widths = t.Headers.Select((h, i) => t.Rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        string Line(string[] cells) => "  " + string.Join("  ", cells.Select((cell, i) =>
            i >= t.TextColumns ? cell.PadLeft(widths[i]) : cell.PadRight(widths[i]))).TrimEnd();
        if (t.TextColumns < t.Headers.Length) output.WriteLine(Line(t.Headers));
        foreach (string[] row in t.Rows) output.WriteLine(Line(row));
        if (t.Note is not null)
            foreach (string line in Wrap(t.Note, 100)) output.WriteLine("  " + line);
        output.WriteLine();
    }

    // Greedy word wrap at `width` characters.
    private static IEnumerable<string> Wrap(string text, int width)
    {
        var line = new System.Text.StringBuilder();
        foreach (string word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                yield return line.ToString();
                line.Clear();
            }
            if (line.Length > 0) line.Append(' ');
            line.Append(word);
        }
        if (line.Length > 0) yield return line.ToString();
    }
}
