// SafetensorsRoundTripTests.cs — SafetensorsWriter -> SafetensorsFile round trips: bytes and floats come
// back bit-exactly in F32, F16 and BF16, the data section starts at an 8-byte multiple, every tensor is
// aligned to its element size, and the same tensors always give the same file bytes.
using System.Buffers.Binary;
using LoRAPrune.Core.IO;
using LoRAPrune.Native;

namespace LoRAPrune.Tests.IO;

public sealed unsafe class SafetensorsRoundTripTests
{
    [Fact]
    public void Tiny_llama_f32_round_trips_bit_exactly()
    {
        using var dir = new TempFolder();
        var weights = TinyLlama.RandomWeights(TinyLlama.Config());
        string path = dir.File("model.safetensors");
        TinyLlama.Writer(weights).AddMetadata("format", "pt").Save(path);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(weights.Keys, file.Tensors.Select(t => t.Name));
        Assert.Equal("pt", file.Metadata["format"]);
        foreach ((string name, (long[] shape, float[] values)) in weights)
        {
            TensorInfo info = file.GetTensor(name);
            Assert.Equal(SafetensorsDType.F32, info.DType);
            Assert.Equal(shape, info.Shape);
            float[] back = file.ReadFloats(name);
            Assert.Equal(values.Select(BitConverter.SingleToUInt32Bits), back.Select(BitConverter.SingleToUInt32Bits));
            ReadOnlySpan<byte> bytes = file.GetBytes(name);
            Assert.Equal(values[0], BinaryPrimitives.ReadSingleLittleEndian(bytes));
            byte* p = file.GetDataPointer(info);
            Assert.True(new ReadOnlySpan<byte>(p, (int)info.ByteLength).SequenceEqual(bytes));
        }
    }

