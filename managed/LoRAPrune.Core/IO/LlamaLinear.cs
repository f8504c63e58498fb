// LlamaLinear.cs — the seven projection matrices of a LLaMA decoder layer, the modules LoRA adapts
// and pruning narrows (docs/method.md §1.1).
namespace LoRAPrune.Core.IO;

/// <summary>A linear projection of a decoder layer.</summary>
public enum LlamaLinear
{
    /// <summary>self_attn.q_proj, (H*D, C).</summary>
    QProj,

    /// <summary>self_attn.k_proj, (KVH*D, C).</summary>
    KProj,

    /// <summary>self_attn.v_proj, (KVH*D, C).</summary>
    VProj,

    /// <summary>self_attn.o_proj, (C, H*D).</summary>
    OProj,

    /// <summary>mlp.gate_proj, (F, C).</summary>
    GateProj,

    /// <summary>mlp.up_proj, (F, C).</summary>
    UpProj,

    /// <summary>mlp.down_proj, (C, F).</summary>
    DownProj,
}
