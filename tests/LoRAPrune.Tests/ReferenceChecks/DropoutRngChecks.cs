// DropoutRngChecks.cs — independent checks of the oracle's dropout RNG: lp.h's counter formula is
// the published splitmix64 stream, keep rates match 1-p statistically, and the factors are exactly
// 0 or 1/(1-p) with the counter advancing by the row-major index from the offset.
using LoRAPrune.Reference;
using Xunit;

namespace LoRAPrune.Tests.ReferenceChecks;

public sealed class DropoutRngChecks
{
    /// <summary>splitmix64 as published (Vigna, prng.di.unimi.it/splitmix64.c): a stateful stream.</summary>
    sealed class SplitMix64(ulong state)
    {
        public ulong Next()
        {
            unchecked
            {
                state += 0x9E3779B97F4A7C15UL;
                ulong z = state;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                return z ^ (z >> 31);
            }
        }
    }

    static double UniformOf(ulong z) => (z >> 40) / 16777216.0;

    [Fact]
    public void splitmix64_seed0_matches_published_sequence()
    {
        // The first outputs of splitmix64 from state 0, as published (they also seed xoshiro256's
        // reference test vectors). lp.h's draw at counter c is the (c+1)-th output.
        ulong[] published = [0xE220A8397B1DCDAFUL, 0x6E789E6AA1B965F4UL, 0x06C45D188009454FUL, 0xF88BB8A8724C81ECUL];
        var stream = new SplitMix64(0);
        for (int c = 0; c < published.Length; c++)
        {
            Assert.Equal(published[c], stream.Next());
            Assert.Equal(UniformOf(published[c]), Ref.DropoutUniform(0, (ulong)c));
        }
    }

    [Theory]
    [InlineData(12345UL)]
    [InlineData(0xFFFFFFFFFFFFFFFFUL)]
    [InlineData(0x9E3779B97F4A7C15UL)]
    public void dropout_uniform_is_the_splitmix64_stream(ulong seed)
    {
        var stream = new SplitMix64(seed);
        for (ulong c = 0; c < 1000; c++)
        {
            double u = Ref.DropoutUniform(seed, c);
            Assert.Equal(UniformOf(stream.Next()), u);
            Assert.InRange(u, 0.0, 1.0 - 1.0 / 16777216.0);
            Assert.Equal(u, (double)(float)u); // exactly the f32 value of lp.h
        }
    }

    /// <summary>
    /// Over n = 100k draws the kept count is Binomial(n, 1-p): its standard deviation is
    /// sqrt(n p (1-p)), and 4 sigma is exceeded with probability 6e-5 for a correct generator.
    /// </summary>
    [Theory]
    [InlineData(0.05)]
    [InlineData(0.2)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void dropout_keep_rate(double dropout)
    {
        const int n = 100_000;
        float p = (float)dropout;
        double keepScale = 1.0 / (1.0 - (double)p);
        double[] factors = Ref.DropoutFactors(n, p, seed: 42, offset: 1000);
        Assert.All(factors, f => Assert.True(f == 0.0 || f == keepScale, $"factor {f} is neither 0 nor 1/(1-p)"));
        int kept = factors.Count(f => f != 0.0);
        double sigma = Math.Sqrt(n * (double)p * (1.0 - p));
        Assert.InRange(kept, n * (1.0 - p) - 4.0 * sigma, n * (1.0 - p) + 4.0 * sigma);
    }

    [Fact]
    public void dropout_counter_is_offset_plus_index()
    {
        const float p = 0.3f;
        double[] whole = Ref.DropoutFactors(50, p, seed: 7, offset: 100);
        double[] tail = Ref.DropoutFactors(20, p, seed: 7, offset: 130);
        Assert.Equal(whole.Skip(30), tail);
        for (int i = 0; i < whole.Length; i++)
            Assert.Equal(Ref.DropoutUniform(7, 100 + (ulong)i) >= p, whole[i] != 0.0);
    }

    [Fact]
    public void dropout_with_p_zero_is_identity()
    {
        double[] x = FiniteDifference.Uniform(new Random(3), 257);
        Assert.Equal(x, Ref.Dropout(x, 0.0f, seed: 9, offset: 0));
    }
}