    [Theory]
    [InlineData(SafetensorsDType.F16)]
    [InlineData(SafetensorsDType.BF16)]
    public void Half_precision_stores_round_to_nearest_even_and_read_back_exactly(SafetensorsDType dtype)
    {
        using var dir = new TempFolder();
        float[] values = [0f, -0f, 1f, -2.5f, 0.1f, 1e-3f, 65504f, 1.00390625f, 3.14159265f, -7.7e-6f, float.PositiveInfinity];
        string path = dir.File("half.safetensors");
        new SafetensorsWriter().AddFloats("x", dtype, [values.Length], values).Save(path);

        using SafetensorsFile file = SafetensorsFile.Open(path);
        ReadOnlySpan<byte> bytes = file.GetBytes("x");
        float[] back = file.ReadFloats("x");
        for (int i = 0; i < values.Length; i++)
        {
            ushort stored = BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]);
            ushort expected = dtype == SafetensorsDType.F16 ? BitConverter.HalfToUInt16Bits((Half)values[i]) : Half16.FloatToBf16(values[i]);
            Assert.Equal(expected, stored);
            float decoded = dtype == SafetensorsDType.F16 ? (float)BitConverter.UInt16BitsToHalf(stored) : BitConverter.UInt32BitsToSingle((uint)stored << 16);
            Assert.Equal(BitConverter.SingleToUInt32Bits(decoded), BitConverter.SingleToUInt32Bits(back[i]));
        }
    }

    [Fact]
    public void Data_section_starts_at_an_8_byte_multiple_and_header_is_space_padded()
    {
        using var dir = new TempFolder();
        for (int nameLength = 1; nameLength <= 9; nameLength++)
        {
            string path = dir.File($"pad{nameLength}.safetensors");
            new SafetensorsWriter().AddFloats(new string('w', nameLength), SafetensorsDType.F32, [3], new float[3]).Save(path);
            byte[] raw = File.ReadAllBytes(path);
            long headerBytes = (long)BinaryPrimitives.ReadUInt64LittleEndian(raw);
            Assert.Equal(0, (8 + headerBytes) % 8);
            Assert.Equal((byte)'}', raw[8..(int)(8 + headerBytes)].Reverse().First(b => b != (byte)' '));
            using SafetensorsFile file = SafetensorsFile.Open(path);
            Assert.Equal(headerBytes, file.HeaderBytes);
        }
    }

    [Fact]
    public void Every_tensor_is_aligned_to_its_element_size()
    {
        using var dir = new TempFolder();
        string path = dir.File("mixed.safetensors");
        new SafetensorsWriter()
            .Add("a.u8", SafetensorsDType.U8, [3], new byte[3])
            .Add("b.bf16", SafetensorsDType.BF16, [3], new byte[6])
            .Add("c.f32", SafetensorsDType.F32, [3], new byte[12])
            .Add("d.i64", SafetensorsDType.I64, [1], new byte[8])
            .Add("e.bool", SafetensorsDType.Bool, [1], new byte[1])
            .Save(path);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(["d.i64", "c.f32", "b.bf16", "a.u8", "e.bool"], file.Tensors.OrderBy(t => t.DataBegin).Select(t => t.Name));
        foreach (TensorInfo t in file.Tensors) Assert.Equal(0, (8 + file.HeaderBytes + t.DataBegin) % t.DType.SizeOf());
        Assert.Equal(file.Tensors.Sum(t => t.ByteLength), file.DataBytes);
    }

    [Fact]
    public void Same_tensors_give_identical_bytes_whatever_the_order_they_were_added_in()
    {
        using var dir = new TempFolder();
        var weights = TinyLlama.RandomWeights(TinyLlama.Config());
        TinyLlama.Writer(weights).AddMetadata("format", "pt").AddMetadata("a", "b").Save(dir.File("one.safetensors"));
        TinyLlama.Writer(weights.Reverse()).AddMetadata("a", "b").AddMetadata("format", "pt").Save(dir.File("two.safetensors"));
        Assert.Equal(File.ReadAllBytes(dir.File("one.safetensors")), File.ReadAllBytes(dir.File("two.safetensors")));
    }

    [Fact]
    public void Scalar_and_empty_tensors_round_trip()
    {
        using var dir = new TempFolder();
        string path = dir.File("edge.safetensors");
        new SafetensorsWriter()
            .AddFloats("scalar", SafetensorsDType.F32, [], new[] { 42f })
            .AddFloats("empty", SafetensorsDType.BF16, [0, 16], Array.Empty<float>())
            .Save(path);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(new[] { 42f }, file.ReadFloats("scalar"));
        Assert.Empty(file.GetTensor("scalar").Shape);
        Assert.Equal(new long[] { 0, 16 }, file.GetTensor("empty").Shape);
        Assert.Empty(file.ReadFloats("empty"));
    }

    [Fact]
    public void Integer_tensors_cannot_be_read_as_floats()
    {
        using var dir = new TempFolder();
        string path = dir.File("model.safetensors");
        new SafetensorsWriter().Add("ids", SafetensorsDType.I32, [2], new byte[8]).Save(path);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        var e = Assert.Throws<ModelFormatException>(() => file.ReadFloats("ids"));
        Assert.Equal("model.safetensors: tensor 'ids': dtype I32 cannot be read as floats (expected F32, F16 or BF16)", e.Message);
        var missing = Assert.Throws<ModelFormatException>(() => file.GetTensor("nope"));
        Assert.Equal("model.safetensors: missing tensor 'nope'", missing.Message);
    }

    [Fact]
    public void Writer_rejects_data_that_disagrees_with_the_shape()
    {
        var writer = new SafetensorsWriter();
        Assert.Throws<ArgumentException>(() => writer.Add("x", SafetensorsDType.F32, [2, 2], new byte[15]));
        Assert.Throws<ArgumentException>(() => writer.AddFloats("x", SafetensorsDType.F32, [2, 2], new float[3]));
        Assert.Throws<ArgumentException>(() => writer.AddFloats("x", SafetensorsDType.I32, [1], new float[1]));
        Assert.Throws<ArgumentException>(() => writer.Add("x", SafetensorsDType.F32, [-1], new byte[0]));
        writer.AddFloats("x", SafetensorsDType.F32, [1], new float[1]);
        Assert.Throws<ArgumentException>(() => writer.AddFloats("x", SafetensorsDType.F32, [1], new float[1]));
    }
}
