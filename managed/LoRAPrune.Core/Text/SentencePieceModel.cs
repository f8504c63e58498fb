// SentencePieceModel — the subset of SentencePiece's ModelProto (sentencepiece_model.proto) that LoRAPrune
// reads and writes: pieces with score and type, the trainer fields that fix the algorithm and special ids, and
// the whitespace normalisation flags. Reading validates tokenizer.model files before Microsoft.ML.Tokenizers
// sees them (so errors name the file and the field); writing synthesises a model from a vocabulary with ranked
// merges (HF tokenizer.json, the embedded LLaMA-2 data), which Microsoft.ML.Tokenizers then runs.
using System.Buffers.Binary;
using System.Text;

namespace LoRAPrune.Core.Text;

/// <summary>SentencePiece piece types (ModelProto.SentencePiece.Type).</summary>
public enum SentencePieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>SentencePiece segmentation algorithms (TrainerSpec.ModelType).</summary>
public enum SentencePieceModelType
{
    Unigram = 1,
    Bpe = 2,
    Word = 3,
    Char = 4,
}

/// <summary>One vocabulary entry: the piece ("▁the", "&lt;0x0A&gt;"), its score (BPE: higher merges first) and type.</summary>
public readonly record struct SentencePieceEntry(string Piece, float Score, SentencePieceType Type);

/// <summary>A SentencePiece model: pieces in id order plus the settings that decide how text is segmented.
/// Defaults are the proto2 defaults of sentencepiece_model.proto, so absent fields read as SentencePiece reads them.</summary>
public sealed class SentencePieceModel
{
    // ModelProto field numbers (sentencepiece_model.proto).
    const int ModelPieces = 1, ModelTrainerSpec = 2, ModelNormalizerSpec = 3;
    const int PiecePiece = 1, PieceScore = 2, PieceType = 3;
    const int TrainerModelType = 3, TrainerVocabSize = 4, TrainerByteFallback = 35;
    const int TrainerUnkId = 40, TrainerBosId = 41, TrainerEosId = 42, TrainerPadId = 43;
    const int NormName = 1, NormAddDummyPrefix = 3, NormRemoveExtraWhitespaces = 4, NormEscapeWhitespaces = 5;

    public required IReadOnlyList<SentencePieceEntry> Pieces { get; init; }
    public SentencePieceModelType ModelType { get; init; } = SentencePieceModelType.Unigram;
    public bool ByteFallback { get; init; }
    public int UnkId { get; init; } = 0;
    public int BosId { get; init; } = 1;
    public int EosId { get; init; } = 2;
    public int PadId { get; init; } = -1;
    public string NormalizerName { get; init; } = "";
    public bool AddDummyPrefix { get; init; } = true;
    public bool RemoveExtraWhitespaces { get; init; } = true;
    public bool EscapeWhitespaces { get; init; } = true;

