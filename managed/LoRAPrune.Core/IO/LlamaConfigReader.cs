// LlamaConfigReader.cs — parses a Hugging Face config.json into a LlamaConfig with the defaults the
// transformers config classes of llama, mistral and qwen2 apply, including the older "type" and the
// newer "rope_parameters" spellings of RoPE settings and this project's loraprune_* per-layer widths.
using System.Text.Json;

namespace LoRAPrune.Core.IO;

/// <summary>Reads config.json; every problem is a <see cref="ModelFormatException"/> naming the field.</summary>
public static class LlamaConfigReader
{
    /// <summary>Per-layer query heads of a pruned model (see <see cref="LlamaConfig"/>).</summary>
    public const string LayerAttentionHeadsField = "loraprune_num_attention_heads";

    /// <summary>Per-layer key/value heads of a pruned model.</summary>
    public const string LayerKeyValueHeadsField = "loraprune_num_key_value_heads";

    /// <summary>Per-layer MLP widths of a pruned model.</summary>
    public const string LayerIntermediateSizeField = "loraprune_intermediate_size";

    /// <summary>Reads and validates the config file at <paramref name="path"/>.</summary>
    public static LlamaConfig Load(string path)
    {
        using JsonDocument doc = JsonFields.ParseObjectFile(path);
        return Parse(doc.RootElement, Path.GetFileName(path));
    }

    /// <summary>Parses config JSON text; <paramref name="file"/> names it in errors.</summary>
    public static LlamaConfig Parse(string json, string file = "config.json")
    {
        using JsonDocument doc = JsonFields.ParseObject(System.Text.Encoding.UTF8.GetBytes(json), file);
        return Parse(doc.RootElement, file);
    }

    private static LlamaConfig Parse(JsonElement root, string file)
    {
        string modelType = JsonFields.String(root, "model_type", file) ?? throw new ModelFormatException(file, "missing field 'model_type'");
        if (!LlamaConfig.SupportedModelTypes.Contains(modelType))
            throw new ModelFormatException(file, $"model_type {ModelFormatException.Quote(modelType)} is not supported (supported: {string.Join(", ", LlamaConfig.SupportedModelTypes)})");
        string hiddenAct = JsonFields.String(root, "hidden_act", file) ?? "silu";
        if (hiddenAct != "silu")
            throw new ModelFormatException(file, $"hidden_act {ModelFormatException.Quote(hiddenAct)} is not supported (LLaMA-family models use silu)");

        int hidden = JsonFields.RequiredPositiveInt(root, "hidden_size", file);
        int heads = JsonFields.RequiredPositiveInt(root, "num_attention_heads", file);
        int kvHeads = JsonFields.PositiveInt(root, "num_key_value_heads", file, heads);
        int? headDim = JsonFields.Int(root, "head_dim", file);
        if (headDim is null && hidden % heads != 0)
            throw new ModelFormatException(file, $"num_attention_heads={heads} does not divide hidden_size={hidden}");

        bool llama = modelType == "llama";
        bool attentionBias = llama && (JsonFields.Bool(root, "attention_bias", file) ?? false);
        (double theta, RopeScaling? scaling) = ReadRope(root, file);
        var config = new LlamaConfig
        {
            ModelType = modelType,
            HiddenSize = hidden,
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim ?? hidden / heads,
            IntermediateSize = JsonFields.RequiredPositiveInt(root, "intermediate_size", file),
            NumHiddenLayers = JsonFields.RequiredPositiveInt(root, "num_hidden_layers", file),
            VocabSize = JsonFields.RequiredPositiveInt(root, "vocab_size", file),
            RmsNormEps = JsonFields.Number(root, "rms_norm_eps", file) ?? 1e-6,
            RopeTheta = theta,
            RopeScaling = scaling,
            MaxPositionEmbeddings = JsonFields.PositiveInt(root, "max_position_embeddings", file, DefaultMaxPositions(modelType)),
            TieWordEmbeddings = JsonFields.Bool(root, "tie_word_embeddings", file) ?? false,
            QkvBias = attentionBias || modelType == "qwen2",
            OutputBias = attentionBias,
            MlpBias = llama && (JsonFields.Bool(root, "mlp_bias", file) ?? false),
            BosTokenId = JsonFields.Int(root, "bos_token_id", file),
            EosTokenIds = JsonFields.IntList(root, "eos_token_id", file) ?? [],
            PadTokenId = JsonFields.Int(root, "pad_token_id", file),
            TorchDtype = JsonFields.String(root, "torch_dtype", file) ?? JsonFields.String(root, "dtype", file),
            SlidingWindow = ReadSlidingWindow(root, modelType, file),
            LayerAttentionHeads = JsonFields.IntList(root, LayerAttentionHeadsField, file),
            LayerKeyValueHeads = JsonFields.IntList(root, LayerKeyValueHeadsField, file),
            LayerIntermediateSizes = JsonFields.IntList(root, LayerIntermediateSizeField, file),
        };
        config.Validate(file);
        return config;
    }

