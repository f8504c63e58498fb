// PerplexityProtocol.cs — the pinned perplexity protocol of docs/method.md §5.2 (LLM-Pruner's, which
// LoRAPrune's inference.py copies): join texts with "\n\n", tokenize once with a single BOS, cut into
// non-overlapping windows (stride = window, remainder dropped), evaluate each window on its own with
// window-1 next-token predictions, PPL = exp(mean NLL over every predicted token).
using System.Diagnostics;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Text;

namespace LoRAPrune.Core.Eval;

/// <summary>Progress of one evaluation: windows and tokens done so far, and the seconds spent.</summary>
public readonly record struct PerplexityProgress(int WindowsDone, int Windows, long TokensDone, double Seconds)
{
    public double TokensPerSecond => Seconds > 0 ? TokensDone / Seconds : 0;
}

/// <summary>The protocol's steps, each usable on its own (tests check them one by one).</summary>
public static class PerplexityProtocol
{
    /// <summary>The LLM-Pruner / LoRAPrune default window (inference.py --cutoff_len 128).</summary>
    public const int DefaultWindow = 128;

    /// <summary>What rows (or files) are joined with before tokenizing.</summary>
    public const string TextSeparator = "\n\n";

    /// <summary>The id stream of <paramref name="texts"/>: joined with "\n\n", tokenized once, one BOS at the very start.</summary>
    public static int[] Tokenize(IReadOnlyList<string> texts, ITokenizer tokenizer) =>
        tokenizer.Encode(string.Join(TextSeparator, texts), addBos: true);

    /// <summary>Number of whole windows in a stream of <paramref name="tokens"/> ids (the remainder is dropped).</summary>
    public static int WindowCount(int tokens, int window) => tokens / window;

    /// <summary>Next-token predictions the protocol scores: window - 1 per window.</summary>
    public static long PredictedTokens(int tokens, int window) => (long)WindowCount(tokens, window) * (window - 1);

    /// <summary>Window <paramref name="index"/>'s inputs and targets: targets[j] = ids[j+1] inside the window, the last
    /// position ignored (no context crosses a window boundary).</summary>
    public static void FillWindow(ReadOnlySpan<int> ids, int window, int index, Span<int> tokens, Span<int> targets)
    {
        ReadOnlySpan<int> w = ids.Slice(index * window, window);
        w.CopyTo(tokens);
        w[1..].CopyTo(targets);
        targets[window - 1] = LlamaGraph.IgnoreIndex;
    }

    /// <summary>
    /// Scores every window of <paramref name="ids"/> with the model (and LoRA adapters when given), <paramref name="batch"/>
    /// windows per forward pass; a last partial batch is filled with fully ignored rows, which change nothing.
    /// </summary>
    public static PerplexityResult Evaluate(LlamaWeights weights, LoraAdapters? lora, int[] ids, int window, int batch,
                                            Action<PerplexityProgress>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        int vocab = weights.Config.VocabSize;
        int bad = Array.FindIndex(ids, id => id < 0 || id >= vocab);
        if (bad >= 0) throw new ArgumentException($"token id {ids[bad]} at position {bad} is outside the model's vocabulary of {vocab}", nameof(ids));
        int windows = WindowCount(ids.Length, window);
        if (windows == 0) throw new ArgumentException($"{ids.Length} tokens do not fill one window of {window}", nameof(ids));

        int rows = Math.Min(batch, windows);
        using var graph = new LlamaGraph(weights, lora, null, rows, window);
        var tokens = new int[rows * window];
        var targets = new int[rows * window];
        double nll = 0;
        long predicted = 0;
        var clock = Stopwatch.StartNew();
        for (int first = 0; first < windows; first += rows)
        {
            int used = Math.Min(rows, windows - first);
            Array.Fill(tokens, 0);
            Array.Fill(targets, LlamaGraph.IgnoreIndex);
            for (int r = 0; r < used; r++)
                FillWindow(ids, window, first + r, tokens.AsSpan(r * window, window), targets.AsSpan(r * window, window));
            LlamaGraph.LossSum loss = graph.Forward(tokens, targets);
            nll += loss.Sum;
            predicted += loss.Count;
            progress?.Invoke(new PerplexityProgress(first + used, windows, (long)(first + used) * window, clock.Elapsed.TotalSeconds));
        }
        clock.Stop();
        return new PerplexityResult(window, window, windows, predicted, nll, clock.Elapsed.TotalSeconds);
    }
}

/// <summary>One perplexity measurement: the protocol's counts and the summed NLL.</summary>
/// <param name="Window">Tokens per window (the protocol's seq_len).</param>
/// <param name="Stride">Distance between window starts (= window: no overlap).</param>
/// <param name="Windows">Whole windows scored.</param>
/// <param name="PredictedTokens">Scored next-token predictions, Windows x (Window - 1).</param>
/// <param name="NllSum">Sum of the token NLLs (nats).</param>
/// <param name="Seconds">Wall time of the forward passes.</param>
public sealed record PerplexityResult(int Window, int Stride, int Windows, long PredictedTokens, double NllSum, double Seconds)
{
    /// <summary>Mean NLL per predicted token (nats).</summary>
    public double MeanNll => NllSum / PredictedTokens;

    /// <summary>exp(mean NLL).</summary>
    public double Perplexity => Math.Exp(MeanNll);

    /// <summary>Input tokens processed per second.</summary>
    public double TokensPerSecond => Seconds > 0 ? (double)Windows * Window / Seconds : 0;

    /// <summary>Mean forward time per window in milliseconds (LoRAPrune's "inference time").</summary>
    public double MillisecondsPerWindow => Windows > 0 ? Seconds * 1000 / Windows : 0;
}
