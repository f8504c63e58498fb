// LlamaLinears.cs — names and shapes of the LLaMA projections: Hugging Face module names
// ("q_proj"), module paths ("model.layers.3.self_attn.q_proj") and (out, in) for a layer of a
// possibly pruned config, shared by the checkpoint validator and the PEFT adapter reader.
namespace LoRAPrune.Core.IO;

/// <summary>Facts about <see cref="LlamaLinear"/> values.</summary>
public static class LlamaLinears
{
    /// <summary>All seven projections, in Hugging Face module order.</summary>
    public static readonly IReadOnlyList<LlamaLinear> All =
        [LlamaLinear.QProj, LlamaLinear.KProj, LlamaLinear.VProj, LlamaLinear.OProj, LlamaLinear.GateProj, LlamaLinear.UpProj, LlamaLinear.DownProj];

    /// <summary>The module name: "q_proj", ..., "down_proj".</summary>
    public static string ModuleName(this LlamaLinear linear) => linear switch
    {
        LlamaLinear.QProj => "q_proj",
        LlamaLinear.KProj => "k_proj",
        LlamaLinear.VProj => "v_proj",
        LlamaLinear.OProj => "o_proj",
        LlamaLinear.GateProj => "gate_proj",
        LlamaLinear.UpProj => "up_proj",
        LlamaLinear.DownProj => "down_proj",
        _ => throw new ArgumentOutOfRangeException(nameof(linear), linear, null),
    };

    /// <summary>The block holding it: "self_attn" or "mlp".</summary>
    public static string BlockName(this LlamaLinear linear) =>
        linear is LlamaLinear.GateProj or LlamaLinear.UpProj or LlamaLinear.DownProj ? "mlp" : "self_attn";

    /// <summary>True for the attention projections q, k, v and o.</summary>
    public static bool IsAttention(this LlamaLinear linear) => linear.BlockName() == "self_attn";

    /// <summary>"model.layers.{layer}.{block}.{module}".</summary>
    public static string ModulePath(this LlamaLinear linear, int layer) => $"model.layers.{layer}.{linear.BlockName()}.{linear.ModuleName()}";

    /// <summary>Parses a module name ("q_proj").</summary>
    public static bool TryParse(string moduleName, out LlamaLinear linear)
    {
        foreach (LlamaLinear candidate in All)
        {
            if (candidate.ModuleName() == moduleName)
            {
                linear = candidate;
                return true;
            }
        }
        linear = default;
        return false;
    }

    /// <summary>(out, in) of the projection in layer <paramref name="layer"/> of <paramref name="config"/>.</summary>
    public static (int Out, int In) Shape(this LlamaLinear linear, LlamaConfig config, int layer)
    {
        int c = config.HiddenSize;
        int q = config.AttentionHeads(layer) * config.HeadDim;
        int kv = config.KeyValueHeads(layer) * config.HeadDim;
        int f = config.Intermediate(layer);
        return linear switch
        {
            LlamaLinear.QProj => (q, c),
            LlamaLinear.KProj or LlamaLinear.VProj => (kv, c),
            LlamaLinear.OProj => (c, q),
            LlamaLinear.GateProj or LlamaLinear.UpProj => (f, c),
            LlamaLinear.DownProj => (c, f),
            _ => throw new ArgumentOutOfRangeException(nameof(linear), linear, null),
        };
    }

    /// <summary>True when the config gives this projection a bias vector.</summary>
    public static bool HasBias(this LlamaLinear linear, LlamaConfig config) => linear switch
    {
        LlamaLinear.QProj or LlamaLinear.KProj or LlamaLinear.VProj => config.QkvBias,
        LlamaLinear.OProj => config.OutputBias,
        _ => config.MlpBias,
    };
}
