// Half16.cs — host bf16/f16 <-> f32 conversions, bit for bit the ones of native/src/common/lp_scalar.h
// (round to nearest even, NaN stays a quiet NaN, f16 overflow to inf, f16 subnormals kept), so a
// tensor uploaded from C# holds exactly what a native lp_op_convert would have produced.
namespace LoRAPrune.Native;

public static class Half16
{
    public static float Bf16ToFloat(ushort h) => BitConverter.UInt32BitsToSingle((uint)h << 16);

    public static ushort FloatToBf16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40u);
        u += 0x7fffu + ((u >> 16) & 1u);
        return (ushort)(u >> 16);
    }

    public static float F16ToFloat(ushort h)
    {
        uint sign = (uint)(h & 0x8000u) << 16;
        uint exp = (uint)(h >> 10) & 0x1fu;
        uint man = h & 0x3ffu;
        if (exp == 0x1f) return BitConverter.UInt32BitsToSingle(sign | 0x7f800000u | (man << 13));
        if (exp == 0)
        {
            if (man == 0) return BitConverter.UInt32BitsToSingle(sign);
            float v = man * (1.0f / 16777216.0f); // subnormal: man * 2^-24
            return sign != 0 ? -v : v;
        }
        return BitConverter.UInt32BitsToSingle(sign | ((exp + 112u) << 23) | (man << 13));
    }

    public static ushort FloatToF16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        uint sign = (u >> 16) & 0x8000u;
        uint a = u & 0x7fffffffu;
        if (a > 0x7f800000u) return (ushort)(sign | 0x7e00u);     // nan
        if (a >= 0x477ff000u) return (ushort)(sign | 0x7c00u);    // >= 65520 rounds to inf
        if (a < 0x38800000u)                                      // below 2^-14: subnormal or zero
        {
            if (a < 0x33000000u) return (ushort)sign;             // < 2^-25 rounds to zero
            uint exp = a >> 23;
            uint man = (a & 0x7fffffu) | 0x800000u;
            int rshift = (int)(126u - exp);                       // 14..24: units of 2^-24
            uint r = man >> rshift;
            uint rem = man & ((1u << rshift) - 1u);
            uint half = 1u << (rshift - 1);
            if (rem > half || (rem == half && (r & 1u) != 0)) r++;
            return (ushort)(sign | r);
        }
        uint n = (a >> 13) - (112u << 10);
        uint low = a & 0x1fffu;
        if (low > 0x1000u || (low == 0x1000u && (n & 1u) != 0)) n++;
        return (ushort)(sign | n);
    }
}
