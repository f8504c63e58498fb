// PruneSettings.cs — what `loraprune prune` is asked to do: the shared run settings, the frozen model with its LoRA
// adapters (as finetune), the pruning options, and the evaluation before and after; plus the run identity stored in
// every checkpoint so a resume is refused when anything that decides the result differs.
using System.Text.Json.Nodes;
using LoRAPrune.Core.Eval;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Training;

namespace LoRAPrune.Core.Pruning;

public sealed record PruneSettings
{
    /// <summary>Default evaluation sets: the WikiText-2 and PTB stand-ins of `loraprune data fetch`.</summary>
    public static readonly IReadOnlyList<string> DefaultEvalSets = [Data.CorpusSplits.SotuTest.Name, Data.CorpusSplits.BrownTest.Name];

    public required RunSettings Run { get; init; }
    public required LoraModelSettings Model { get; init; }
    public PruneOptions Prune { get; init; } = new();

    /// <summary>Data sets scored before and after pruning (split names or text files); null: sotu:test and brown:test
    /// when they have been fetched, else none (the report says so); empty: none.</summary>
    public IReadOnlyList<string>? EvalSets { get; init; }

    /// <summary>Perplexity window (the pinned protocol's seq_len).</summary>
    public int EvalWindow { get; init; } = PerplexityProtocol.DefaultWindow;

    /// <summary>Checks the settings that need no files; throws <see cref="TrainingSetupException"/>.</summary>
    public void Validate()
    {
        Run.Validate();
        Model.Validate();
        try
        {
            Prune.Validate();
        }
        catch (ArgumentException e)
        {
            throw new TrainingSetupException(e.Message);
        }
        if (EvalWindow < 2) throw new TrainingSetupException($"--eval-window must be at least 2, got {EvalWindow}");
        // Only adapted modules are scored (the authors' code; one code path for every criterion), so a block without one is never ranked.
        if (Prune.Criterion != PruneCriterion.Random)
        {
            if (!Model.Lora.Targets.Any(t => t.IsAttention()))
                throw new TrainingSetupException("--targets has no attention projection, so no KV group could ever be scored; add q,k,v,o (the paper puts LoRA on all seven)");
            if (!Model.Lora.Targets.Any(t => !t.IsAttention()))
                throw new TrainingSetupException("--targets has no MLP projection, so no MLP channel could ever be scored; add gate,up,down (the paper puts LoRA on all seven)");
        }
    }

    /// <summary>The settings that decide the result, as stored in a checkpoint's metadata and compared on resume.</summary>
    public JsonObject Identity(LlamaConfig model, LoraOptions lora, string dataHash, int samples, TrainerOptions trainer)
    {
        JsonObject specific = Model.Identity(model, lora);
        foreach ((string key, JsonNode? value) in Prune.Identity()) specific[key] = value?.DeepClone();
        return Run.Identity("prune", dataHash, samples, trainer, specific);
    }
}
