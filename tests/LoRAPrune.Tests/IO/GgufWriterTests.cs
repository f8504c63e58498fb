// GgufWriterTests.cs — the GGUF v3 byte layout the writer produces: little-endian header and typed values,
// dimensions in ggml order, 32-byte aligned contiguous tensor offsets with zero padding, and refusals of
// what ggml's reader would reject (long names, duplicates, data of the wrong size).
using System.Buffers.Binary;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Tests.IO;

public sealed class GgufWriterTests
{
    private static byte[] Write(GgufWriter writer)
    {
        using var stream = new MemoryStream();
        writer.WriteTo(stream);
        return stream.ToArray();
    }

    private static Action<Stream> Bytes(int count, byte fill) => s => s.Write(Enumerable.Repeat(fill, count).ToArray());

    [Fact]
    public void Header_and_metadata_are_little_endian_with_typed_values()
    {
        var writer = new GgufWriter();
        writer.AddString("general.architecture", "llama");
        writer.AddUInt32("llama.block_count", 3);
        writer.AddFloat32("llama.rope.freq_base", 10000f);
        writer.AddBool("tokenizer.ggml.add_bos_token", true);
        writer.AddInt32Array("deci.attention.head_count", [6, 4, 2]);
        writer.AddStringArray("tokenizer.ggml.tokens", ["<s>", "▁the"]);
        writer.AddFloat32Array("tokenizer.ggml.scores", [0f, -1.5f]);
        byte[] file = Write(writer);

        Assert.Equal("GGUF"u8.ToArray(), file[..4]);
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(4)));
        Assert.Equal(0ul, BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(8)));
        Assert.Equal(8ul, BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(16)));
        // First key: uint64 length 17, "general.alignment", type UINT32 (4), value 32.
        Assert.Equal(17ul, BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(24)));
        Assert.Equal("general.alignment"u8.ToArray(), file[32..49]);
        Assert.Equal(4u, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(49)));
        Assert.Equal(32u, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(53)));

        GgufLayout layout = GgufLayout.Parse(file);
        Assert.Equal(["general.alignment", "general.architecture", "llama.block_count", "llama.rope.freq_base", "tokenizer.ggml.add_bos_token",
                      "deci.attention.head_count", "tokenizer.ggml.tokens", "tokenizer.ggml.scores"], layout.Keys);
        Assert.Equal(new GgufValue(GgufValueType.String, null, "llama"), layout.Metadata["general.architecture"]);
        Assert.Equal(GgufValueType.UInt32, layout.Metadata["llama.block_count"].Type);
        Assert.Equal(10000f, layout.Metadata["llama.rope.freq_base"].Value);
        Assert.Equal(true, layout.Metadata["tokenizer.ggml.add_bos_token"].Value);
        Assert.Equal(GgufValueType.Int32, layout.Metadata["deci.attention.head_count"].ElementType);
        Assert.Equal([6, 4, 2], layout.Metadata["deci.attention.head_count"].Array<int>());
        Assert.Equal(["<s>", "▁the"], layout.Metadata["tokenizer.ggml.tokens"].Array<string>());
        Assert.Equal([0f, -1.5f], layout.Metadata["tokenizer.ggml.scores"].Array<float>());
        Assert.Equal(layout.DataStart, file.Length); // no tensors: the file ends with the header, padded to the alignment
    }

    [Fact]
    public void Tensors_are_stored_innermost_dimension_first_at_aligned_contiguous_offsets()
    {
        var writer = new GgufWriter();
        writer.AddTensor("token_embd.weight", GgmlType.F16, [5, 3], Bytes(30, 0xA1));
        writer.AddTensor("output_norm.weight", GgmlType.F32, [3], Bytes(12, 0xB2));
        writer.AddTensor("blk.0.attn_q.weight", GgmlType.BF16, [2, 3], Bytes(12, 0xC3));
        byte[] file = Write(writer);
        GgufLayout layout = GgufLayout.Parse(file);

        Assert.Equal(["token_embd.weight [3, 5] F16 @0", "output_norm.weight [3] F32 @32", "blk.0.attn_q.weight [3, 2] BF16 @64"], layout.Tensors.Select(t => t.ToString()));
        Assert.Equal(0, layout.DataStart % GgufWriter.Alignment);
        Assert.Equal(layout.DataStart + 96, file.Length);
        foreach ((GgufTensorInfo t, int bytes, byte fill) in new[] { (layout.Tensors[0], 30, (byte)0xA1), (layout.Tensors[1], 12, (byte)0xB2), (layout.Tensors[2], 12, (byte)0xC3) })
        {
            int start = (int)(layout.DataStart + t.Offset);
            Assert.All(file[start..(start + bytes)], b => Assert.Equal(fill, b));
            Assert.All(file[(start + bytes)..(start + 32)], b => Assert.Equal(0, b));
        }
    }

    [Fact]
    public void Data_of_the_wrong_size_is_an_error_naming_the_tensor()
    {
        var writer = new GgufWriter();
        writer.AddTensor("output.weight", GgmlType.F32, [2, 2], Bytes(12, 1));
        var e = Assert.Throws<InvalidOperationException>(() => Write(writer));
        Assert.Equal("tensor 'output.weight' wrote 12 bytes, its shape and type need 16", e.Message);
    }

    [Fact]
    public void What_ggml_would_reject_is_refused_when_added()
    {
        var writer = new GgufWriter();
        writer.AddTensor("a", GgmlType.F32, [1], Bytes(4, 0));
        Assert.Contains("added twice", Assert.Throws<ArgumentException>(() => writer.AddTensor("a", GgmlType.F32, [1], Bytes(4, 0))).Message);
        Assert.Contains("take 1 to 63", Assert.Throws<ArgumentException>(() => writer.AddTensor(new string('x', 64), GgmlType.F32, [1], Bytes(4, 0))).Message);
        Assert.Contains("1 to 4", Assert.Throws<ArgumentException>(() => writer.AddTensor("b", GgmlType.F32, [1, 1, 1, 1, 1], Bytes(4, 0))).Message);
        Assert.Contains("must be positive", Assert.Throws<ArgumentException>(() => writer.AddTensor("c", GgmlType.F32, [0, 3], Bytes(0, 0))).Message);
        Assert.Contains("added twice", Assert.Throws<ArgumentException>(() => writer.AddUInt32("general.alignment", 64)).Message);
    }
}
