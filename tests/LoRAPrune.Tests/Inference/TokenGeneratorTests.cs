// TokenGeneratorTests.cs — generation on a tiny random GQA model (cpu backend): the logits at the last
// real position of a right-padded window equal those of the unpadded sequence, greedy generation equals
// a step-by-step argmax over exact-length graphs, sampling is fixed by the seed, and each stop rule holds.
using LoRAPrune.Core.Inference;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;
using LoRAPrune.Tests.Conformance;
using LoRAPrune.Tests.Model;

namespace LoRAPrune.Tests.Inference;

public sealed class TokenGeneratorTests : IDisposable
{
    private static readonly LlamaConfig Config = EngineGradientTests.TinyConfig; // V=50, max positions 64
    private static readonly int[] Prompt = [1, 17, 4, 33, 8];
    private readonly Context _ctx = TestBackends.Get("cpu").CreateContext();
    private readonly LlamaWeights _weights;

    public TokenGeneratorTests() => _weights = LlamaWeights.Random(_ctx, Config, seed: 3, LpDType.F32, std: 0.3);

    public void Dispose()
    {
        _weights.Dispose();
        _ctx.Dispose();
    }

    private float[] LastLogits(IReadOnlyList<int> sequence, int window)
    {
        using var graph = new LlamaGraph(_weights, null, null, 1, window);
        var tokens = new int[window];
        for (int i = 0; i < sequence.Count; i++) tokens[i] = sequence[i];
        return graph.Logits(tokens).AsSpan((sequence.Count - 1) * Config.VocabSize, Config.VocabSize).ToArray();
    }

    [Fact]
    public void Right_padding_leaves_the_last_real_logits_unchanged()
    {
        float[] exact = LastLogits(Prompt, Prompt.Length);
        foreach (int window in new[] { 8, 16, 29 })
        {
            float[] padded = LastLogits(Prompt, window);
            double worst = exact.Zip(padded, (a, b) => Math.Abs(a - b)).Max();
            // Same arithmetic, only the GEMM shapes differ: f32 rounding-level differences at most.
            Assert.True(worst < 1e-5, $"window {window}: max |diff| {worst:E2}");
        }
    }

    [Fact]
    public void Windows_double_from_16_and_stop_at_the_capacity()
    {
        Assert.Equal(16, TokenGenerator.Window(1, 100));
        Assert.Equal(16, TokenGenerator.Window(16, 100));
        Assert.Equal(32, TokenGenerator.Window(17, 100));
        Assert.Equal(64, TokenGenerator.Window(40, 100));
        Assert.Equal(50, TokenGenerator.Window(40, 50));
        Assert.Equal(10, TokenGenerator.Window(9, 10));
    }

    [Fact]
    public void Greedy_generation_equals_argmax_over_exact_length_graphs()
    {
        const int count = 20; // crosses the 16 -> 32 window switch
        using var generator = new TokenGenerator(_weights, null);
        int[] generated = generator.Generate(Prompt, new GenerationOptions { MaxNewTokens = count }, new Sampler(new SamplingOptions { Greedy = true }, 0)).ToArray();
        Assert.Equal(StopReason.MaxTokens, generator.Stop);
        Assert.Equal(count, generated.Length);

        var sequence = new List<int>(Prompt);
        for (int i = 0; i < count; i++) sequence.Add(Sampler.Argmax(LastLogits(sequence, sequence.Count)));
        Assert.Equal(sequence.Skip(Prompt.Length), generated);
    }

    [Fact]
    public void Sampling_is_deterministic_per_seed_and_stops_at_max_tokens()
    {
        int[] Run(ulong seed, int max)
        {
            using var generator = new TokenGenerator(_weights, null);
            var options = new GenerationOptions { MaxNewTokens = max };
            int[] ids = generator.Generate(Prompt, options, new Sampler(new SamplingOptions { Temperature = 1.0, TopP = 0.95 }, seed)).ToArray();
            Assert.Equal(StopReason.MaxTokens, generator.Stop);
            return ids;
        }
        int[] first = Run(5, 12);
        Assert.Equal(12, first.Length);
        Assert.All(first, id => Assert.InRange(id, 0, Config.VocabSize - 1));
        Assert.Equal(first, Run(5, 12));
        Assert.Equal(first[..7], Run(5, 7)); // a shorter run is a prefix: one draw per token
        Assert.NotEqual(first, Run(6, 12));
    }

    [Fact]
    public void A_stop_id_ends_generation_and_is_returned_last()
    {
        using var generator = new TokenGenerator(_weights, null);
        var greedy = new Sampler(new SamplingOptions { Greedy = true }, 0);
        int[] free = generator.Generate(Prompt, new GenerationOptions { MaxNewTokens = 10 }, greedy).ToArray();
        int stop = free[3];
        int firstAt = Array.IndexOf(free, stop);
        int[] stopped = generator.Generate(Prompt, new GenerationOptions { MaxNewTokens = 10, StopIds = [stop] }, greedy).ToArray();
        Assert.Equal(StopReason.EndOfSequence, generator.Stop);
        Assert.Equal(free[..(firstAt + 1)], stopped);
    }

    [Fact]
    public void Generation_stops_when_the_context_is_full()
    {
        var small = Config with { MaxPositionEmbeddings = 8 };
        using var weights = LlamaWeights.Random(_ctx, small, seed: 3, LpDType.F32, std: 0.3);
        using var generator = new TokenGenerator(weights, null);
        int[] ids = generator.Generate(Prompt, new GenerationOptions { MaxNewTokens = 10 }, new Sampler(new SamplingOptions { Greedy = true }, 0)).ToArray();
        // Inputs reach positions 0..7: prompt 5 + 3 fed back, the 4th generated token is predicted at position 7.
        Assert.Equal(4, ids.Length);
        Assert.Equal(StopReason.ContextFull, generator.Stop);
    }

    [Fact]
    public void The_vocabulary_limit_keeps_ids_below_it()
    {
        using var generator = new TokenGenerator(_weights, null);
        var options = new GenerationOptions { MaxNewTokens = 30, VocabLimit = 5 };
        int[] ids = generator.Generate(Prompt, options, new Sampler(new SamplingOptions { Temperature = 2.0, TopP = 1.0 }, 9)).ToArray();
        Assert.All(ids, id => Assert.InRange(id, 0, 4));
    }

    [Fact]
    public void Bad_prompts_are_rejected_before_any_work()
    {
        using var generator = new TokenGenerator(_weights, null);
        var sampler = new Sampler(new SamplingOptions { Greedy = true }, 0);
        var options = new GenerationOptions { MaxNewTokens = 3 };
        Assert.Contains("no tokens", Assert.Throws<ArgumentException>(() => generator.Generate([], options, sampler)).Message);
        Assert.Contains("outside the model's vocabulary of 50", Assert.Throws<ArgumentException>(() => generator.Generate([1, 50], options, sampler)).Message);
        Assert.Contains("at most 64", Assert.Throws<ArgumentException>(() => generator.Generate(new int[65], options, sampler)).Message);
    }
}
