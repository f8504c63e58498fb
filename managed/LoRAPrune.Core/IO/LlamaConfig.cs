// LlamaConfig.cs — the architecture of a LLaMA-family model (LLaMA-1/2/3, TinyLlama, Mistral, Qwen2) as
// Hugging Face config.json describes it, plus this project's per-layer widths for pruned models.
// Reading and writing live in LlamaConfigReader / LlamaConfigWriter; Validate holds every invariant.
namespace LoRAPrune.Core.IO;

/// <summary>
/// A LLaMA-family model configuration.
/// <para>
/// Pruned models whose layers differ in width carry three extra config.json fields, each an array with
/// one entry per decoder layer (length num_hidden_layers):
/// <c>"loraprune_num_attention_heads"</c> (query heads H_l), <c>"loraprune_num_key_value_heads"</c>
/// (KV heads KVH_l, each dividing H_l) and <c>"loraprune_intermediate_size"</c> (MLP width F_l); every entry
/// is a positive integer. Any of the three may be absent, in which case every layer uses the plain field
/// (num_attention_heads, num_key_value_heads, intermediate_size), which in a per-layer file keep the values of
/// the model before pruning. head_dim is always written explicitly because pruning heads breaks
/// hidden_size / num_attention_heads. Stock Hugging Face code ignores the loraprune_* fields and fails on the
/// tensor shapes rather than loading a wrong model; models pruned uniformly are written without them.
/// </para>
/// </summary>
public sealed record LlamaConfig
{
    /// <summary>The model_type values accepted.</summary>
    public static readonly IReadOnlyList<string> SupportedModelTypes = ["llama", "mistral", "qwen2"];

    /// <summary>"llama", "mistral" or "qwen2".</summary>
    public required string ModelType { get; init; }

    /// <summary>C, the residual width.</summary>
    public required int HiddenSize { get; init; }

    /// <summary>H, query heads per layer (unpruned value when per-layer lists are present).</summary>
    public required int NumAttentionHeads { get; init; }

    /// <summary>KVH, key/value heads per layer (unpruned value when per-layer lists are present).</summary>
    public required int NumKeyValueHeads { get; init; }

    /// <summary>D, the size of one head.</summary>
    public required int HeadDim { get; init; }

    /// <summary>F, the MLP width (unpruned value when per-layer lists are present).</summary>
    public required int IntermediateSize { get; init; }

    /// <summary>L, decoder layers.</summary>
    public required int NumHiddenLayers { get; init; }

    /// <summary>V, vocabulary size.</summary>
    public required int VocabSize { get; init; }

    /// <summary>RMSNorm epsilon.</summary>
    public double RmsNormEps { get; init; } = 1e-6;

    /// <summary>RoPE base.</summary>
    public double RopeTheta { get; init; } = 10000.0;

    /// <summary>RoPE scaling, or null for plain RoPE.</summary>
    public RopeScaling? RopeScaling { get; init; }

    /// <summary>Longest sequence the model was configured for.</summary>
    public int MaxPositionEmbeddings { get; init; } = 2048;

    /// <summary>True when lm_head shares the embedding matrix (no lm_head.weight tensor).</summary>
    public bool TieWordEmbeddings { get; init; }

    /// <summary>q_proj, k_proj and v_proj have biases (LLaMA attention_bias, always for Qwen2).</summary>
    public bool QkvBias { get; init; }

    /// <summary>o_proj has a bias (LLaMA attention_bias only).</summary>
    public bool OutputBias { get; init; }

    /// <summary>gate_proj, up_proj and down_proj have biases (LLaMA mlp_bias).</summary>
    public bool MlpBias { get; init; }

    /// <summary>Beginning-of-sequence token id, when the config names one.</summary>
    public int? BosTokenId { get; init; }

    /// <summary>End-of-sequence token ids (Llama 3.1 lists several); empty when the config names none.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    /// <summary>Padding token id, when the config names one (early LLaMA conversions use -1).</summary>
    public int? PadTokenId { get; init; }

    /// <summary>torch_dtype as written in the config ("bfloat16", "float16", "float32"), or null.</summary>
    public string? TorchDtype { get; init; }

    /// <summary>Sliding-window attention span (Mistral, Qwen2 with use_sliding_window), or null for full attention.</summary>
    public int? SlidingWindow { get; init; }

    /// <summary>Per-layer query heads H_l of a pruned model, or null when every layer has NumAttentionHeads.</summary>
    public IReadOnlyList<int>? LayerAttentionHeads { get; init; }

    /// <summary>Per-layer KV heads KVH_l of a pruned model, or null when every layer has NumKeyValueHeads.</summary>
    public IReadOnlyList<int>? LayerKeyValueHeads { get; init; }

    /// <summary>Per-layer MLP widths F_l of a pruned model, or null when every layer has IntermediateSize.</summary>
    public IReadOnlyList<int>? LayerIntermediateSizes { get; init; }

    /// <summary>Query heads of layer <paramref name="layer"/>.</summary>
    public int AttentionHeads(int layer) => LayerAttentionHeads?[layer] ?? NumAttentionHeads;

    /// <summary>KV heads of layer <paramref name="layer"/>.</summary>
    public int KeyValueHeads(int layer) => LayerKeyValueHeads?[layer] ?? NumKeyValueHeads;

    /// <summary>MLP width of layer <paramref name="layer"/>.</summary>
    public int Intermediate(int layer) => LayerIntermediateSizes?[layer] ?? IntermediateSize;

