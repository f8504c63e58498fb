// ByteTokenizer.cs — a tokenizer whose ids can be worked out by hand for the data and eval tests:
// every UTF-8 byte b is id b + 3, with <unk> 0, BOS 1, EOS 2 (LLaMA's special ids), vocabulary 259.
using System.Text;
using LoRAPrune.Core.Text;

namespace LoRAPrune.Tests.Data;

internal sealed class ByteTokenizer(bool hasBos = true, bool hasEos = true) : ITokenizer
{
    public const int Offset = 3;

    public string Name => "test bytes";
    public int VocabSize => 256 + Offset;
    public int? BosId => hasBos ? 1 : null;
    public int? EosId => hasEos ? 2 : null;
    public int? UnkId => 0;
    public int? PadId => null;

    public int[] Encode(string text, bool addBos)
    {
        IEnumerable<int> ids = Encoding.UTF8.GetBytes(text).Select(b => b + Offset);
        return (addBos && hasBos ? ids.Prepend(1) : ids).ToArray();
    }

    public string Decode(IEnumerable<int> ids) => Encoding.UTF8.GetString(ids.Where(i => i >= Offset).Select(i => (byte)(i - Offset)).ToArray());

    public string IdToToken(int id) => id < Offset ? new[] { "<unk>", "<s>", "</s>" }[id] : $"<0x{id - Offset:X2}>";

    public int? TokenToId(string token) => null;

    /// <summary>The ids of <paramref name="text"/> without BOS.</summary>
    public static int[] Ids(string text) => Encoding.UTF8.GetBytes(text).Select(b => b + Offset).ToArray();
}
