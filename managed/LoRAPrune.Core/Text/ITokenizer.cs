// ITokenizer — the one tokenizer interface the rest of LoRAPrune uses (data pipeline, eval, generate),
// whatever the source: the embedded LLaMA-2 vocabulary, a SentencePiece tokenizer.model or an HF tokenizer.json.
namespace LoRAPrune.Core.Text;

/// <summary>Text to token ids and back. Implementations are immutable and safe to share between threads.</summary>
public interface ITokenizer
{
    /// <summary>Short description of the tokenizer and where it came from, for logs and reports.</summary>
    string Name { get; }

    /// <summary>Number of ids: every id the tokenizer can produce or decode is in [0, VocabSize).</summary>
    int VocabSize { get; }

    /// <summary>Beginning-of-sequence id, or null when the tokenizer defines none.</summary>
    int? BosId { get; }

    /// <summary>End-of-sequence id, or null when the tokenizer defines none.</summary>
    int? EosId { get; }

    /// <summary>Id that stands for text the vocabulary cannot represent, or null when every text is representable.</summary>
    int? UnkId { get; }

    /// <summary>Padding id, or null when the tokenizer defines none (LLaMA defines none).</summary>
    int? PadId { get; }

    /// <summary>Encodes <paramref name="text"/>; with <paramref name="addBos"/> the ids start with <see cref="BosId"/>
    /// (when the tokenizer has one), also for empty text.</summary>
    int[] Encode(string text, bool addBos);

    /// <summary>Decodes ids back to text. Encode then Decode returns the original text for every text the
    /// vocabulary can represent (byte fallback or byte-level BPE cover all of Unicode).</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>The vocabulary entry of <paramref name="id"/> as stored (for example "▁the" or "&lt;0x0A&gt;").</summary>
    string IdToToken(int id);

    /// <summary>The id of a vocabulary entry as stored, or null when it is not in the vocabulary.</summary>
    int? TokenToId(string token);
}
