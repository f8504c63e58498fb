// GgufExport.cs — turns a model folder (pruned or not) into one GGUF file that llama.cpp runs: architecture
// "llama" when every layer has the same widths, "deci" (llama.cpp's Nemotron-NAS architecture, which reads
// head counts and MLP widths per layer) otherwise; llama.cpp's converter tensor names with its q/k row
// permutation; the model's own tokenizer. Tensors stream from the memory-mapped safetensors one row at a time.
using LoRAPrune.Core.Text;

namespace LoRAPrune.Core.IO;

/// <summary>What an export wrote.</summary>
public sealed record GgufExportResult(string Path, string Architecture, GgmlType Type, int TensorCount, long Bytes);

/// <summary>Exports Hugging Face LLaMA-family model folders as GGUF v3.</summary>
public static class GgufExport
{
    /// <summary>Architecture of models whose layers all have the same widths.</summary>
    public const string UniformArchitecture = "llama";

    /// <summary>Architecture of models with per-layer head counts or MLP widths.</summary>
    public const string PerLayerArchitecture = "deci";

    /// <summary>
    /// Writes <paramref name="outPath"/> atomically from the model folder <paramref name="modelFolder"/> (config.json,
    /// safetensors, tokenizer.json or tokenizer.model): 2-D weights as <paramref name="type"/>, norms, biases and
    /// RoPE factors as F32 (as llama.cpp's converter does). A model or tokenizer that GGUF or llama.cpp cannot
    /// represent throws <see cref="ModelFormatException"/> or <see cref="TokenizerFileException"/> naming the field,
    /// and nothing is written.
    /// </summary>
    public static GgufExportResult Export(string modelFolder, string outPath, GgmlType type)
    {
        using LlamaCheckpoint checkpoint = LlamaCheckpoint.Open(modelFolder);
        string? tokenizerFile = new[] { "tokenizer.json", "tokenizer.model" }.FirstOrDefault(f => File.Exists(Path.Combine(modelFolder, f)));
        if (tokenizerFile is null)
            throw new TokenizerFileException(modelFolder, "no tokenizer.json or tokenizer.model; a GGUF file carries the model's vocabulary, so the folder needs its tokenizer");
        ITokenizer tokenizer = TokenizerLoader.Load(modelFolder);
        GgufTokenizerMetadata vocabulary = GgufTokenizerMetadata.From(tokenizer, checkpoint.Config.VocabSize, tokenizerFile);
        string name = Path.GetFileName(Path.GetFullPath(modelFolder).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
        GgufWriter writer = Build(checkpoint, vocabulary, type, name);
        AtomicFile.Write(outPath, writer.WriteTo);
        return new GgufExportResult(outPath, Architecture(checkpoint.Config), type, writer.Tensors.Count, new FileInfo(outPath).Length);
    }

    /// <summary>"llama" for uniform widths, "deci" for per-layer ones.</summary>
    public static string Architecture(LlamaConfig config) => config.IsUniform ? UniformArchitecture : PerLayerArchitecture;

    /// <summary>The complete GGUF content of <paramref name="checkpoint"/>; tensor data is read when the writer writes.</summary>
    public static GgufWriter Build(LlamaCheckpoint checkpoint, GgufTokenizerMetadata vocabulary, GgmlType type, string name)
    {
        LlamaConfig config = checkpoint.Config;
        var writer = new GgufWriter();
        string arch = Architecture(config);
        writer.AddString("general.architecture", arch);
        writer.AddString("general.name", name);
        writer.AddUInt32("general.file_type", FileType(type));
        AddHyperParameters(writer, config, arch);
        vocabulary.AddTo(writer);
        AddTensors(writer, checkpoint, type);
        return writer;
    }

    /// <summary>
    /// The source row of output row <paramref name="row"/> in llama.cpp's q/k permutation (convert_hf_to_gguf.py
    /// LlamaModel.permute). Hugging Face rotates the two halves of a head, pairing dimension i with i + D/2;
    /// llama.cpp's RoPE pairs neighbours 2i and 2i + 1. Within each head of <paramref name="headDim"/> rows,
    /// output row 2j + s is therefore input row s·D/2 + j.
    /// </summary>
    public static int RopeRowSource(int row, int headDim)
    {
        int head = row / headDim, within = row % headDim;
        return head * headDim + (within % 2) * (headDim / 2) + within / 2;
    }

    /// <summary>llama.cpp's llama_ftype of a file whose 2-D weights are <paramref name="type"/>.</summary>
    public static uint FileType(GgmlType type) => type switch
    {
        GgmlType.F32 => 0,  // LLAMA_FTYPE_ALL_F32
        GgmlType.F16 => 1,  // LLAMA_FTYPE_MOSTLY_F16
        GgmlType.BF16 => 32, // LLAMA_FTYPE_MOSTLY_BF16
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    private static void AddHyperParameters(GgufWriter writer, LlamaConfig config, string arch)
    {
        int layers = config.NumHiddenLayers;
        writer.AddUInt32($"{arch}.vocab_size", (uint)config.VocabSize);
        writer.AddUInt32($"{arch}.context_length", (uint)config.MaxPositionEmbeddings);
        writer.AddUInt32($"{arch}.embedding_length", (uint)config.HiddenSize);
        writer.AddUInt32($"{arch}.block_count", (uint)layers);
        if (config.IsUniform)
        {
            writer.AddUInt32($"{arch}.feed_forward_length", (uint)config.Intermediate(0));
            writer.AddUInt32($"{arch}.attention.head_count", (uint)config.AttentionHeads(0));
            writer.AddUInt32($"{arch}.attention.head_count_kv", (uint)config.KeyValueHeads(0));
        }
        else
        {
            writer.AddInt32Array($"{arch}.feed_forward_length", [.. Enumerable.Range(0, layers).Select(config.Intermediate)]);
            writer.AddInt32Array($"{arch}.attention.head_count", [.. Enumerable.Range(0, layers).Select(config.AttentionHeads)]);
            writer.AddInt32Array($"{arch}.attention.head_count_kv", [.. Enumerable.Range(0, layers).Select(config.KeyValueHeads)]);
        }
        // Explicit head size: pruning heads breaks hidden_size / head_count, from which llama.cpp would derive it.
        writer.AddUInt32($"{arch}.attention.key_length", (uint)config.HeadDim);
        writer.AddUInt32($"{arch}.attention.value_length", (uint)config.HeadDim);
        writer.AddFloat32($"{arch}.attention.layer_norm_rms_epsilon", (float)config.RmsNormEps);
        writer.AddUInt32($"{arch}.rope.dimension_count", (uint)config.HeadDim);
        writer.AddFloat32($"{arch}.rope.freq_base", (float)config.RopeTheta);
        if (config.RopeScaling is { RopeType: "linear" } linear)
        {
            writer.AddString($"{arch}.rope.scaling.type", "linear");
            writer.AddFloat32($"{arch}.rope.scaling.factor", (float)linear.Factor);
        }
    }

    private static void AddTensors(GgufWriter writer, LlamaCheckpoint checkpoint, GgmlType type)
    {
        LlamaConfig config = checkpoint.Config;
        ShardedCheckpoint tensors = checkpoint.Tensors;
        void Weight(string gguf, string hf, int? headDim = null) => Add(writer, tensors, gguf, hf, type, headDim);
        void Vector(string gguf, string hf, int? headDim = null) => Add(writer, tensors, gguf, hf, GgmlType.F32, headDim);

        Weight("token_embd.weight", LlamaTensorLayout.EmbedTokens);
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            Vector($"blk.{l}.attn_norm.weight", LlamaTensorLayout.InputNorm(l));
            foreach (LlamaLinear linear in LlamaLinears.All)
            {
                if (linear == LlamaLinear.GateProj) Vector($"blk.{l}.ffn_norm.weight", LlamaTensorLayout.PostAttentionNorm(l));
                int? permute = linear is LlamaLinear.QProj or LlamaLinear.KProj ? config.HeadDim : null;
                string name = $"blk.{l}.{TensorName(linear)}";
                Weight(name + ".weight", LlamaTensorLayout.Weight(linear, l), permute);
                if (linear.HasBias(config)) Vector(name + ".bias", LlamaTensorLayout.Bias(linear, l), permute);
            }
        }
        Vector("output_norm.weight", LlamaTensorLayout.FinalNorm);
        // Tied embeddings: no output.weight, and llama.cpp uses token_embd.weight for the output projection.
        if (!config.TieWordEmbeddings) Weight("output.weight", LlamaTensorLayout.LmHead);
        if (config.RopeScaling is { RopeType: "llama3" })
        {
            float[] factors = RopeFrequencyFactors(config);
            writer.AddTensor("rope_freqs.weight", GgmlType.F32, [factors.Length], stream => WriteFloat32(stream, factors));
        }
    }

    /// <summary>llama.cpp's name of a projection within blk.N.</summary>
    private static string TensorName(LlamaLinear linear) => linear switch
    {
        LlamaLinear.QProj => "attn_q",
        LlamaLinear.KProj => "attn_k",
        LlamaLinear.VProj => "attn_v",
        LlamaLinear.OProj => "attn_output",
        LlamaLinear.GateProj => "ffn_gate",
        LlamaLinear.UpProj => "ffn_up",
        LlamaLinear.DownProj => "ffn_down",
        _ => throw new ArgumentOutOfRangeException(nameof(linear), linear, null),
    };

    /// <summary>
    /// rope_freqs.weight for Llama 3.1 scaling: llama.cpp divides each unscaled RoPE frequency by its factor, so
    /// the factor is unscaled / scaled inverse frequency, both as the engine computes them (RopeFrequencies): the
    /// same 1, factor, or 1 / ((1 - smooth) / factor + smooth) that llama.cpp's converter writes.
    /// </summary>
    private static float[] RopeFrequencyFactors(LlamaConfig config)
    {
        float[] plain = RopeFrequencies.Compute(config.HeadDim, config.RopeTheta, null);
        float[] scaled = RopeFrequencies.Compute(config.HeadDim, config.RopeTheta, config.RopeScaling);
        return [.. plain.Select((p, i) => (float)((double)p / scaled[i]))];
    }

    /// <summary>Adds checkpoint tensor <paramref name="hfName"/> as <paramref name="ggufName"/>, rows permuted per head
    /// of <paramref name="headDim"/> rows when given.</summary>
    private static void Add(GgufWriter writer, ShardedCheckpoint tensors, string ggufName, string hfName, GgmlType type, int? headDim)
    {
        TensorInfo info = tensors.GetTensor(hfName);
        writer.AddTensor(ggufName, type, info.Shape, stream => WriteRows(stream, tensors, hfName, type, headDim));
    }

    /// <summary>Streams one tensor from the memory mapping: its stored bytes when nothing changes, else row by row
    /// through float32. Works through a pointer, so tensors larger than a span (2 GiB) stream too.</summary>
    private static unsafe void WriteRows(Stream stream, ShardedCheckpoint tensors, string name, GgmlType type, int? headDim)
    {
        TensorInfo info = tensors.GetTensor(name);
        byte* source = tensors.ShardOf(name).GetDataPointer(info);
        SafetensorsDType target = StorageType(type);
        if (headDim is null && info.DType == target)
        {
            const int Chunk = 1 << 26;
            for (long offset = 0; offset < info.ByteLength; offset += Chunk)
                stream.Write(new ReadOnlySpan<byte>(source + offset, (int)Math.Min(Chunk, info.ByteLength - offset)));
            return;
        }
        // Permuted tensors move whole rows (a bias's rows are single values); others convert in rows of the last dimension.
        long rows = headDim is not null || info.Shape.Count > 1 ? info.Shape[0] : 1;
        int columns = checked((int)(info.ElementCount / rows));
        int sourceRowBytes = columns * info.DType.SizeOf();
        var values = new float[columns];
        var encoded = new byte[columns * target.SizeOf()];
        for (long row = 0; row < rows; row++)
        {
            long from = headDim is int d ? RopeRowSource(checked((int)row), d) : row;
            TensorConversion.ToFloats(new ReadOnlySpan<byte>(source + from * sourceRowBytes, sourceRowBytes), info.DType, values);
            TensorConversion.FromFloats(values, target, encoded);
            stream.Write(encoded);
        }
    }

    private static void WriteFloat32(Stream stream, float[] values)
    {
        var encoded = new byte[values.Length * sizeof(float)];
        TensorConversion.FromFloats(values, SafetensorsDType.F32, encoded);
        stream.Write(encoded);
    }

    private static SafetensorsDType StorageType(GgmlType type) => type switch
    {
        GgmlType.F32 => SafetensorsDType.F32,
        GgmlType.F16 => SafetensorsDType.F16,
        GgmlType.BF16 => SafetensorsDType.BF16,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };
}