    /// <summary>True when every layer has the same heads, KV heads and MLP width.</summary>
    public bool IsUniform => Enumerable.Range(0, NumHiddenLayers).All(l =>
        AttentionHeads(l) == AttentionHeads(0) && KeyValueHeads(l) == KeyValueHeads(0) && Intermediate(l) == Intermediate(0));

    /// <summary>This config with per-layer widths (arrays of length L), e.g. after pruning.</summary>
    public LlamaConfig WithLayerWidths(IReadOnlyList<int> attentionHeads, IReadOnlyList<int> keyValueHeads, IReadOnlyList<int> intermediateSizes)
    {
        LlamaConfig pruned = this with
        {
            LayerAttentionHeads = [.. attentionHeads],
            LayerKeyValueHeads = [.. keyValueHeads],
            LayerIntermediateSizes = [.. intermediateSizes],
        };
        pruned.Validate("config");
        return pruned;
    }

    /// <summary>RoPE inverse frequencies (length D/2), computed in float32 as Hugging Face does.</summary>
    public float[] RopeInverseFrequencies() => RopeFrequencies.Compute(HeadDim, RopeTheta, RopeScaling);

    /// <summary>Reads a Hugging Face config.json.</summary>
    public static LlamaConfig Load(string path) => LlamaConfigReader.Load(path);

    /// <summary>Parses config.json text; <paramref name="file"/> names it in errors.</summary>
    public static LlamaConfig Parse(string json, string file = "config.json") => LlamaConfigReader.Parse(json, file);

    /// <summary>Writes config.json atomically in the given layout.</summary>
    public void Save(string path, ConfigLayout layout = ConfigLayout.Auto) => LlamaConfigWriter.Save(this, path, layout);

    /// <summary>Throws a <see cref="ModelFormatException"/> naming <paramref name="file"/> for the first broken invariant.</summary>
    public void Validate(string file)
    {
        if (!SupportedModelTypes.Contains(ModelType))
            throw new ModelFormatException(file, $"model_type {ModelFormatException.Quote(ModelType)} is not supported (supported: {string.Join(", ", SupportedModelTypes)})");
        Positive(file, "hidden_size", HiddenSize);
        Positive(file, "num_attention_heads", NumAttentionHeads);
        Positive(file, "num_key_value_heads", NumKeyValueHeads);
        Positive(file, "head_dim", HeadDim);
        Positive(file, "intermediate_size", IntermediateSize);
        Positive(file, "num_hidden_layers", NumHiddenLayers);
        Positive(file, "vocab_size", VocabSize);
        Positive(file, "max_position_embeddings", MaxPositionEmbeddings);
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new ModelFormatException(file, $"num_key_value_heads={NumKeyValueHeads} does not divide num_attention_heads={NumAttentionHeads}");
        if (HeadDim % 2 != 0)
            throw new ModelFormatException(file, $"head_dim={HeadDim} must be even for rotary embeddings");
        if (!(double.IsFinite(RmsNormEps) && RmsNormEps > 0))
            throw new ModelFormatException(file, $"rms_norm_eps={RmsNormEps} must be a positive number");
        if (!(double.IsFinite(RopeTheta) && RopeTheta > 0))
            throw new ModelFormatException(file, $"rope_theta={RopeTheta} must be a positive number");
        RopeScaling?.Validate(file);
        if (SlidingWindow is <= 0)
            throw new ModelFormatException(file, $"sliding_window={SlidingWindow} must be a positive integer");
        CheckBiases(file);
        CheckLayerList(file, LlamaConfigReader.LayerAttentionHeadsField, LayerAttentionHeads);
        CheckLayerList(file, LlamaConfigReader.LayerKeyValueHeadsField, LayerKeyValueHeads);
        CheckLayerList(file, LlamaConfigReader.LayerIntermediateSizeField, LayerIntermediateSizes);
        for (int l = 0; l < NumHiddenLayers; l++)
        {
            if (AttentionHeads(l) % KeyValueHeads(l) != 0)
                throw new ModelFormatException(file, $"layer {l}: {KeyValueHeads(l)} key/value heads do not divide {AttentionHeads(l)} attention heads");
        }
    }

    private void CheckBiases(string file)
    {
        string? problem = ModelType switch
        {
            "mistral" when QkvBias || OutputBias || MlpBias => "mistral models have no biases",
            "qwen2" when !QkvBias || OutputBias || MlpBias => "qwen2 models have q/k/v biases and no others",
            "llama" when QkvBias != OutputBias => "llama's attention_bias covers q/k/v and o alike",
            _ => null,
        };
        if (problem is not null) throw new ModelFormatException(file, $"bias flags do not fit model_type {ModelType}: {problem}");
    }

    private void CheckLayerList(string file, string field, IReadOnlyList<int>? values)
    {
        if (values is null) return;
        if (values.Count != NumHiddenLayers)
            throw new ModelFormatException(file, $"{field} has {values.Count} entries but num_hidden_layers={NumHiddenLayers}");
        for (int l = 0; l < values.Count; l++)
        {
            if (values[l] <= 0) throw new ModelFormatException(file, $"{field}[{l}]={values[l]}, expected a positive integer");
        }
    }

    private static void Positive(string file, string field, int value)
    {
        if (value <= 0) throw new ModelFormatException(file, $"{field}={value}, expected a positive integer");
    }
}
