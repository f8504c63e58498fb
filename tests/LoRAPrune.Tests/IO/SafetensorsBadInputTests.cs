// SafetensorsBadInputTests.cs — truncated, lying and hostile safetensors files: each must fail at open,
// before any tensor data is used, with one line naming the file, the tensor and the problem.
using System.Buffers.Binary;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Tests.IO;

public sealed class SafetensorsBadInputTests
{
    private const string QProj = "model.layers.0.self_attn.q_proj.weight";

    private static ModelFormatException OpenBad(byte[] bytes)
    {
        using var dir = new TempFolder();
        string path = dir.File("model.safetensors");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.StartsWith("model.safetensors: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    private static (byte[] Bytes, IReadOnlyList<TensorInfo> Layout) ValidTinyModel()
    {
        using var dir = new TempFolder();
        SafetensorsWriter writer = TinyLlama.Writer(TinyLlama.RandomWeights(TinyLlama.Config()));
        writer.Save(dir.File("model.safetensors"));
        return (File.ReadAllBytes(dir.File("model.safetensors")), writer.PlanLayout());
    }

    [Fact]
    public void Truncated_inside_the_header()
    {
        (byte[] bytes, _) = ValidTinyModel();
        long headerBytes = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        int cut = (int)(8 + headerBytes / 2);
        var e = OpenBad(bytes[..cut]);
        Assert.Equal($"model.safetensors: truncated or corrupt: header length {headerBytes} is past the end of the file ({cut} bytes)", e.Message);
    }

    [Fact]
    public void Truncated_inside_the_data_names_the_last_tensor()
    {
        (byte[] bytes, IReadOnlyList<TensorInfo> layout) = ValidTinyModel();
        TensorInfo last = layout[^1];
        var e = OpenBad(bytes[..^10]);
        Assert.Equal($"model.safetensors: tensor '{last.Name}': data_offsets [{last.DataBegin}, {last.DataEnd}] end past the data section ({last.DataEnd - 10} bytes)", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void Shorter_than_the_length_field(int length)
    {
        var e = OpenBad(new byte[length]);
        Assert.Equal($"model.safetensors: truncated: file is {length} bytes, shorter than the 8-byte header length field", e.Message);
    }

    [Fact]
    public void Header_length_past_the_end_of_the_file()
    {
        (byte[] bytes, _) = ValidTinyModel();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        var e = OpenBad(bytes);
        Assert.Equal($"model.safetensors: truncated or corrupt: header length {ulong.MaxValue} is past the end of the file ({bytes.Length} bytes)", e.Message);
    }

    [Fact]
    public void Header_length_over_the_100_MB_limit()
    {
        using var dir = new TempFolder();
        string path = dir.File("model.safetensors");
        using (var stream = new FileStream(path, FileMode.CreateNew))
        {
            stream.SetLength(150_000_000); // sparse: the header length must be refused before anything is read
            var length = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, 120_000_000);
            stream.Write(length);
        }
        var e = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Equal("model.safetensors: header length 120000000 is larger than the 100000000 byte limit", e.Message);
    }

    [Fact]
    public void Offsets_past_the_end_of_the_data()
    {
        string header = $$$"""{"{{{QProj}}}":{"dtype":"F32","shape":[32,32],"data_offsets":[0,4096]}}""";
        var e = OpenBad(TinyLlama.RawFile(header, 2048));
        Assert.Equal($"model.safetensors: tensor '{QProj}': data_offsets [0, 4096] end past the data section (2048 bytes)", e.Message);
        Assert.Equal(QProj, e.Tensor);
    }

    [Fact]
    public void Overlapping_tensors()
    {
        string header = """{"a":{"dtype":"F32","shape":[16],"data_offsets":[0,64]},"b":{"dtype":"F32","shape":[16],"data_offsets":[32,96]}}""";
        var e = OpenBad(TinyLlama.RawFile(header, 96));
        Assert.Equal("model.safetensors: tensor 'b': data_offsets [32, 96] overlap tensor 'a' [0, 64]", e.Message);
    }

    [Fact]
    public void A_tensor_inside_another_overlaps_too()
    {
        string header = """{"big":{"dtype":"U8","shape":[100],"data_offsets":[0,100]},"small":{"dtype":"U8","shape":[4],"data_offsets":[40,44]},"after":{"dtype":"U8","shape":[4],"data_offsets":[60,64]}}""";
        var e = OpenBad(TinyLlama.RawFile(header, 100));
        Assert.Contains("overlap tensor 'big' [0, 100]", e.Message);
    }

    [Fact]
    public void Byte_count_disagrees_with_shape_and_dtype()
    {
        string header = """{"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,60]}}""";
        var e = OpenBad(TinyLlama.RawFile(header, 64));
        Assert.Equal("model.safetensors: tensor 'w': data_offsets [0, 60] hold 60 bytes but shape [4, 4] of F32 needs 64", e.Message);
    }

    [Theory]
    [InlineData("Q4_0")]
    [InlineData("f32")]
    [InlineData("F8_E4M3")]
    public void Unknown_dtype(string dtype)
    {
        string header = $$$"""{"w":{"dtype":"{{{dtype}}}","shape":[2],"data_offsets":[0,2]}}""";
        var e = OpenBad(TinyLlama.RawFile(header, 2));
        Assert.Equal($"model.safetensors: tensor 'w': unknown dtype '{dtype}' (known: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)", e.Message);
    }

    [Theory]
    [InlineData("[1, 2, 3]", "header is not a JSON object (it is an array)")]
    [InlineData("\"weights\"", "header is not a JSON object (it is a string)")]
    [InlineData("{\"w\": ", "header is not valid JSON (")]
    [InlineData("{\"w\": 3}", "tensor 'w': entry is a number, expected an object with dtype, shape and data_offsets")]
    public void Header_that_is_not_an_object_of_tensors(string header, string expected)
    {
        var e = OpenBad(TinyLlama.RawFile(header, 0));
        Assert.StartsWith("model.safetensors: " + expected, e.Message);
    }

    [Theory]
    [InlineData("""{"dtype":"F32","shape":[-1,4],"data_offsets":[0,0]}""", "shape element 0 is -1, expected a non-negative integer")]
    [InlineData("""{"dtype":"F32","shape":[2.5],"data_offsets":[0,10]}""", "shape element 0 is 2.5, expected a non-negative integer")]
    [InlineData("""{"dtype":"F32","shape":"4","data_offsets":[0,16]}""", "shape is a string, expected an array of non-negative integers")]
    [InlineData("""{"dtype":"F32","shape":[4],"data_offsets":[0,8,16]}""", "data_offsets has 3 numbers, expected [begin, end]")]
    [InlineData("""{"dtype":"F32","shape":[1],"data_offsets":[8,4]}""", "data_offsets [8, 4] begin is after end")]
    [InlineData("""{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}""", "shape [4611686018427387904, 4] is too large")]
    [InlineData("""{"shape":[4],"data_offsets":[0,16]}""", "missing field 'dtype'")]
    [InlineData("""{"dtype":"F32","data_offsets":[0,16]}""", "missing field 'shape'")]
    [InlineData("""{"dtype":"F32","shape":[4]}""", "missing field 'data_offsets'")]
    [InlineData("""{"dtype":"F32","shape":[4],"data_offsets":[0,16],"crc":1}""", "unknown field 'crc'")]
    [InlineData("""{"dtype":"F32","dtype":"F16","shape":[4],"data_offsets":[0,16]}""", "field 'dtype' appears twice")]
    public void Malformed_tensor_entries(string entry, string problem)
    {
        var e = OpenBad(TinyLlama.RawFile($$"""{"w":{{entry}}}""", 16));
        Assert.Equal($"model.safetensors: tensor 'w': {problem}", e.Message);
    }

    [Fact]
    public void Duplicate_tensor_name()
    {
        string header = """{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}""";
        var e = OpenBad(TinyLlama.RawFile(header, 2));
        Assert.Equal("model.safetensors: tensor 'w': appears twice in the header", e.Message);
    }

    [Theory]
    [InlineData("""{"__metadata__":{"format":1}}""", "__metadata__ entry 'format' is a number, expected a string")]
    [InlineData("""{"__metadata__":["pt"]}""", "__metadata__ is an array, expected an object of strings")]
    public void Metadata_must_map_strings_to_strings(string header, string problem)
    {
        var e = OpenBad(TinyLlama.RawFile(header, 0));
        Assert.Equal($"model.safetensors: {problem}", e.Message);
    }

    [Fact]
    public void Hostile_names_cannot_break_the_one_line_message()
    {
        string header = """{"evil\nname":{"dtype":"NOPE","shape":[1],"data_offsets":[0,1]}}""";
        var e = OpenBad(TinyLlama.RawFile(header, 1));
        Assert.StartsWith("model.safetensors: tensor 'evil\\u000aname': unknown dtype 'NOPE'", e.Message);
    }

    [Fact]
    public void Missing_file()
    {
        using var dir = new TempFolder();
        var e = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(dir.File("absent.safetensors")));
        Assert.StartsWith("absent.safetensors: file not found (", e.Message);
    }

    [Fact]
    public void A_valid_file_with_gaps_and_trailing_bytes_still_opens()
    {
        string header = """{"a":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},"b":{"dtype":"U8","shape":[0],"data_offsets":[5,5]}}""";
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("ok.safetensors"), TinyLlama.RawFile(header, 10));
        using SafetensorsFile file = SafetensorsFile.Open(dir.File("ok.safetensors"));
        Assert.Equal(2, file.GetBytes("a").Length);
        Assert.Equal(10, file.DataBytes);
    }
}
