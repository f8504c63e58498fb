// TextStreamer.cs — turns a growing token sequence into text printed piece by piece: it decodes the
// whole sequence after every token and hands out only the new suffix, holding back trailing U+FFFD
// (a UTF-8 character whose bytes are split over byte-fallback tokens) until it is complete.
using LoRAPrune.Core.Text;

namespace LoRAPrune.Core.Inference;

public sealed class TextStreamer
{
    private const char Replacement = '\uFFFD';
    private readonly ITokenizer _tokenizer;
    private readonly List<int> _ids;
    private int _emitted;

    /// <summary>Starts from the prompt ids; a leading BOS is kept out of the decoded text.</summary>
    public TextStreamer(ITokenizer tokenizer, IReadOnlyList<int> prompt)
    {
        _tokenizer = tokenizer;
        _ids = prompt.Count > 0 && prompt[0] == tokenizer.BosId ? prompt.Skip(1).ToList() : prompt.ToList();
    }

    /// <summary>The text of everything handed out so far.</summary>
    public string Text { get; private set; } = "";

    /// <summary>The prompt's text (the part that is already complete).</summary>
    public string Begin() => Advance(final: false);

    /// <summary>Adds one generated id and returns the text it completes (possibly empty).</summary>
    public string Push(int id)
    {
        _ids.Add(id);
        return Advance(final: false);
    }

    /// <summary>Everything not handed out yet, incomplete characters included.</summary>
    public string Flush() => Advance(final: true);

    private string Advance(bool final)
    {
        string text = _tokenizer.Decode(_ids);
        int stable = text.Length;
        if (!final)
            while (stable > _emitted && text[stable - 1] == Replacement) stable--;
        if (stable <= _emitted) return "";
        string piece = text[_emitted..stable];
        _emitted = stable;
        Text += piece;
        return piece;
    }
}
