// Sampler.cs — picks the next token from one row of logits (V): greedily (argmax) or by nucleus
// (top-p) sampling at a temperature, drawing from its own seeded generator so that the same seed,
// model and prompt give the same tokens on every run and platform.
namespace LoRAPrune.Core.Inference;

/// <summary>How the next token is chosen. Greedy ignores Temperature and TopP.</summary>
public sealed record SamplingOptions
{
    /// <summary>Always take the most likely token (argmax; the lowest id on ties).</summary>
    public bool Greedy { get; init; }

    /// <summary>Logits are divided by this before the softmax; 0 means greedy.</summary>
    public double Temperature { get; init; } = 0.8;

    /// <summary>Nucleus mass: sample among the fewest most likely tokens whose probabilities sum to at least this.</summary>
    public double TopP { get; init; } = 0.9;

    public void Validate()
    {
        if (!(double.IsFinite(Temperature) && Temperature >= 0)) throw new ArgumentException($"temperature must be a non-negative number, got {Temperature}");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"top-p must be in (0, 1], got {TopP}");
    }
}

public sealed class Sampler
{
    private ulong _state;

    public Sampler(SamplingOptions options, ulong seed)
    {
        options.Validate();
        Options = options;
        _state = seed;
    }

    public SamplingOptions Options { get; }

    /// <summary>True when no random number is drawn (greedy, or temperature 0).</summary>
    public bool IsGreedy => Options.Greedy || Options.Temperature == 0;

    /// <summary>The next token id in [0, logits.Length).</summary>
    public int Next(ReadOnlySpan<float> logits)
    {
        if (logits.Length == 0) throw new ArgumentException("no logits to sample from", nameof(logits));
        if (IsGreedy) return Argmax(logits);
        double[] probs = Probabilities(logits, Options.Temperature);
        int[] kept = Nucleus(probs, Options.TopP);
        double mass = 0;
        foreach (int id in kept) mass += probs[id];
        // Renormalised draw: walk the nucleus until the cumulative mass passes u * mass.
        double target = NextUniform() * mass, cumulative = 0;
        foreach (int id in kept)
        {
            cumulative += probs[id];
            if (cumulative > target) return id;
        }
        return kept[^1];
    }

    /// <summary>Index of the largest logit, the lowest index on ties; NaN never wins.</summary>
    public static int Argmax(ReadOnlySpan<float> logits)
    {
        int best = -1;
        for (int i = 0; i < logits.Length; i++)
            if (!float.IsNaN(logits[i]) && (best < 0 || logits[i] > logits[best])) best = i;
        if (best < 0) throw new ArgumentException("every logit is NaN", nameof(logits));
        return best;
    }

    /// <summary>softmax(logits / temperature) in double, with the maximum subtracted first so that a
    /// temperature near 0 gives (numerically) all the mass to the argmax instead of overflowing.</summary>
    public static double[] Probabilities(ReadOnlySpan<float> logits, double temperature)
    {
        if (!(temperature > 0)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "temperature must be positive");
        int best = Argmax(logits);
        double max = logits[best];
        var probs = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            double p = float.IsNaN(logits[i]) ? 0 : Math.Exp((logits[i] - max) / temperature);
            probs[i] = p;
            sum += p;
        }
        for (int i = 0; i < probs.Length; i++) probs[i] /= sum;
        return probs;
    }

    /// <summary>The nucleus of <paramref name="probs"/>: ids sorted by descending probability (lower id
    /// first on ties), the shortest prefix whose cumulative mass is at least <paramref name="topP"/>.</summary>
    public static int[] Nucleus(IReadOnlyList<double> probs, double topP)
    {
        var order = Enumerable.Range(0, probs.Count).ToArray();
        Array.Sort(order, (a, b) => probs[a] != probs[b] ? probs[b].CompareTo(probs[a]) : a.CompareTo(b));
        double cumulative = 0;
        int count = 0;
        while (count < order.Length)
        {
            cumulative += probs[order[count++]];
            // A hair of slack so that mass lost to rounding (sum 0.8999999 for p = 0.9) does not add a token.
            if (cumulative >= topP - 1e-12) break;
        }
        return order[..count];
    }

    // splitmix64: a fixed, documented generator (System.Random's algorithm is not a contract).
    private double NextUniform()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}
