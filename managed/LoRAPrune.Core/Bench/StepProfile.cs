// StepProfile.cs — where a training step's time goes: every op of lp.h belongs to one op class (GEMM, attention,
// cross-entropy, elementwise, importance, optimizer), and a recorder set as a context's OpTimer sums the time of each
// class over the profiled steps. What the step spends outside every op (host work, uploads, downloads) is "other".
using LoRAPrune.Native;

namespace LoRAPrune.Core.Bench;

/// <summary>The op classes of the step-time breakdown, in table order.</summary>
public enum OpClass
{
    /// <summary>lora_linear forward/backward (base and LoRA GEMMs, dropout and masks inside them), lp_op_gemm, lora_merge.</summary>
    Gemm,
    Attention,
    /// <summary>The softmax cross-entropy over the vocabulary (the LM head's GEMMs are in Gemm).</summary>
    CrossEntropy,
    /// <summary>RMSNorm, RoPE, SwiGLU, embedding, residual adds and axpys, biases, dropout, conversions and gathers.</summary>
    Elementwise,
    /// <summary>importance_accumulate, group_normalize, ema and the score masks of docs/method.md §2.</summary>
    Importance,
    /// <summary>AdamW, the gradient norm and the clip.</summary>
    Optimizer,
    /// <summary>Step time outside every op: host work, uploads, downloads, buffer fills.</summary>
    Other,
}

public static class OpClasses
{
    /// <summary>The class of an op, by its lp.h name without "lp_op_".</summary>
    public static OpClass Of(string op) => op switch
    {
        "lora_linear_forward" or "lora_linear_backward" or "gemm" or "lora_merge" => OpClass.Gemm,
        "attention_forward" or "attention_backward" => OpClass.Attention,
        _ when op.StartsWith("cross_entropy", StringComparison.Ordinal) => OpClass.CrossEntropy,
        _ when op.StartsWith("importance_", StringComparison.Ordinal) => OpClass.Importance,
        "adamw_step" or "grad_norm_accumulate" or "grad_clip" => OpClass.Optimizer,
        _ => OpClass.Elementwise,
    };

    /// <summary>The column name of a class in tables and JSON.</summary>
    public static string Name(OpClass c) => c switch
    {
        OpClass.Gemm => "gemm",
        OpClass.Attention => "attention",
        OpClass.CrossEntropy => "cross_entropy",
        OpClass.Elementwise => "elementwise",
        OpClass.Importance => "importance",
        OpClass.Optimizer => "optimizer",
        _ => "other",
    };
}

/// <summary>Sums op times per class while set as a context's <see cref="Context.OpTimer"/>.</summary>
public sealed class OpClassRecorder : IOpTimer
{
    private readonly double[] _seconds = new double[Enum.GetValues<OpClass>().Length];
    private readonly Dictionary<string, double> _perOp = new(StringComparer.Ordinal);

    public void Record(string op, double seconds)
    {
        _seconds[(int)OpClasses.Of(op)] += seconds;
        _perOp[op] = _perOp.GetValueOrDefault(op) + seconds;
    }

    /// <summary>Seconds recorded in a class so far (Other is never recorded: it is what the ops leave of a step).</summary>
    public double Seconds(OpClass c) => _seconds[(int)c];

    /// <summary>Seconds recorded per op name.</summary>
    public IReadOnlyDictionary<string, double> PerOp => _perOp;

    public double Total => _seconds.Sum();
}
