// PruneOptions.cs — every knob of LoRAPrune's pruning loop (docs/method.md): target ratio, the cubic schedule's
// warm-up/cool-down and frequency, the importance criterion and its moving average, exempt layers, the schedule and
// uniform variants, and how pruned structure is removed. The defaults reproduce the authors' script switch for switch.
using System.Globalization;
using System.Text.Json.Nodes;

namespace LoRAPrune.Core.Pruning;

/// <summary>How a group's importance is estimated (docs/method.md §2.6).</summary>
public enum PruneCriterion
{
    /// <summary>LoRAPrune: |(gB A + B gA - gB gA) (.) (W + s B A)| from the LoRA weights and gradients only.</summary>
    Lora,

    /// <summary>First-order Taylor with the true full-weight gradient: |dL/dW (.) (W + s B A)| (the memory-hungry baseline).</summary>
    Grad,

    /// <summary>|W + s B A|.</summary>
    Magnitude,

    /// <summary>Seeded uniform random scores (a floor every criterion must beat).</summary>
    Random,
}

/// <summary>Which ratio the prune events apply (docs/method.md §3.3).</summary>
public enum ScheduleVariant
{
    /// <summary>The authors' code: events only while r0 &lt; r(t) &lt; r1, counts floor(G r(t)); r1 itself is never applied.</summary>
    Paper,

    /// <summary>The paper's events plus one at the first cool-down step that applies r1 itself.</summary>
    Exact,
}

/// <summary>When pruned rows and columns leave the model.</summary>
public enum CompactionMode
{
    /// <summary>Masks during training, one compaction at the end (the authors' code).</summary>
    End,

    /// <summary>Physical removal right after every prune event, so later steps run on the smaller model.</summary>
    Progressive,
}

/// <summary>Which groups a module's importance vector is L2-normalised over (docs/method.md §2.3).</summary>
public enum ScoreNormalization
{
    /// <summary>Every group, pruned ones included (the authors' code).</summary>
    AllGroups,

    /// <summary>Only the groups still kept: a masked run then equals a progressively compacted one exactly.</summary>
    KeptGroups,
}

public sealed record PruneOptions
{
    /// <summary>r1: the fraction of KV groups and of MLP channels removed in every prunable layer.</summary>
    public double Ratio { get; init; } = 0.5;

    /// <summary>r0: the ratio before and during warm-up.</summary>
    public double InitRatio { get; init; }

    /// <summary>Fraction of the steps before the first prune event (no pruning while t &lt;= warm-up x T).</summary>
    public double Warmup { get; init; } = 0.1;

    /// <summary>Fraction of the steps at the end with frozen masks (LoRA still trains).</summary>
    public double Cooldown { get; init; } = 0.1;

    /// <summary>A prune event may happen every this many optimizer steps.</summary>
    public int Frequency { get; init; } = 10;

    public PruneCriterion Criterion { get; init; } = PruneCriterion.Lora;

    /// <summary>lambda of the moving average I = lambda I + (1 - lambda) I_fresh.</summary>
    public double EmaDecay { get; init; } = 0.9;

    /// <summary>Layers with index &lt; floor(ExemptFirst x L) are never pruned.</summary>
    public double ExemptFirst { get; init; } = 0.1;

    /// <summary>The last this many layers are never pruned.</summary>
    public int ExemptLast { get; init; } = 1;

    public ScheduleVariant Schedule { get; init; } = ScheduleVariant.Paper;

    /// <summary>Every layer pruned to the same width, kept MLP channels rounded up to a multiple of
    /// <see cref="UniformChannelMultiple"/>: the result is a stock Hugging Face LLaMA config (no exempt layers).</summary>
    public bool Uniform { get; init; }

    /// <summary>Kept MLP channels are a multiple of this in uniform mode (tensor-core and llama.cpp friendly).</summary>
    public const int UniformChannelMultiple = 8;

    /// <summary>When set, <see cref="Ratio"/> was searched so that this fraction of all parameters remains (RatioPlanner).</summary>
    public double? TargetParams { get; init; }

    public CompactionMode Compaction { get; init; } = CompactionMode.End;

    public ScoreNormalization Normalization { get; init; } = ScoreNormalization.AllGroups;

    /// <summary>Throws <see cref="ArgumentException"/> naming the flag for a value out of range.</summary>
    public void Validate()
    {
        if (!(Ratio > 0 && Ratio < 1)) throw new ArgumentException($"--ratio must be in (0, 1), got {Num(Ratio)}");
        if (!(InitRatio >= 0 && InitRatio < Ratio)) throw new ArgumentException($"--init-ratio must be in [0, --ratio), got {Num(InitRatio)}");
        if (!(Warmup >= 0 && Cooldown >= 0 && Warmup + Cooldown < 1))
            throw new ArgumentException($"--warmup and --cooldown must be >= 0 with a sum below 1, got {Num(Warmup)} and {Num(Cooldown)}");
        if (Frequency < 1) throw new ArgumentException($"--prune-freq must be at least 1, got {Frequency}");
        if (!(EmaDecay >= 0 && EmaDecay < 1)) throw new ArgumentException($"--ema must be in [0, 1), got {Num(EmaDecay)}");
        if (!(ExemptFirst >= 0 && ExemptFirst < 1)) throw new ArgumentException($"--exempt-first must be in [0, 1), got {Num(ExemptFirst)}");
        if (ExemptLast < 0) throw new ArgumentException($"--exempt-last must not be negative, got {ExemptLast}");
        if (Uniform && (ExemptFirst > 0 || ExemptLast > 0))
            throw new ArgumentException("--uniform prunes every layer to the same width, so no layer can be exempt (give --exempt-first 0 --exempt-last 0, or leave them out)");
        if (TargetParams is { } f && !(f > 0 && f < 1)) throw new ArgumentException($"--target-params must be in (0, 1), got {Num(f)}");
        if (Compaction == CompactionMode.Progressive && Normalization == ScoreNormalization.AllGroups)
            throw new ArgumentException("--compact progressive removes pruned groups, so their scores cannot join the normalisation: it needs --score-norm kept");
    }

    /// <summary>The pruning part of a run identity.</summary>
    public JsonObject Identity() => new()
    {
        ["prune_ratio"] = Ratio,
        ["prune_init_ratio"] = InitRatio,
        ["prune_warmup"] = Warmup,
        ["prune_cooldown"] = Cooldown,
        ["prune_freq"] = Frequency,
        ["prune_criterion"] = Name(Criterion),
        ["prune_ema"] = EmaDecay,
        ["prune_exempt_first"] = ExemptFirst,
        ["prune_exempt_last"] = ExemptLast,
        ["prune_schedule"] = Name(Schedule),
        ["prune_uniform"] = Uniform,
        ["prune_target_params"] = TargetParams,
        ["prune_compact"] = Name(Compaction),
        ["prune_score_norm"] = Normalization == ScoreNormalization.KeptGroups ? "kept" : "all",
    };

    /// <summary>The lower-case name of an option value as the command line spells it ("lora", "progressive").</summary>
    public static string Name<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();

    private static string Num(double v) => v.ToString("G", CultureInfo.InvariantCulture);
}
