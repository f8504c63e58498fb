// BenchShapes.cs — the model widths the kernel benchmark runs at: the project's default small model
// and LLaMA-7B widths (with a token count cut so one op fits a 2-core CPU), plus their --quick
// miniatures. Every op's shape is derived from one of these, so the table states what it measured.
namespace LoRAPrune.Core.Bench;

/// <summary>
/// One set of model widths. B batch, T sequence, N = B*T tokens, C hidden, H query heads, KVH kv heads,
/// D head dim (C = H*D), F MLP width, V vocab, R LoRA rank, L layers (for the LoRA and importance arenas).
/// </summary>
public sealed record BenchShapes(string Name, int B, int T, int C, int H, int KVH, int D, int F, int V, int R, int L)
{
    /// <summary>Tokens per step.</summary>
    public int N => B * T;

    /// <summary>
    /// Parameters of the LoRA arena (A and B of all 7 projections of every layer): per layer
    /// q, o: R*(C + H*D) each; k, v: R*(C + KVH*D) each; gate, up, down: R*(C + F) each.
    /// </summary>
    public long LoraArena => (long)L * R * (2L * (C + H * D) + 2L * (C + KVH * D) + 3L * (C + F));

    /// <summary>Entries of the importance EMA: one score per head and per MLP channel of every layer.</summary>
    public long ImportanceArena => (long)L * (H + F);

    /// <summary>The project's default model (DATA.md): hidden 256, 8 heads over 4 kv heads, SwiGLU 688, 8 layers, 4 x 256 tokens.</summary>
    public static readonly BenchShapes Default = new("default", B: 4, T: 256, C: 256, H: 8, KVH: 4, D: 32, F: 688, V: 32000, R: 8, L: 8);

    /// <summary>LLaMA-7B widths (hidden 4096, 32 heads of 128, MLP 11008, 32 layers, r 8) at 1 x 256 tokens.</summary>
    public static readonly BenchShapes Llama7b = new("llama7b", B: 1, T: 256, C: 4096, H: 32, KVH: 32, D: 128, F: 11008, V: 32000, R: 8, L: 32);

    /// <summary>Miniature of the default model for --quick (GQA and odd widths kept).</summary>
    public static readonly BenchShapes DefaultQuick = new("default-quick", B: 2, T: 16, C: 64, H: 4, KVH: 2, D: 16, F: 172, V: 512, R: 4, L: 2);

    /// <summary>Miniature of the LLaMA-7B set for --quick (MHA, as LLaMA-7B has no GQA).</summary>
    public static readonly BenchShapes Llama7bQuick = new("llama7b-quick", B: 1, T: 32, C: 128, H: 4, KVH: 4, D: 32, F: 344, V: 1024, R: 8, L: 2);

    /// <summary>The sets selected by --shapes default|llama7b|both, or their miniatures when quick.</summary>
    public static IReadOnlyList<BenchShapes> Select(string which, bool quick)
    {
        BenchShapes small = quick ? DefaultQuick : Default, large = quick ? Llama7bQuick : Llama7b;
        return which switch
        {
            "default" => new[] { small },
            "llama7b" => new[] { large },
            "both" => new[] { small, large },
            _ => throw new ArgumentException($"--shapes must be default, llama7b or both, not '{which}'", nameof(which)),
        };
    }

    /// <summary>"B=4 T=256 N=1024 C=256 H=8 KVH=4 D=32 F=688 V=32000 R=8 L=8 (LoRA arena 295936, importance 5568)".</summary>
    public string Describe() =>
        $"B={B} T={T} N={N} C={C} H={H} KVH={KVH} D={D} F={F} V={V} R={R} L={L} (LoRA arena {LoraArena}, importance arena {ImportanceArena})";
}
