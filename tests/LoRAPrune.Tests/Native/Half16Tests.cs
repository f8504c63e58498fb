// Half16Tests.cs — the host bf16/f16 conversions must equal lp_scalar.h bit for bit: f16 is
// checked against System.Half (IEEE binary16, round to nearest even) over every half value and a
// sweep of float bit patterns; bf16 against hand-computed patterns at the rounding boundaries.
using LoRAPrune.Native;

namespace LoRAPrune.Tests.Native;

public sealed class Half16Tests
{
    [Fact]
    public void F16_to_float_matches_System_Half_for_all_65536_values()
    {
        for (int h = 0; h <= ushort.MaxValue; h++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            float actual = Half16.F16ToFloat((ushort)h);
            bool same = float.IsNaN(expected) ? float.IsNaN(actual) : BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual);
            if (!same) Assert.Fail($"f16 0x{h:X4}: got {actual:R}, System.Half gives {expected:R}");
        }
    }

    [Fact]
    public void Float_to_f16_matches_System_Half_over_a_sweep_of_bit_patterns()
    {
        // Every 4099th pattern covers all exponents (normals, subnormals, overflow) and odd mantissas;
        // the exact halfway points around each f16 value add the ties-to-even cases.
        var patterns = new List<uint>();
        for (ulong u = 0; u <= uint.MaxValue; u += 4099) patterns.Add((uint)u);
        for (int h = 0; h < 0x7c00; h++)
        {
            uint f = BitConverter.SingleToUInt32Bits(Half16.F16ToFloat((ushort)h));
            float next = Half16.F16ToFloat((ushort)(h + 1));
            float mid = (float)(((double)BitConverter.UInt32BitsToSingle(f) + next) / 2);
            patterns.Add(BitConverter.SingleToUInt32Bits(mid));
            patterns.Add(BitConverter.SingleToUInt32Bits(mid) | 0x8000_0000u);
        }
        foreach (uint bits in patterns)
        {
            float f = BitConverter.UInt32BitsToSingle(bits);
            ushort actual = Half16.FloatToF16(f);
            if (float.IsNaN(f))
            {
                if (!Half.IsNaN(BitConverter.UInt16BitsToHalf(actual))) Assert.Fail($"float 0x{bits:X8} is NaN but gave 0x{actual:X4}");
                continue;
            }
            ushort expected = BitConverter.HalfToUInt16Bits((Half)f);
            if (expected != actual) Assert.Fail($"float 0x{bits:X8} ({f:R}): got 0x{actual:X4}, System.Half gives 0x{expected:X4}");
        }
    }

    [Theory]
    [InlineData(0x3F800000u, (ushort)0x3F80)] // 1.0
    [InlineData(0xC0000000u, (ushort)0xC000)] // -2.0
    [InlineData(0x3F808000u, (ushort)0x3F80)] // 1 + 2^-8: halfway, lower neighbour even -> down
    [InlineData(0x3F818000u, (ushort)0x3F82)] // halfway, lower neighbour odd -> up to even
    [InlineData(0x3F808001u, (ushort)0x3F81)] // just above halfway -> up
    [InlineData(0x3F807FFFu, (ushort)0x3F80)] // just below halfway -> down
    [InlineData(0x7F7FFFFFu, (ushort)0x7F80)] // float max rounds to +inf
    [InlineData(0x7F800000u, (ushort)0x7F80)] // +inf
    [InlineData(0xFF800000u, (ushort)0xFF80)] // -inf
    [InlineData(0x7FC00000u, (ushort)0x7FC0)] // quiet NaN
    [InlineData(0x7F800001u, (ushort)0x7FC0)] // signalling NaN becomes quiet, never inf
    [InlineData(0xFFA00000u, (ushort)0xFFE0)] // negative NaN keeps sign and payload top bits
    [InlineData(0x00000001u, (ushort)0x0000)] // smallest subnormal rounds to +0
    [InlineData(0x80000000u, (ushort)0x8000)] // -0
    [InlineData(0x40490FDBu, (ushort)0x4049)] // pi
    public void Float_to_bf16_rounds_to_nearest_even(uint floatBits, ushort expected)
    {
        Assert.Equal(expected, Half16.FloatToBf16(BitConverter.UInt32BitsToSingle(floatBits)));
    }

    [Fact]
    public void Bf16_round_trips_every_non_NaN_value()
    {
        for (int h = 0; h <= ushort.MaxValue; h++)
        {
            float f = Half16.Bf16ToFloat((ushort)h);
            Assert.Equal(BitConverter.SingleToUInt32Bits(f), (uint)h << 16);
            if (float.IsNaN(f)) Assert.True(float.IsNaN(Half16.Bf16ToFloat(Half16.FloatToBf16(f))));
            else Assert.Equal((ushort)h, Half16.FloatToBf16(f));
        }
    }
}
