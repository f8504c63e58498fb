// SamplerTests.cs — the token sampler on hand-made logits: greedy is argmax, the top-p nucleus is the
// smallest most-likely prefix reaching p, draws stay inside it with the renormalised frequencies, a
// seed fixes the draws, and a temperature near 0 picks the argmax like greedy.
using LoRAPrune.Core.Inference;

namespace LoRAPrune.Tests.Inference;

public sealed class SamplerTests
{
    // Probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625 as logits (log p; the softmax gives them back).
    private static readonly double[] HandProbs = [0.0625, 0.5, 0.125, 0.0625, 0.25];
    private static float[] HandLogits => HandProbs.Select(p => (float)Math.Log(p)).ToArray();

    [Fact]
    public void Greedy_is_argmax_with_the_lowest_id_on_ties()
    {
        var sampler = new Sampler(new SamplingOptions { Greedy = true }, seed: 1);
        Assert.Equal(1, sampler.Next(HandLogits));
        Assert.Equal(2, sampler.Next(new float[] { -1f, 0.5f, 3f, 3f, float.NaN }));
        Assert.Equal(0, Sampler.Argmax(new float[] { 7f, 7f }));
    }

    [Fact]
    public void Softmax_at_temperature_one_returns_the_probabilities()
    {
        double[] probs = Sampler.Probabilities(HandLogits, 1.0);
        for (int i = 0; i < HandProbs.Length; i++) Assert.Equal(HandProbs[i], probs[i], 6);
    }

    [Theory]
    [InlineData(0.5, new[] { 1 })]                 // 0.5 alone reaches 0.5
    [InlineData(0.6, new[] { 1, 4 })]              // 0.5 + 0.25
    [InlineData(0.75, new[] { 1, 4 })]             // exactly 0.75: no third token
    [InlineData(0.8, new[] { 1, 4, 2 })]           // 0.875
    [InlineData(0.9, new[] { 1, 4, 2, 0 })]        // 0.9375; of the tied 0.0625s the lower id comes first
    [InlineData(1.0, new[] { 1, 4, 2, 0, 3 })]
    public void Nucleus_is_the_smallest_prefix_reaching_top_p(double topP, int[] expected)
    {
        Assert.Equal(expected, Sampler.Nucleus(HandProbs, topP));
    }

    [Fact]
    public void Top_p_draws_stay_in_the_nucleus_with_renormalised_frequencies()
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = 1.0, TopP = 0.8 }, seed: 42);
        var counts = new int[HandProbs.Length];
        const int draws = 40000;
        for (int i = 0; i < draws; i++) counts[sampler.Next(HandLogits)]++;
        Assert.Equal(0, counts[0]);
        Assert.Equal(0, counts[3]);
        // Nucleus {1, 4, 2} of mass 0.875: 4/7, 2/7, 1/7. Binomial sd at n=40000 is <= 0.0025; allow 4 sd.
        Assert.InRange(counts[1] / (double)draws, 4.0 / 7 - 0.01, 4.0 / 7 + 0.01);
        Assert.InRange(counts[4] / (double)draws, 2.0 / 7 - 0.01, 2.0 / 7 + 0.01);
        Assert.InRange(counts[2] / (double)draws, 1.0 / 7 - 0.01, 1.0 / 7 + 0.01);
    }

    [Fact]
    public void The_same_seed_gives_the_same_tokens_and_another_seed_other_tokens()
    {
        var rng = new Random(3);
        var rows = Enumerable.Range(0, 50).Select(_ => Enumerable.Range(0, 40).Select(_ => (float)rng.NextDouble() * 3).ToArray()).ToArray();
        int[] Draw(ulong seed)
        {
            var sampler = new Sampler(new SamplingOptions { Temperature = 1.2, TopP = 0.95 }, seed);
            return rows.Select(r => sampler.Next(r)).ToArray();
        }
        Assert.Equal(Draw(7), Draw(7));
        Assert.NotEqual(Draw(7), Draw(8));
    }

    [Fact]
    public void Temperature_towards_zero_behaves_greedily()
    {
        var rng = new Random(11);
        for (int row = 0; row < 20; row++)
        {
            var logits = Enumerable.Range(0, 64).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            int argmax = Sampler.Argmax(logits);
            var cold = new Sampler(new SamplingOptions { Temperature = 1e-4, TopP = 0.9 }, seed: (ulong)row);
            var zero = new Sampler(new SamplingOptions { Temperature = 0, TopP = 0.9 }, seed: (ulong)row);
            Assert.True(zero.IsGreedy);
            for (int draw = 0; draw < 10; draw++)
            {
                Assert.Equal(argmax, cold.Next(logits));
                Assert.Equal(argmax, zero.Next(logits));
            }
        }
    }

    [Theory]
    [InlineData(-0.1, 0.9)]
    [InlineData(double.NaN, 0.9)]
    [InlineData(0.8, 0.0)]
    [InlineData(0.8, 1.5)]
    public void Bad_options_are_rejected(double temperature, double topP)
    {
        Assert.Throws<ArgumentException>(() => new Sampler(new SamplingOptions { Temperature = temperature, TopP = topP }, 1));
    }
}
