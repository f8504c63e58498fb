// ConvertChecks.cs — checks of the oracle's convert (rounding to f32/f16/bf16) against .NET's own
// float and Half conversions and, for bf16 (which .NET lacks), against its definition: the f32
// values whose low 16 bits are zero, nearest wins, ties to even.
using LoRAPrune.Reference;
using Xunit;

namespace LoRAPrune.Tests.ReferenceChecks;

public sealed class ConvertChecks
{
    /// <summary>f32 values over the whole exponent range, both signs, subnormals and specials included.</summary>
    static double[] SampleFloats(int count)
    {
        var rng = new Random(51);
        var values = new List<double> { 0.0, -0.0, double.PositiveInfinity, double.NegativeInfinity, double.NaN,
            float.MaxValue, -float.MaxValue, float.Epsilon, 65504.0, 65520.0, 65519.99, 6.1e-5, 5.96e-8, 2.98e-8 };
        for (int i = 0; i < count; i++)
        {
            float f = BitConverter.Int32BitsToSingle(rng.Next() ^ (rng.Next(2) << 31));
            if (!float.IsNaN(f))
                values.Add(f);
        }
        return values.Select(v => (double)(float)v).ToArray();
    }

    [Fact]
    public void convert_to_f32_matches_float_cast()
    {
        var rng = new Random(52);
        double[] values = Enumerable.Range(0, 10_000).Select(_ => (rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-160, 140))).ToArray();
        double[] converted = Ref.ConvertRound(values, RefFloat.F32);
        for (int i = 0; i < values.Length; i++)
            Assert.Equal((double)(float)values[i], converted[i]);
    }

    [Fact]
    public void convert_to_f16_matches_half_cast()
    {
        double[] values = SampleFloats(20_000);
        double[] converted = Ref.ConvertRound(values, RefFloat.F16);
        for (int i = 0; i < values.Length; i++)
            Assert.Equal((double)(Half)values[i], converted[i]);
    }

    [Fact]
    public void convert_to_bf16_is_nearest_with_ties_to_even()
    {
        double[] values = SampleFloats(20_000).Where(v => double.IsFinite(v)).ToArray();
        double[] converted = Ref.ConvertRound(values, RefFloat.BF16);
        for (int i = 0; i < values.Length; i++)
        {
            // The two bf16 neighbours of an f32 value: its bits truncated to the top 16, and the next one up in magnitude.
            uint bits = BitConverter.SingleToUInt32Bits((float)values[i]);
            double down = BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
            double up = BitConverter.UInt32BitsToSingle((bits & 0xFFFF0000u) + 0x10000u);
            double result = converted[i];
            Assert.True(result == down || result == up, $"{values[i]:R} -> {result:R} is neither {down:R} nor {up:R}");
            double other = result == down ? up : down;
            double error = Math.Abs(Unbounded(result) - values[i]), otherError = Math.Abs(Unbounded(other) - values[i]);
            bool resultEven = (BitConverter.SingleToUInt32Bits((float)result) & 0x10000u) == 0;
            Assert.True(error < otherError || (error == otherError && resultEven),
                        $"{values[i]:R} -> {result:R}, but {other:R} is nearer or the even tie");
        }
    }

    /// <summary>IEEE rounding treats overflow as rounding to 2^128 with an unbounded exponent, then to infinity.</summary>
    static double Unbounded(double value) => double.IsInfinity(value) ? Math.CopySign(Math.Pow(2, 128), value) : value;

    [Fact]
    public void convert_to_bf16_known_values()
    {
        double[] converted = Ref.ConvertRound(
            [1.0 + Math.Pow(2, -8), 1.0 + 3 * Math.Pow(2, -8), 1.0 + 1.01 * Math.Pow(2, -8), float.MaxValue, double.NaN, -0.0], RefFloat.BF16);
        Assert.Equal(1.0, converted[0]);                     // tie -> even (1.0)
        Assert.Equal(1.0 + Math.Pow(2, -6), converted[1]);   // tie -> even (1 + 2^-6)
        Assert.Equal(1.0 + Math.Pow(2, -7), converted[2]);   // above the tie
        Assert.Equal(double.PositiveInfinity, converted[3]); // beyond bf16 max + half ulp
        Assert.True(double.IsNaN(converted[4]));
        Assert.True(double.IsNegative(converted[5]) && converted[5] == 0.0);
    }
}
