// TensorConversion.cs — little-endian tensor bytes <-> float32 for the weight dtypes F32, F16 and BF16.
// F16 goes through System.Half, BF16 is the exact top-16-bit shift; float -> BF16/F16 rounds to nearest
// even, bit for bit as the native lp_scalar.h conversion does.
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LoRAPrune.Native;

namespace LoRAPrune.Core.IO;

/// <summary>Converts between stored tensor bytes and float32 values.</summary>
public static class TensorConversion
{
    /// <summary>Decodes <paramref name="source"/> (elements of <paramref name="dtype"/>) into <paramref name="destination"/>.</summary>
    public static void ToFloats(ReadOnlySpan<byte> source, SafetensorsDType dtype, Span<float> destination)
    {
        CheckLengths(source.Length, dtype, destination.Length);
        switch (dtype)
        {
            case SafetensorsDType.F32:
                if (BitConverter.IsLittleEndian) source.CopyTo(MemoryMarshal.AsBytes(destination));
                else for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(4 * i)..]);
                break;
            case SafetensorsDType.F16:
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(source[(2 * i)..]));
                break;
            case SafetensorsDType.BF16:
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(source[(2 * i)..]) << 16);
                break;
            default:
                throw new ArgumentException($"dtype {dtype.HeaderName()} is not a weight float type (F32, F16, BF16)", nameof(dtype));
        }
    }

    /// <summary>Encodes <paramref name="source"/> as <paramref name="dtype"/> elements into <paramref name="destination"/>.</summary>
    public static void FromFloats(ReadOnlySpan<float> source, SafetensorsDType dtype, Span<byte> destination)
    {
        CheckLengths(destination.Length, dtype, source.Length);
        switch (dtype)
        {
            case SafetensorsDType.F32:
                if (BitConverter.IsLittleEndian) MemoryMarshal.AsBytes(source).CopyTo(destination);
                else for (int i = 0; i < source.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(destination[(4 * i)..], source[i]);
                break;
            case SafetensorsDType.F16:
                for (int i = 0; i < source.Length; i++)
                    BinaryPrimitives.WriteUInt16LittleEndian(destination[(2 * i)..], BitConverter.HalfToUInt16Bits((Half)source[i]));
                break;
            case SafetensorsDType.BF16:
                for (int i = 0; i < source.Length; i++)
                    BinaryPrimitives.WriteUInt16LittleEndian(destination[(2 * i)..], Half16.FloatToBf16(source[i]));
                break;
            default:
                throw new ArgumentException($"dtype {dtype.HeaderName()} is not a weight float type (F32, F16, BF16)", nameof(dtype));
        }
    }

    private static void CheckLengths(int bytes, SafetensorsDType dtype, int elements)
    {
        if ((long)elements * dtype.SizeOf() != bytes)
            throw new ArgumentException($"{bytes} bytes of {dtype.HeaderName()} do not hold {elements} elements");
    }
}
