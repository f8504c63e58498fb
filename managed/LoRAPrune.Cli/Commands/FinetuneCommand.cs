// FinetuneCommand.cs — `loraprune finetune`: LoRA fine-tuning of a frozen model on text, split, token or Alpaca
// data. The shared run options and executor (TrainingRunOptions, TrainingConsole) give it the progress bar,
// metrics.jsonl, atomic checkpoints, exact --resume and exit code 130 on SIGINT/SIGTERM; it writes a PEFT adapter.
using System.CommandLine;
using System.Globalization;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;

namespace LoRAPrune.Cli.Commands;

internal sealed class FinetuneCommand : Command
{
    private const string CommandName = "finetune";

    private readonly TrainingRunOptions _run = new(defaultLearningRate: 1e-4, acceptsAlpaca: true);
    private readonly LoraModelOptions _model = new();
    private readonly Option<string> _initAdapter = new("--init-adapter") { HelpName = "DIR", Description = "Start from this PEFT adapter folder (its rank, alpha and targets apply)." };

    public FinetuneCommand() : base(CommandName, "LoRA fine-tuning of a frozen LLaMA-family model (base weights get no gradients); writes a PEFT adapter.")
    {
        foreach (Option option in _model.All.Concat(_run.All).Append(_initAdapter)) Options.Add(option);
        SetAction(p => TrainingConsole.Execute(p, CommandName, () => Settings(p), s => s.Run.Device, Open, WriteHeader,
            (run, _) => $"adapter in {run.AdapterFolder}"));
    }

    private FinetuneSettings Settings(ParseResult p)
    {
        string? initAdapter = p.GetValue(_initAdapter);
        if (initAdapter is not null && _model.FixedByAdapter.FirstOrDefault(o => TrainingRunOptions.Given(p, o)) is { } fixedOption)
            throw new TrainingSetupException($"{fixedOption.Name} cannot be combined with --init-adapter: the adapter sets it");
        var settings = new FinetuneSettings { Run = _run.Bind(p), Model = _model.Bind(p), InitAdapter = initAdapter };
        settings.Validate();
        return settings;
    }

    private static FinetuneRun Open(FinetuneSettings settings, Context context, string device)
    {
        settings = settings with { Run = settings.Run with { Device = device } };
        (_, _, TrainingData data) = TrainingData.OpenForModel(settings.Run, settings.Model.ModelFolder);
        return new FinetuneRun(context, settings, data.Train, data.Eval);
    }

    private static void WriteHeader(TextWriter output, FinetuneRun run)
    {
        LlamaConfig c = run.Config;
        RunSettings s = run.Settings;
        output.WriteLine($"model: {run.Spec.Model.ModelFolder} (hidden {c.HiddenSize}, {c.NumHiddenLayers} layers, {c.NumAttentionHeads}/{c.NumKeyValueHeads} heads, " +
                         $"MLP {c.IntermediateSize}, vocab {c.VocabSize}), base {(run.Spec.Model.BaseDType == LpDType.BF16 ? "bf16" : "f32")} on {s.Device}");
        LoraOptions lora = run.Lora.Options;
        long loraParams = run.Lora.Params.Entries.Sum(e => e.Count);
        output.WriteLine($"lora: r {lora.Rank}, alpha {lora.Alpha.ToString(CultureInfo.InvariantCulture)}, dropout {lora.Dropout.ToString(CultureInfo.InvariantCulture)}, " +
                         $"targets {string.Join(",", lora.Targets.Distinct().Order().Select(t => t.ModuleName()))}; {loraParams:N0} trainable parameters");
        output.WriteLine($"data: {run.TrainDescription}");
        if (run.EvalDescription is { } eval) output.WriteLine($"eval: {eval}");
        output.WriteLine(TrainingConsole.StepsLine(run.Trainer.Options, s.Seq));
    }
}
