// LlamaSentencePieceTokenizerTests — the embedded LLaMA-2 tokenizer against the 13 golden encodings of
// llama-tokenizer-js, plus round trips over the text shapes a corpus throws at it (scripts, emoji, whitespace).
using LoRAPrune.Core.Text;

namespace LoRAPrune.Tests.Text;

public class LlamaSentencePieceTokenizerTests
{
    static readonly ITokenizer Llama2 = TokenizerLoader.LoadLlama2Default();

    [Theory]
    [MemberData(nameof(LlamaGoldenCases.Indices), MemberType = typeof(LlamaGoldenCases))]
    public void Golden_case_encodes_to_reference_ids(int index)
    {
        var (text, expected) = LlamaGoldenCases.All[index];
        Assert.Equal(expected, Llama2.Encode(text, addBos: true));
    }

    [Theory]
    [MemberData(nameof(LlamaGoldenCases.Indices), MemberType = typeof(LlamaGoldenCases))]
    public void Golden_case_decodes_to_original_text(int index)
    {
        var (text, ids) = LlamaGoldenCases.All[index];
        Assert.Equal(text, Llama2.Decode(ids));
    }

    [Fact]
    public void Decode_drops_bos_and_the_dummy_prefix_space()
    {
        Assert.Equal("grabbed", Llama2.Decode([1, 2646, 1327, 287]));
        Assert.Equal("grabbed", Llama2.Decode([2646, 1327, 287]));
        Assert.Equal("Hello world!", Llama2.Decode([1, 15043, 3186, 29991, 2]));
    }

    [Fact]
    public void Special_ids_and_vocabulary_match_llama2()
    {
        Assert.Equal(32000, Llama2.VocabSize);
        Assert.Equal((int?)0, Llama2.UnkId);
        Assert.Equal((int?)1, Llama2.BosId);
        Assert.Equal((int?)2, Llama2.EosId);
        Assert.Null(Llama2.PadId);
        Assert.Equal("<unk>", Llama2.IdToToken(0));
        Assert.Equal("</s>", Llama2.IdToToken(2));
        Assert.Equal("<0x00>", Llama2.IdToToken(3));
        Assert.Equal("<0x0A>", Llama2.IdToToken(13));
        Assert.Equal("<0xFF>", Llama2.IdToToken(258));
        Assert.Equal("▁", Llama2.IdToToken(29871));
        Assert.Equal((int?)15043, Llama2.TokenToId("▁Hello"));
        Assert.Null(Llama2.TokenToId("not-a-llama-piece"));
        Assert.Throws<ArgumentOutOfRangeException>(() => Llama2.IdToToken(32000));
        Assert.Throws<ArgumentOutOfRangeException>(() => Llama2.Decode([1, -1]));
    }

    [Fact]
    public void Bos_is_optional_and_empty_text_gives_only_bos()
    {
        Assert.Equal([15043, 3186, 29991], Llama2.Encode("Hello world!", addBos: false));
        Assert.Equal([1], Llama2.Encode("", addBos: true));
        Assert.Empty(Llama2.Encode("", addBos: false));
        Assert.Equal("", Llama2.Decode([1]));
        Assert.Equal("", Llama2.Decode([]));
    }

    [Theory]
    [InlineData("Hello world!")]
    [InlineData("Größenwahn, naïve café, smørrebrød")]
    [InlineData("Съешь же ещё этих мягких французских булок")]
    [InlineData("日本語のテキストと中文文本")]
    [InlineData("مرحبا بالعالم")]
    [InlineData("emoji 🦙🎉👩‍👩‍👧 and flags 🇳🇴")]
    [InlineData(" leading space")]
    [InlineData("trailing space ")]
    [InlineData("   several   spaces   ")]
    [InlineData(" ")]
    [InlineData("\n")]
    [InlineData("line one\nline two\r\n\n\ttabbed")]
    [InlineData("x\u0000y\u007f")]
    [InlineData("<s> literal control pieces </s> <unk>")]
    public void Round_trip_is_exact(string text)
    {
        Assert.Equal(text, Llama2.Decode(Llama2.Encode(text, addBos: true)));
        Assert.Equal(text, Llama2.Decode(Llama2.Encode(text, addBos: false)));
    }

    [Fact]
    public void Characters_outside_the_vocabulary_fall_back_to_utf8_bytes()
    {
        // U+1F999 (llama emoji) is F0 9F A6 99; byte piece <0xNN> has id 3 + NN.
        Assert.Equal([29871, 3 + 0xF0, 3 + 0x9F, 3 + 0xA6, 3 + 0x99], Llama2.Encode("🦙", addBos: false));
    }

    [Fact]
    public void Control_pieces_in_text_are_plain_text()
    {
        int[] ids = Llama2.Encode("<s>hi</s>", addBos: false);
        Assert.DoesNotContain(1, ids);
        Assert.DoesNotContain(2, ids);
    }

    [Fact]
    public void Concurrent_encoding_matches_sequential()
    {
        string[] texts = [.. LlamaGoldenCases.All.Select(c => c.Text), "Größenwahn 🦙", "  a  b  "];
        var expected = texts.Select(t => Llama2.Encode(t, addBos: true)).ToArray();
        Parallel.For(0, 64, i => Assert.Equal(expected[i % texts.Length], Llama2.Encode(texts[i % texts.Length], addBos: true)));
    }
}
