// TokenGenerator.cs — autoregressive generation on LlamaGraph without a KV cache: every new token runs
// the whole sequence so far through a batch-1 graph and samples from the logits of its last real
// position. Graphs have a fixed length, so the sequence is right-padded into a window (see Window).
using LoRAPrune.Core.Model;

namespace LoRAPrune.Core.Inference;

/// <summary>Why generation ended.</summary>
public enum StopReason
{
    /// <summary>MaxNewTokens tokens were generated.</summary>
    MaxTokens,

    /// <summary>A stop id (end of sequence) was generated; it is the last token yielded.</summary>
    EndOfSequence,

    /// <summary>The sequence reached the model's max_position_embeddings.</summary>
    ContextFull,
}

/// <summary>What to generate.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 64;

    /// <summary>Ids that end generation (EOS); the stop id itself is yielded.</summary>
    public IReadOnlyCollection<int> StopIds { get; init; } = [];

    /// <summary>Only ids below this are sampled (a tokenizer smaller than the model's vocabulary); null: all V.</summary>
    public int? VocabLimit { get; init; }
}

/// <summary>
/// Generates tokens with a LlamaGraph of batch 1.
/// <para>
/// Padding is exact: every op of the graph is row-wise except causal attention, and position t attends
/// to positions 0..t only, so the logits at the last real position of a right-padded window are the
/// logits of the unpadded sequence (the pad rows are computed and ignored). The window length doubles
/// from <see cref="MinWindow"/> as the sequence grows (capped at the longest sequence the run can reach),
/// so a step costs O(current length) instead of O(final length) and at most log2 graphs are built. The
/// arithmetic is the same; only the shape handed to the GEMMs changes with the window, which can move the
/// last bits of a logit, so a run is reproducible for a given (model, prompt, options, backend).
/// </para>
/// </summary>
public sealed class TokenGenerator : IDisposable
{
    /// <summary>The smallest window built.</summary>
    public const int MinWindow = 16;

    private readonly LlamaWeights _weights;
    private readonly LoraAdapters? _lora;
    private LlamaGraph? _graph;

    public TokenGenerator(LlamaWeights weights, LoraAdapters? lora)
    {
        _weights = weights;
        _lora = lora;
    }

    /// <summary>How the last Generate ended (valid once its enumeration finished).</summary>
    public StopReason Stop { get; private set; }

    /// <summary>Window length of the graph used for a sequence of <paramref name="length"/> tokens when the
    /// run can reach <paramref name="capacity"/> tokens: the next power of two from MinWindow, capped.</summary>
    public static int Window(int length, int capacity)
    {
        int window = MinWindow;
        while (window < length) window *= 2;
        return Math.Min(window, capacity);
    }

    /// <summary>Yields up to options.MaxNewTokens new ids after <paramref name="prompt"/>, one at a time as
    /// each is chosen (for streaming), stopping after a stop id or when the context is full.</summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, GenerationOptions options, Sampler sampler)
    {
        var cfg = _weights.Config;
        if (prompt.Count == 0) throw new ArgumentException("the prompt has no tokens", nameof(prompt));
        if (options.MaxNewTokens < 0) throw new ArgumentException($"max new tokens must not be negative, got {options.MaxNewTokens}", nameof(options));
        if (prompt.Count > cfg.MaxPositionEmbeddings)
            throw new ArgumentException($"the prompt has {prompt.Count} tokens, the model takes at most {cfg.MaxPositionEmbeddings} (max_position_embeddings)", nameof(prompt));
        foreach (int id in prompt)
            if ((uint)id >= (uint)cfg.VocabSize) throw new ArgumentException($"prompt token id {id} is outside the model's vocabulary of {cfg.VocabSize}", nameof(prompt));
        int limit = Math.Min(options.VocabLimit ?? cfg.VocabSize, cfg.VocabSize);
        if (limit < 1) throw new ArgumentException($"vocabulary limit must be positive, got {limit}", nameof(options));
        return Run(prompt, options, sampler, limit);
    }

    private IEnumerable<int> Run(IReadOnlyList<int> prompt, GenerationOptions options, Sampler sampler, int limit)
    {
        var cfg = _weights.Config;
        int v = cfg.VocabSize;
        // Longest sequence this run can hold: the last generated token is never fed back.
        int capacity = (int)Math.Min((long)prompt.Count + Math.Max(options.MaxNewTokens - 1, 0), cfg.MaxPositionEmbeddings);
        var sequence = new List<int>(prompt);
        Stop = StopReason.MaxTokens;
        for (int produced = 0; produced < options.MaxNewTokens; produced++)
        {
            if (sequence.Count > capacity)
            {
                Stop = StopReason.ContextFull;
                yield break;
            }
            var graph = GraphFor(Window(sequence.Count, capacity));
            var tokens = new int[graph.Seq]; // (T) right-padded with id 0
            for (int i = 0; i < sequence.Count; i++) tokens[i] = sequence[i];
            float[] logits = graph.Logits(tokens); // (T, V)
            int next = sampler.Next(logits.AsSpan((sequence.Count - 1) * v, limit));
            sequence.Add(next);
            yield return next;
            if (options.StopIds.Contains(next))
            {
                Stop = StopReason.EndOfSequence;
                yield break;
            }
        }
    }

    private LlamaGraph GraphFor(int window)
    {
        if (_graph?.Seq == window) return _graph;
        _graph?.Dispose();
        _graph = null;
        _graph = new LlamaGraph(_weights, _lora, masks: null, batch: 1, seq: window);
        return _graph;
    }

    public void Dispose()
    {
        _graph?.Dispose();
        _graph = null;
    }
}
