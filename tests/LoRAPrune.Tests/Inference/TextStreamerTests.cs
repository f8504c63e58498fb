// TextStreamerTests.cs — streamed text with the tiny byte-fallback tokenizer: the prompt comes first
// without its BOS, each token adds its text, and a character split over byte tokens is held back
// until its last byte arrives; the pieces always add up to the decoded sequence.
using LoRAPrune.Core.Inference;
using LoRAPrune.Core.Text;

namespace LoRAPrune.Tests.Inference;

public sealed class TextStreamerTests
{
    private static readonly ITokenizer Tokenizer = HfTokenizerJson.Parse(InferenceFixtures.TokenizerJson(), "tiny.json", new SpecialTokenNames());

    [Fact]
    public void The_tiny_tokenizer_encodes_letters_and_falls_back_to_bytes()
    {
        int[] ids = Tokenizer.Encode("ab é", addBos: true);
        // <s> ▁ a b ▁ <0xC3> <0xA9>
        Assert.Equal(new[] { 1, 259, 260, 261, 259, InferenceFixtures.ByteId(0xC3), InferenceFixtures.ByteId(0xA9) }, ids);
        Assert.Equal("ab é", Tokenizer.Decode(ids));
    }

    [Fact]
    public void Pieces_follow_the_tokens_and_hold_back_split_characters()
    {
        int[] prompt = Tokenizer.Encode("ab", addBos: true);
        var streamer = new TextStreamer(Tokenizer, prompt);
        Assert.Equal("ab", streamer.Begin());
        Assert.Equal(" ", streamer.Push(259));
        Assert.Equal("", streamer.Push(InferenceFixtures.ByteId(0xC3))); // first byte of é
        Assert.Equal("é", streamer.Push(InferenceFixtures.ByteId(0xA9)));
        Assert.Equal("z", streamer.Push(285));
        Assert.Equal("", streamer.Push(InferenceFixtures.ByteId(0xE2))); // a 3-byte character never completed
        Assert.Equal("\uFFFD", streamer.Flush());
        Assert.Equal("ab éz\uFFFD", streamer.Text);
    }
}
