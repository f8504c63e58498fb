// LlamaTensorLayout.cs — the Hugging Face tensor names and shapes of a LLaMA-family model for a given
// (possibly per-layer pruned) config: embeddings, per-layer projections, optional biases, norms, and
// lm_head unless tied. The checkpoint validator and writer both check against this one list.
namespace LoRAPrune.Core.IO;

/// <summary>The tensors a LLaMA-family checkpoint holds.</summary>
public static class LlamaTensorLayout
{
    /// <summary>(V, C) token embeddings.</summary>
    public const string EmbedTokens = "model.embed_tokens.weight";

    /// <summary>(C) final RMSNorm weight.</summary>
    public const string FinalNorm = "model.norm.weight";

    /// <summary>(V, C) output projection, absent when tie_word_embeddings.</summary>
    public const string LmHead = "lm_head.weight";

    /// <summary>"model.layers.{layer}.self_attn.q_proj.weight" and the like.</summary>
    public static string Weight(LlamaLinear linear, int layer) => linear.ModulePath(layer) + ".weight";

    /// <summary>"model.layers.{layer}.self_attn.q_proj.bias" and the like.</summary>
    public static string Bias(LlamaLinear linear, int layer) => linear.ModulePath(layer) + ".bias";

    /// <summary>(C) RMSNorm before attention.</summary>
    public static string InputNorm(int layer) => $"model.layers.{layer}.input_layernorm.weight";

    /// <summary>(C) RMSNorm before the MLP.</summary>
    public static string PostAttentionNorm(int layer) => $"model.layers.{layer}.post_attention_layernorm.weight";

    /// <summary>True for tensors old checkpoints carry that hold no weights (rotary_emb.inv_freq buffers).</summary>
    public static bool IsIgnorable(string name) => name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal);

    /// <summary>Every tensor <paramref name="config"/> requires, in model order.</summary>
    public static IReadOnlyList<ExpectedTensor> Expected(LlamaConfig config)
    {
        long c = config.HiddenSize, v = config.VocabSize;
        string layers = $"config.json says {config.NumHiddenLayers} layers";
        var list = new List<ExpectedTensor> { new(EmbedTokens, [v, c], "every model has one") };
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            list.Add(new ExpectedTensor(InputNorm(l), [c], layers));
            foreach (LlamaLinear linear in LlamaLinears.All)
            {
                (int outF, int inF) = linear.Shape(config, l);
                list.Add(new ExpectedTensor(Weight(linear, l), [outF, inF], layers));
                if (linear.HasBias(config)) list.Add(new ExpectedTensor(Bias(linear, l), [outF], BiasReason(config, linear)));
                if (linear == LlamaLinear.OProj) list.Add(new ExpectedTensor(PostAttentionNorm(l), [c], layers));
            }
        }
        list.Add(new ExpectedTensor(FinalNorm, [c], "every model has one"));
        if (!config.TieWordEmbeddings) list.Add(new ExpectedTensor(LmHead, [v, c], "config.json says tie_word_embeddings=false"));
        return list;
    }

    private static string BiasReason(LlamaConfig config, LlamaLinear linear) =>
        config.ModelType == "qwen2" ? "config.json says model_type qwen2, which has q/k/v biases"
        : linear.IsAttention() ? "config.json says attention_bias=true"
        : "config.json says mlp_bias=true";
}
