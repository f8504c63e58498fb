// StepReport.cs — what one optimizer step reports: the mean loss over the step's counted tokens, the
// true (unclipped) global gradient norm, the learning rate it used and its throughput.
namespace LoRAPrune.Core.Training;

/// <param name="Step">1-based number of the step just finished (global_step after the increment).</param>
/// <param name="Loss">Mean token NLL over every counted target of the step (NaN when it had none).</param>
/// <param name="LossTokens">Targets that took loss (not IgnoreIndex).</param>
/// <param name="Tokens">Tokens fed through the model (batch x sequence).</param>
/// <param name="GradNorm">Global L2 norm of all gradient arenas before clipping.</param>
/// <param name="LearningRate">The rate AdamW applied.</param>
/// <param name="Seconds">Wall time of the step.</param>
public readonly record struct StepReport(long Step, double Loss, long LossTokens, long Tokens, double GradNorm, double LearningRate, double Seconds)
{
    public double TokensPerSecond => Seconds > 0 ? Tokens / Seconds : 0;
}
