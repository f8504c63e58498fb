// TrainerOptions.cs — the hyper-parameters of one training run as the optimizer loop sees them:
// batch split, step budget, the linear LR schedule, clipping and AdamW (HF Trainer defaults,
// docs/method.md §3.5), and the run seed the LoRA dropout streams derive from.
namespace LoRAPrune.Core.Training;

public sealed record TrainerOptions
{
    /// <summary>Samples per forward/backward pass (the graph's batch dimension B).</summary>
    public int MicroBatch { get; init; } = 4;

    /// <summary>Micro-batches per optimizer step; the step's batch is MicroBatch x GradAccum samples.</summary>
    public int GradAccum { get; init; } = 1;

    /// <summary>Optimizer steps of the whole run (the LR decays to 0 over them).</summary>
    public long MaxSteps { get; init; } = 1;

    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 1e-4;

    /// <summary>Steps of linear warm-up from 0 to the peak (HF get_linear_schedule_with_warmup).</summary>
    public long WarmupSteps { get; init; }

    /// <summary>Global gradient-norm clip (PyTorch clip_grad_norm_); 0 or less turns clipping off.</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;
    public double WeightDecay { get; init; }

    /// <summary>The run seed: LoRA dropout of (step, micro-batch) is drawn from a stream derived from it.</summary>
    public ulong Seed { get; init; }

    /// <summary>Samples per optimizer step.</summary>
    public int Batch => MicroBatch * GradAccum;

    public void Validate()
    {
        if (MicroBatch < 1) throw new ArgumentException($"the micro-batch must hold at least 1 sample, got {MicroBatch}");
        if (GradAccum < 1) throw new ArgumentException($"gradient accumulation must be at least 1, got {GradAccum}");
        if (MaxSteps < 1) throw new ArgumentException($"the run needs at least 1 step, got {MaxSteps}");
        if (!(LearningRate >= 0 && double.IsFinite(LearningRate))) throw new ArgumentException($"the learning rate must be a finite number >= 0, got {LearningRate}");
        if (WarmupSteps < 0) throw new ArgumentException($"warm-up steps must not be negative, got {WarmupSteps}");
        if (double.IsNaN(MaxGradNorm)) throw new ArgumentException("the gradient-norm clip must be a number");
        if (Beta1 is < 0 or >= 1 || Beta2 is < 0 or >= 1) throw new ArgumentException($"Adam betas must be in [0, 1), got {Beta1}, {Beta2}");
        if (!(Epsilon > 0)) throw new ArgumentException($"Adam epsilon must be positive, got {Epsilon}");
        if (!(WeightDecay >= 0)) throw new ArgumentException($"weight decay must not be negative, got {WeightDecay}");
    }
}
