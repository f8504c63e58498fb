// ParameterCounts.cs — how many parameters each part of a LLaMA-family model holds, from its config
// alone (per-layer widths of pruned models included, projection biases where the config has them),
// and how many a LoRA adapter of a given rank adds.
// These are the tensors LlamaTensorLayout expects, so the total equals LlamaWeights.ParameterCount.
using LoRAPrune.Core.IO;

namespace LoRAPrune.Core.Inference;

/// <summary>Parameters of one decoder layer; Biases counts the projection biases the config has
/// (Qwen2 q/k/v, attention_bias, mlp_bias), 0 for plain LLaMA.</summary>
public sealed record LayerParameterCounts(int Layer, int Heads, int KeyValueHeads, int Intermediate, long Q, long K, long V, long O, long Gate, long Up, long Down, long Norms,
                                          long Biases)
{
    public long Attention => Q + K + V + O;
    public long Mlp => Gate + Up + Down;
    public long Linear => Attention + Mlp;
    public long Total => Linear + Norms + Biases;
}

public sealed class ParameterCounts
{
    private ParameterCounts(LlamaConfig config, IReadOnlyList<LayerParameterCounts> layers)
    {
        Config = config;
        Layers = layers;
        Embedding = (long)config.VocabSize * config.HiddenSize;
        LmHead = config.TieWordEmbeddings ? 0 : Embedding;
        FinalNorm = config.HiddenSize;
    }

    public LlamaConfig Config { get; }
    public IReadOnlyList<LayerParameterCounts> Layers { get; }

    /// <summary>model.embed_tokens (V, C).</summary>
    public long Embedding { get; }

    /// <summary>lm_head (V, C); 0 when tied to the embedding.</summary>
    public long LmHead { get; }

    /// <summary>model.norm (C).</summary>
    public long FinalNorm { get; }

    public long Q => Layers.Sum(l => l.Q);
    public long K => Layers.Sum(l => l.K);
    public long V => Layers.Sum(l => l.V);
    public long O => Layers.Sum(l => l.O);
    public long Gate => Layers.Sum(l => l.Gate);
    public long Up => Layers.Sum(l => l.Up);
    public long Down => Layers.Sum(l => l.Down);

    /// <summary>Both RMSNorm weights of every layer plus the final norm.</summary>
    public long Norms => Layers.Sum(l => l.Norms) + FinalNorm;

    /// <summary>The seven projections of every layer (what LoRAPrune prunes and the grad criterion differentiates).</summary>
    public long Linear => Layers.Sum(l => l.Linear);

    /// <summary>The projection biases of every layer (f32 in the engine; 0 for plain LLaMA).</summary>
    public long Biases => Layers.Sum(l => l.Biases);

    public long Total => Embedding + Linear + Biases + Norms + LmHead;

    public static ParameterCounts Of(LlamaConfig config)
    {
        var layers = new LayerParameterCounts[config.NumHiddenLayers];
        for (int l = 0; l < layers.Length; l++)
        {
            long Size(LlamaLinear lin)
            {
                var (o, i) = lin.Shape(config, l);
                return (long)o * i;
            }
            long biases = LlamaLinears.All.Where(lin => lin.HasBias(config)).Sum(lin => (long)lin.Shape(config, l).Out);
            layers[l] = new LayerParameterCounts(l, config.AttentionHeads(l), config.KeyValueHeads(l), config.Intermediate(l),
                Size(LlamaLinear.QProj), Size(LlamaLinear.KProj), Size(LlamaLinear.VProj), Size(LlamaLinear.OProj),
                Size(LlamaLinear.GateProj), Size(LlamaLinear.UpProj), Size(LlamaLinear.DownProj), 2L * config.HiddenSize, biases);
        }
        return new ParameterCounts(config, layers);
    }

    /// <summary>LoRA parameters: R * (IN + OUT) per adapted projection (A is (R, IN), B is (OUT, R)).</summary>
    public static long Lora(LlamaConfig config, int rank, IEnumerable<LlamaLinear> targets)
    {
        var set = targets.Distinct().ToArray();
        long total = 0;
        for (int l = 0; l < config.NumHiddenLayers; l++)
            foreach (var lin in set)
            {
                var (o, i) = lin.Shape(config, l);
                total += (long)rank * (i + o);
            }
        return total;
    }
}
