// TextSourceTests.cs — TextBlocks and TokenFile on files the tests write: the block arithmetic by hand
// (block i = ids[iT .. iT+T] as inputs and next-token targets), BOS once at the very start, files joined
// with "\n\n", and the errors: non-UTF-8 (file and byte offset), empty file, too few tokens, bad token files.
using LoRAPrune.Core.Data;
using LoRAPrune.Core.Text;
using LoRAPrune.Tests.IO;

namespace LoRAPrune.Tests.Data;

public sealed class TextSourceTests
{
    [Fact]
    public void Text_blocks_are_cut_from_one_stream_with_one_BOS_and_files_joined_by_a_blank_line()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("a.txt"), "abcdefg");
        File.WriteAllText(dir.File("b.txt"), "hij");
        var source = TextBlocks.Load([dir.File("a.txt"), dir.File("b.txt")], new ByteTokenizer(), sequenceLength: 4);

        int[] stream = [1, .. ByteTokenizer.Ids("abcdefg\n\nhij")]; // 13 ids
        Assert.Equal(13, source.TokenCount);
        Assert.Equal(3, source.Count);            // (13 - 1) / 4
        Assert.Equal(0, source.DroppedTokens);
        Assert.Equal(4, source.SequenceLength);
        for (int i = 0; i < source.Count; i++)
        {
            TrainingSample s = source[i];
            Assert.Equal(stream[(i * 4)..(i * 4 + 4)], s.Tokens);
            Assert.Equal(stream[(i * 4 + 1)..(i * 4 + 5)], s.Targets);
        }
        Assert.Equal(1, source[0].Tokens[0]);
        Assert.DoesNotContain(1, source[1].Tokens.Concat(source[2].Tokens));
        Assert.Contains("13 tokens -> 3 blocks of 4 (0 dropped)", source.Description);
        Assert.Contains("(+1 more)", source.Description);
        Assert.Throws<ArgumentOutOfRangeException>(() => source[3]);
    }

    [Fact]
    public void Text_blocks_drop_the_remainder()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("a.txt"), "0123456789"); // 11 ids with BOS
        var source = TextBlocks.Load([dir.File("a.txt")], new ByteTokenizer(), sequenceLength: 3);
        Assert.Equal(3, source.Count);                       // blocks start at 0, 3, 6; the block at 9 would need ids 9..12
        Assert.Equal(1, source.DroppedTokens);               // id 10 is never a target
        Assert.Equal(ByteTokenizer.Ids("6789")[..3], source[2].Targets);
    }

    [Fact]
    public void Text_blocks_with_the_LLaMA_tokenizer_start_with_BOS_1()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("a.txt"), "Hello world! Hello world! Hello world!");
        ITokenizer llama = TokenizerLoader.LoadLlama2Default();
        var source = TextBlocks.Load([dir.File("a.txt")], llama, sequenceLength: 4);
        Assert.Equal([1, 15043, 3186, 29991], source[0].Tokens); // DATA.md's golden case
        Assert.True(source.HasBos);
    }

    [Fact]
    public void A_file_that_is_not_UTF8_is_an_error_naming_the_file_and_byte_offset()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("latin1.txt"), [(byte)'c', (byte)'a', (byte)'f', 0xE9, (byte)'!']);
        var e = Assert.Throws<DataFileException>(() => TextBlocks.Load([dir.File("latin1.txt")], new ByteTokenizer(), 2));
        Assert.Equal(dir.File("latin1.txt"), e.FilePath);
        Assert.Contains("not UTF-8", e.Message);
        Assert.Contains("byte offset 3", e.Message);

        File.WriteAllBytes(dir.File("cut.txt"), [(byte)'a', 0xE2, 0x82]); // "€" cut short
        e = Assert.Throws<DataFileException>(() => Utf8TextFile.Read(dir.File("cut.txt")));
        Assert.Contains("truncated UTF-8 sequence", e.Message);
        Assert.Contains("byte offset 1", e.Message);
    }

    [Fact]
    public void A_UTF8_byte_order_mark_is_dropped_and_other_text_kept_exactly()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("bom.txt"), [0xEF, 0xBB, 0xBF, (byte)'h', (byte)'\r', (byte)'\n', 0xE2, 0x82, 0xAC]);
        Assert.Equal("h\r\n€", Utf8TextFile.Read(dir.File("bom.txt")));
    }

    [Fact]
    public void Empty_missing_and_too_short_text_files_are_errors()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("empty.txt"), "");
        File.WriteAllText(dir.File("short.txt"), "abc");
        var tokenizer = new ByteTokenizer();
        Assert.Contains("file is empty", Assert.Throws<DataFileException>(() => TextBlocks.Load([dir.File("empty.txt")], tokenizer, 2)).Message);
        Assert.Contains("file does not exist", Assert.Throws<DataFileException>(() => TextBlocks.Load([dir.File("none.txt")], tokenizer, 2)).Message);
        var e = Assert.Throws<DataFileException>(() => TextBlocks.Load([dir.File("short.txt")], tokenizer, 4)); // 4 ids < 4 + 1
        Assert.Equal(dir.File("short.txt"), e.FilePath);
        Assert.Contains("only 4 tokens, fewer than one block of 4 + 1", e.Message);
        Assert.Equal(1, TextBlocks.Load([dir.File("short.txt")], tokenizer, 3).Count); // exactly T + 1
    }

    [Fact]
    public void Token_files_are_uint32_little_endian_ids_used_as_stored()
    {
        using var dir = new TempFolder();
        WriteIds(dir.File("t.bin"), [7, 300, 0, 65536, 9, 10, 11]);
        Assert.Equal([7, 300, 0, 65536, 9, 10, 11], TokenFile.ReadIds(dir.File("t.bin"), 70000));
        Assert.Equal([7, 0, 0, 0, 44, 1, 0, 0], File.ReadAllBytes(dir.File("t.bin"))[..8]);

        var source = TokenFile.Load(dir.File("t.bin"), 70000, sequenceLength: 3);
        Assert.Equal(2, source.Count);
        Assert.Equal([7, 300, 0], source[0].Tokens);
        Assert.Equal([300, 0, 65536], source[0].Targets);
        Assert.Equal([65536, 9, 10], source[1].Tokens);
        Assert.Equal([9, 10, 11], source[1].Targets);
        Assert.Contains("no BOS added", source.Description);
    }

    [Fact]
    public void Token_file_errors_name_the_file_and_the_offset()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("odd.bin"), new byte[10]);
        var e = Assert.Throws<DataFileException>(() => TokenFile.ReadIds(dir.File("odd.bin"), 50));
        Assert.Equal(dir.File("odd.bin"), e.FilePath);
        Assert.Contains("10 bytes is not a multiple of 4", e.Message);

        File.WriteAllBytes(dir.File("empty.bin"), []);
        Assert.Contains("token file is empty", Assert.Throws<DataFileException>(() => TokenFile.ReadIds(dir.File("empty.bin"), 50)).Message);

        WriteIds(dir.File("big.bin"), [1, 2, 49, 50, 3]);
        e = Assert.Throws<DataFileException>(() => TokenFile.ReadIds(dir.File("big.bin"), 50));
        Assert.Contains("token id 50 at byte offset 12 (id #3) is not below the vocabulary size 50", e.Message);

        WriteIds(dir.File("few.bin"), [1, 2, 3]);
        Assert.Contains("only 3 tokens", Assert.Throws<DataFileException>(() => TokenFile.Load(dir.File("few.bin"), 50, 3)).Message);
        Assert.Contains("file does not exist", Assert.Throws<DataFileException>(() => TokenFile.ReadIds(dir.File("none.bin"), 50)).Message);
    }

    /// <summary>Writes ids in the token-file format (uint32 little-endian, no header).</summary>
    internal static void WriteIds(string path, IEnumerable<int> ids)
    {
        using var stream = File.Create(path);
        Span<byte> bytes = stackalloc byte[4];
        foreach (int id in ids)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)id);
            stream.Write(bytes);
        }
    }
}