    /// <summary>Parses a serialized ModelProto; <paramref name="source"/> names the file in errors. Unknown fields are
    /// skipped as protobuf requires; truncation, bad wire types and out-of-range ids are errors.</summary>
    public static SentencePieceModel Parse(ReadOnlySpan<byte> bytes, string source)
    {
        if (bytes.IsEmpty)
            throw new TokenizerFileException(source, "empty file, expected a SentencePiece ModelProto");
        var pieces = new List<SentencePieceEntry>();
        var trainer = ReadOnlySpan<byte>.Empty;
        var normalizer = ReadOnlySpan<byte>.Empty;
        var reader = new ProtoReader(bytes, source, "ModelProto");
        while (reader.Next(out int field, out int wire))
        {
            if (field == ModelPieces && wire == ProtoReader.WireLen) pieces.Add(ParsePiece(reader.Bytes(), source, pieces.Count));
            else if (field == ModelTrainerSpec && wire == ProtoReader.WireLen) trainer = reader.Bytes();
            else if (field == ModelNormalizerSpec && wire == ProtoReader.WireLen) normalizer = reader.Bytes();
            else reader.Skip(wire);
        }
        if (pieces.Count == 0)
            throw new TokenizerFileException(source, "ModelProto has no pieces (field 1): not a SentencePiece model");

        var modelType = SentencePieceModelType.Unigram;
        bool byteFallback = false;
        int unk = 0, bos = 1, eos = 2, pad = -1;
        var t = new ProtoReader(trainer, source, "trainer_spec");
        while (t.Next(out int field, out int wire))
        {
            switch (field)
            {
                case TrainerModelType when wire == ProtoReader.WireVarint: modelType = (SentencePieceModelType)t.Int32(); break;
                case TrainerByteFallback when wire == ProtoReader.WireVarint: byteFallback = t.Varint() != 0; break;
                case TrainerUnkId when wire == ProtoReader.WireVarint: unk = t.Int32(); break;
                case TrainerBosId when wire == ProtoReader.WireVarint: bos = t.Int32(); break;
                case TrainerEosId when wire == ProtoReader.WireVarint: eos = t.Int32(); break;
                case TrainerPadId when wire == ProtoReader.WireVarint: pad = t.Int32(); break;
                default: t.Skip(wire); break;
            }
        }

        string name = "";
        bool dummy = true, removeExtra = true, escape = true;
        var n = new ProtoReader(normalizer, source, "normalizer_spec");
        while (n.Next(out int field, out int wire))
        {
            switch (field)
            {
                case NormName when wire == ProtoReader.WireLen: name = n.String(); break;
                case NormAddDummyPrefix when wire == ProtoReader.WireVarint: dummy = n.Varint() != 0; break;
                case NormRemoveExtraWhitespaces when wire == ProtoReader.WireVarint: removeExtra = n.Varint() != 0; break;
                case NormEscapeWhitespaces when wire == ProtoReader.WireVarint: escape = n.Varint() != 0; break;
                default: n.Skip(wire); break;
            }
        }

        var model = new SentencePieceModel
        {
            Pieces = pieces, ModelType = modelType, ByteFallback = byteFallback,
            UnkId = unk, BosId = bos, EosId = eos, PadId = pad, NormalizerName = name,
            AddDummyPrefix = dummy, RemoveExtraWhitespaces = removeExtra, EscapeWhitespaces = escape,
        };
        model.Validate(source);
        return model;
    }

    /// <summary>Checks the special ids against the pieces: unk must exist and be of type Unknown, bos/eos/pad are
    /// -1 (absent) or a valid id, and byte fallback needs all 256 byte pieces.</summary>
    public void Validate(string source)
    {
        int count = Pieces.Count;
        if (UnkId < 0 || UnkId >= count || Pieces[UnkId].Type != SentencePieceType.Unknown)
            throw new TokenizerFileException(source, $"trainer_spec.unk_id {UnkId} is not a piece of type UNKNOWN");
        foreach (var (what, id) in new[] { ("bos_id", BosId), ("eos_id", EosId), ("pad_id", PadId) })
        {
            if (id < -1 || id >= count)
                throw new TokenizerFileException(source, $"trainer_spec.{what} {id} is outside the {count} pieces");
        }
        if (ByteFallback)
        {
            var bytes = new HashSet<string>();
            foreach (var p in Pieces)
                if (p.Type == SentencePieceType.Byte) bytes.Add(p.Piece);
            for (int b = 0; b < 256; b++)
                if (!bytes.Contains(BytePiece(b)))
                    throw new TokenizerFileException(source, $"byte_fallback is set but the byte piece {BytePiece(b)} is missing");
        }
    }

    /// <summary>The name SentencePiece gives the byte-fallback piece of <paramref name="b"/>: "&lt;0x0A&gt;".</summary>
    public static string BytePiece(int b) => $"<0x{b:X2}>";

    /// <summary>Serializes the fields this class holds as a ModelProto that SentencePiece and
    /// Microsoft.ML.Tokenizers read.</summary>
    public byte[] ToBytes()
    {
        var model = new ProtoWriter();
        var piece = new ProtoWriter();
        foreach (var p in Pieces)
        {
            piece.Clear();
            piece.String(PiecePiece, p.Piece);
            piece.Float(PieceScore, p.Score);
            piece.Varint(PieceType, (ulong)p.Type);
            model.Message(ModelPieces, piece);
        }
        var trainer = new ProtoWriter();
        trainer.Varint(TrainerModelType, (ulong)ModelType);
        trainer.Varint(TrainerVocabSize, (ulong)Pieces.Count);
        trainer.Varint(TrainerByteFallback, ByteFallback ? 1UL : 0UL);
        trainer.Varint(TrainerUnkId, (ulong)(long)UnkId);
        trainer.Varint(TrainerBosId, (ulong)(long)BosId);
        trainer.Varint(TrainerEosId, (ulong)(long)EosId);
        trainer.Varint(TrainerPadId, (ulong)(long)PadId);
        model.Message(ModelTrainerSpec, trainer);
        var norm = new ProtoWriter();
        norm.String(NormName, NormalizerName);
        norm.Varint(NormAddDummyPrefix, AddDummyPrefix ? 1UL : 0UL);
        norm.Varint(NormRemoveExtraWhitespaces, RemoveExtraWhitespaces ? 1UL : 0UL);
        norm.Varint(NormEscapeWhitespaces, EscapeWhitespaces ? 1UL : 0UL);
        model.Message(ModelNormalizerSpec, norm);
        return model.ToArray();
    }

