// TokenizerFiles — test-side writers for the tokenizer file formats: a temp model folder, a Llama-2 style HF
// tokenizer.json and a SentencePiece tokenizer.model built from the embedded LLaMA-2 vocabulary. The protobuf writer
// here is the tests' own, independent of SentencePieceModel.ToBytes, so the two check each other.
using System.Text;
using System.Text.Json;
using LoRAPrune.Core.Text;

namespace LoRAPrune.Tests.Text;

/// <summary>A temporary folder deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("lp-tokenizer-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

public static class TokenizerFiles
{
    static readonly Lazy<RankedMergesVocabulary> Llama2 = new(RankedMergesVocabulary.ReadLlama2);

    /// <summary>Writes a Llama-2 tokenizer.json as transformers converts it: either the legacy normalizer
    /// (Prepend + Replace, merges as "a b") or the newer Metaspace pre-tokenizer (merges as ["a", "b"]).</summary>
    public static void WriteLlama2Json(string path, bool metaspaceStyle)
    {
        var vocab = Llama2.Value;
        using var stream = System.IO.File.Create(path);
        using var w = new Utf8JsonWriter(stream);
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteStartArray("added_tokens");
        foreach (var (id, content) in new[] { (0, "<unk>"), (1, "<s>"), (2, "</s>") })
        {
            w.WriteStartObject();
            w.WriteNumber("id", id);
            w.WriteString("content", content);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (metaspaceStyle)
        {
            w.WriteNull("normalizer");
            w.WriteStartObject("pre_tokenizer");
            w.WriteString("type", "Metaspace");
            w.WriteString("replacement", "▁");
            w.WriteString("prepend_scheme", "first");
            w.WriteBoolean("split", false);
            w.WriteEndObject();
        }
        else
        {
            w.WriteStartObject("normalizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("normalizers");
            w.WriteStartObject();
            w.WriteString("type", "Prepend");
            w.WriteString("prepend", "▁");
            w.WriteEndObject();
            w.WriteStartObject();
            w.WriteString("type", "Replace");
            w.WriteStartObject("pattern");
            w.WriteString("String", " ");
            w.WriteEndObject();
            w.WriteString("content", "▁");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteNull("pre_tokenizer");
        }
        w.WriteStartObject("post_processor");
        w.WriteString("type", "TemplateProcessing");
        w.WriteStartArray("single");
        w.WriteStartObject();
        w.WriteStartObject("SpecialToken");
        w.WriteString("id", "<s>");
        w.WriteNumber("type_id", 0);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteStartObject();
        w.WriteStartObject("Sequence");
        w.WriteString("id", "A");
        w.WriteNumber("type_id", 0);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteString("unk_token", "<unk>");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", true);
        w.WriteBoolean("byte_fallback", true);
        w.WriteStartObject("vocab");
        for (int i = 0; i < vocab.Pieces.Length; i++)
            w.WriteNumber(vocab.Pieces[i], i);
        w.WriteEndObject();
        w.WriteStartArray("merges");
        foreach (var (l, r) in vocab.Merges)
        {
            if (metaspaceStyle)
            {
                w.WriteStartArray();
                w.WriteStringValue(vocab.Pieces[l]);
                w.WriteStringValue(vocab.Pieces[r]);
                w.WriteEndArray();
            }
            else
            {
                w.WriteStringValue(vocab.Pieces[l] + " " + vocab.Pieces[r]);
            }
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>A SentencePiece ModelProto for LLaMA-2: pieces with types, scores = -(rank of the first merge that
    /// makes the piece), single characters below every merge; trainer_spec BPE with byte fallback; identity
    /// normalizer with the dummy prefix and whitespace kept as is.</summary>
    public static byte[] Llama2ModelProto(int modelType = 2)
    {
        var vocab = Llama2.Value;
        var index = vocab.Pieces.Select((p, i) => (p, i)).ToDictionary(x => x.p, x => x.i);
        var score = new float[vocab.Pieces.Length];
        for (int i = 0; i < score.Length; i++)
            score[i] = i < 259 ? 0 : -(vocab.Merges.Length + i);
        for (int rank = vocab.Merges.Length - 1; rank >= 0; rank--)
        {
            var (l, r) = vocab.Merges[rank];
            score[index[vocab.Pieces[l] + vocab.Pieces[r]]] = -rank;
        }
        var model = new MemoryStream();
        for (int i = 0; i < vocab.Pieces.Length; i++)
        {
            var piece = new MemoryStream();
            Bytes(piece, 1, Encoding.UTF8.GetBytes(vocab.Pieces[i]));
            Key(piece, 2, 5);
            piece.Write(BitConverter.GetBytes(score[i]));
            Int(piece, 3, i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1);
            Bytes(model, 1, piece.ToArray());
        }
        var trainer = new MemoryStream();
        Int(trainer, 3, modelType);
        Int(trainer, 4, vocab.Pieces.Length);
        Int(trainer, 35, 1);
        Int(trainer, 40, 0);
        Int(trainer, 41, 1);
        Int(trainer, 42, 2);
        Int(trainer, 43, -1);
        Bytes(model, 2, trainer.ToArray());
        var normalizer = new MemoryStream();
        Bytes(normalizer, 1, "identity"u8.ToArray());
        Int(normalizer, 3, 1);
        Int(normalizer, 4, 0);
        Int(normalizer, 5, 1);
        Bytes(model, 3, normalizer.ToArray());
        return model.ToArray();
    }

    static void Varint(Stream s, ulong v)
    {
        for (; v >= 0x80; v >>= 7)
            s.WriteByte((byte)(v | 0x80));
        s.WriteByte((byte)v);
    }

    static void Key(Stream s, int field, int wire) => Varint(s, (ulong)(field << 3 | wire));

    static void Int(Stream s, int field, long value)
    {
        Key(s, field, 0);
        Varint(s, (ulong)value);
    }

    static void Bytes(Stream s, int field, byte[] bytes)
    {
        Key(s, field, 2);
        Varint(s, (ulong)bytes.Length);
        s.Write(bytes);
    }
}
