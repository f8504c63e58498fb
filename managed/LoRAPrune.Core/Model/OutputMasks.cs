// OutputMasks.cs — the {0,1} output masks of q, k, v, gate and up of every layer (docs/method.md §1.3):
// y = (W x + s B A x) (.) m. A pruned KV group zeroes the q rows of its n_rep query heads and the k/v
// rows of its KV head (the GQA unit, docs/method.md §4.2); a pruned channel zeroes gate/up rows.
using LoRAPrune.Core.IO;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Model;

public sealed class OutputMasks : IDisposable
{
    private static readonly LlamaLinear[] Masked = { LlamaLinear.QProj, LlamaLinear.KProj, LlamaLinear.VProj, LlamaLinear.GateProj, LlamaLinear.UpProj };

    public OutputMasks(Context context, LlamaConfig config)
    {
        Config = config;
        var layout = new List<(string, long[])>();
        for (int l = 0; l < config.NumHiddenLayers; l++)
            foreach (var lin in Masked) layout.Add((Key(l, lin), new long[] { lin.Shape(config, l).Out }));
        Values = new TensorArena(context, layout);
        Values.Upload(Enumerable.Repeat(1f, (int)Values.Count).ToArray());
    }

    public LlamaConfig Config { get; }
    public TensorArena Values { get; }

    private static string Key(int layer, LlamaLinear linear) => $"layers.{layer}.{linear.ModuleName()}.mask";

    /// <summary>The mask of a projection's outputs, or null for o_proj/down_proj (never masked).</summary>
    public Tensor? this[int layer, LlamaLinear linear] => Masked.Contains(linear) ? Values[Key(layer, linear)] : null;

    /// <summary>Keeps exactly the KV groups with keep[g] (g &lt; KVH): q rows of heads g*n_rep..(g+1)*n_rep-1 and k/v rows of head g.</summary>
    public void SetKvGroups(int layer, IReadOnlyList<bool> keep)
    {
        int kvh = Config.KeyValueHeads(layer), h = Config.AttentionHeads(layer), d = Config.HeadDim, rep = h / kvh;
        if (keep.Count != kvh) throw new ArgumentException($"layer {layer} has {kvh} KV groups, got {keep.Count} flags", nameof(keep));
        var q = new float[h * d];
        var kv = new float[kvh * d];
        for (int g = 0; g < kvh; g++)
        {
            float v = keep[g] ? 1f : 0f;
            Array.Fill(kv, v, g * d, d);
            Array.Fill(q, v, g * rep * d, rep * d);
        }
        this[layer, LlamaLinear.QProj]!.Upload(q);
        this[layer, LlamaLinear.KProj]!.Upload(kv);
        this[layer, LlamaLinear.VProj]!.Upload(kv);
    }

    /// <summary>Keeps exactly the MLP channels with keep[c] (c &lt; F) in gate and up.</summary>
    public void SetChannels(int layer, IReadOnlyList<bool> keep)
    {
        int f = Config.Intermediate(layer);
        if (keep.Count != f) throw new ArgumentException($"layer {layer} has {f} MLP channels, got {keep.Count} flags", nameof(keep));
        var m = keep.Select(k => k ? 1f : 0f).ToArray();
        this[layer, LlamaLinear.GateProj]!.Upload(m);
        this[layer, LlamaLinear.UpProj]!.Upload(m);
    }

    public void Dispose() => Values.Dispose();
}