    static SentencePieceEntry ParsePiece(ReadOnlySpan<byte> bytes, string source, int index)
    {
        string? text = null;
        float score = 0;
        var type = SentencePieceType.Normal;
        var r = new ProtoReader(bytes, source, $"pieces[{index}]");
        while (r.Next(out int field, out int wire))
        {
            if (field == PiecePiece && wire == ProtoReader.WireLen) text = r.String();
            else if (field == PieceScore && wire == ProtoReader.WireFixed32) score = r.Float();
            else if (field == PieceType && wire == ProtoReader.WireVarint) type = (SentencePieceType)r.Int32();
            else r.Skip(wire);
        }
        if (text is null)
            throw new TokenizerFileException(source, $"pieces[{index}] has no piece string");
        if (!Enum.IsDefined(type))
            throw new TokenizerFileException(source, $"pieces[{index}] (\"{text}\") has unknown type {(int)type}");
        return new SentencePieceEntry(text, score, type);
    }

    /// <summary>Reads protobuf wire format from a span, bounds-checking every length.</summary>
    ref struct ProtoReader(ReadOnlySpan<byte> data, string source, string message)
    {
        public const int WireVarint = 0, WireFixed64 = 1, WireLen = 2, WireFixed32 = 5;
        readonly ReadOnlySpan<byte> _data = data;
        int _pos;

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (_pos >= _data.Length) return false;
            ulong key = Varint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            if (field == 0) Fail("field number 0");
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 70; shift += 7)
            {
                if (_pos >= _data.Length) Fail("truncated varint");
                byte b = _data[_pos++];
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) return value;
            }
            Fail("varint longer than 10 bytes");
            return 0;
        }

        public int Int32() => (int)(long)Varint();

        public ReadOnlySpan<byte> Bytes()
        {
            ulong length = Varint();
            if (length > (ulong)(_data.Length - _pos)) Fail($"length {length} runs past the end (truncated file?)");
            var slice = _data.Slice(_pos, (int)length);
            _pos += (int)length;
            return slice;
        }

        public string String()
        {
            var bytes = Bytes();
            try
            {
                return new UTF8Encoding(false, true).GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                Fail("string field is not valid UTF-8");
                return "";
            }
        }

        public float Float()
        {
            if (_data.Length - _pos < 4) Fail("truncated fixed32");
            float value = BinaryPrimitives.ReadSingleLittleEndian(_data.Slice(_pos, 4));
            _pos += 4;
            return value;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case WireVarint: Varint(); break;
                case WireLen: Bytes(); break;
                case WireFixed32: Advance(4); break;
                case WireFixed64: Advance(8); break;
                default: Fail($"unsupported wire type {wire}"); break;
            }
        }

        void Advance(int n)
        {
            if (_data.Length - _pos < n) Fail("truncated fixed-size field");
            _pos += n;
        }

        readonly void Fail(string what) =>
            throw new TokenizerFileException(source, $"corrupt SentencePiece model: {message} at byte {_pos}: {what}");
    }

    /// <summary>Appends protobuf wire format to a growable buffer.</summary>
    sealed class ProtoWriter
    {
        readonly MemoryStream _out = new();

        public void Clear() => _out.SetLength(0);

        public byte[] ToArray() => _out.ToArray();

        public void Varint(int field, ulong value)
        {
            Key(field, 0);
            Raw(value);
        }

        public void Float(int field, float value)
        {
            Key(field, 5);
            Span<byte> buf = stackalloc byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(buf, value);
            _out.Write(buf);
        }

        public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public void Message(int field, ProtoWriter inner) => Bytes(field, inner._out.GetBuffer().AsSpan(0, (int)inner._out.Length));

        void Bytes(int field, ReadOnlySpan<byte> bytes)
        {
            Key(field, 2);
            Raw((ulong)bytes.Length);
            _out.Write(bytes);
        }

        void Key(int field, int wire) => Raw((ulong)((field << 3) | wire));

        void Raw(ulong value)
        {
            while (value >= 0x80)
            {
                _out.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }
            _out.WriteByte((byte)value);
        }
    }
}