    private static int DefaultMaxPositions(string modelType) => modelType switch
    {
        "mistral" => 4096 * 32,
        "qwen2" => 32768,
        _ => 2048,
    };

    /// <summary>Mistral: sliding_window (4096 when absent, null disables); Qwen2: only with use_sliding_window.</summary>
    private static int? ReadSlidingWindow(JsonElement root, string modelType, string file)
    {
        bool enabled = modelType switch
        {
            "mistral" => true,
            "qwen2" => JsonFields.Bool(root, "use_sliding_window", file) ?? false,
            _ => false,
        };
        if (!enabled) return null;
        if (root.TryGetProperty("sliding_window", out JsonElement v) && v.ValueKind == JsonValueKind.Null) return null;
        return JsonFields.PositiveInt(root, "sliding_window", file, 4096);
    }

    /// <summary>rope_theta and rope_scaling, or the newer single rope_parameters object.</summary>
    private static (double Theta, RopeScaling? Scaling) ReadRope(JsonElement root, string file)
    {
        double theta = JsonFields.Number(root, "rope_theta", file) ?? 10000.0;
        if (JsonFields.Get(root, "rope_parameters") is { } parameters)
        {
            if (parameters.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException(file, $"rope_parameters is {JsonFields.Describe(parameters.ValueKind)}, expected an object");
            theta = JsonFields.Number(parameters, "rope_theta", file, "rope_parameters.") ?? theta;
            return (theta, ReadScaling(parameters, "rope_parameters", file));
        }
        if (JsonFields.Get(root, "rope_scaling") is not { } scaling) return (theta, null);
        if (scaling.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(file, $"rope_scaling is {JsonFields.Show(scaling)}, expected an object or null");
        return (theta, ReadScaling(scaling, "rope_scaling", file));
    }

    private static RopeScaling? ReadScaling(JsonElement obj, string field, string file)
    {
        string prefix = field + ".";
        string? ropeType = JsonFields.String(obj, "rope_type", file, prefix);
        string? legacyType = JsonFields.String(obj, "type", file, prefix);
        if (ropeType is not null && legacyType is not null && ropeType != legacyType)
            throw new ModelFormatException(file, $"{field} has rope_type {ModelFormatException.Quote(ropeType)} but type {ModelFormatException.Quote(legacyType)}");
        string type = ropeType ?? legacyType ?? throw new ModelFormatException(file, $"{field} has no rope_type");

        double Factor() => JsonFields.Number(obj, "factor", file, prefix) ?? throw new ModelFormatException(file, $"missing field '{prefix}factor'");
        double Required(string name) => JsonFields.Number(obj, name, file, prefix) ?? throw new ModelFormatException(file, $"missing field '{prefix}{name}'");
        RopeScaling? result = type switch
        {
            "default" => null,
            "linear" => RopeScaling.Linear(Factor()),
            "llama3" => RopeScaling.Llama3(Factor(), Required("low_freq_factor"), Required("high_freq_factor"),
                JsonFields.RequiredPositiveInt(obj, "original_max_position_embeddings", file, prefix)),
            _ => throw new ModelFormatException(file, $"{field} type {ModelFormatException.Quote(type)} is not supported (supported: linear, llama3)"),
        };
        result?.Validate(file);
        return result;
    }
}
