// OpTimer.cs — the opt-in per-op timing hook of a Context, for profiling a training step by op: with a
// timer set, every op wrapper synchronises the device before and after the op and reports the wall time
// between, so device backends are timed to completion. Without one (the default) an op pays one null check.
using System.Diagnostics;

namespace LoRAPrune.Native;

/// <summary>Receives the time of every op run on a context while it is that context's <see cref="Context.OpTimer"/>.</summary>
public interface IOpTimer
{
    /// <param name="op">The op's name in lp.h without the "lp_op_" prefix ("lora_linear_forward").</param>
    /// <param name="seconds">Wall time from before the op was queued to its completion.</param>
    void Record(string op, double seconds);
}

public sealed partial class Context
{
    /// <summary>
    /// Per-op timing for profiling (null by default). While set, each op synchronises before and after itself, so ops
    /// no longer overlap with host work; that is the price of knowing where a step's time goes.
    /// </summary>
    public IOpTimer? OpTimer { get; set; }

    private OpTiming Timed(string op) => OpTimer is null ? default : new OpTiming(this, op);

    /// <summary>The timing of one op, from its creation to Dispose; a default instance times nothing.</summary>
    private readonly struct OpTiming : IDisposable
    {
        private readonly Context? _context;
        private readonly string _op;
        private readonly long _start;

        public OpTiming(Context context, string op)
        {
            context.Synchronize();
            _context = context;
            _op = op;
            _start = Stopwatch.GetTimestamp();
        }

        public void Dispose()
        {
            if (_context?.OpTimer is not { } timer) return;
            _context.Synchronize();
            timer.Record(_op, Stopwatch.GetElapsedTime(_start).TotalSeconds);
        }
    }
}
