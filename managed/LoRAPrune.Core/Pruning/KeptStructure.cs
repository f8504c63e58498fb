// KeptStructure.cs — which KV groups and MLP channels of every layer are still in the model, by their index in the
// original model. It derives the pruned config (per-layer widths), the row/column index maps a compaction gathers,
// and is saved in checkpoints and in masks.safetensors. A KV group is one k/v head plus its n_rep query heads
// (docs/method.md §4, GQA): on MHA it is exactly one head, the paper's unit.
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;

namespace LoRAPrune.Core.Pruning;

public sealed class KeptStructure
{
    private readonly List<int>[] _groups;
    private readonly List<int>[] _channels;

    private KeptStructure(LlamaConfig original, List<int>[] groups, List<int>[] channels)
    {
        Original = original;
        _groups = groups;
        _channels = channels;
    }

    /// <summary>The model before pruning: the index space of every kept list.</summary>
    public LlamaConfig Original { get; }

    public int Layers => _groups.Length;

    /// <summary>Nothing pruned yet.</summary>
    public static KeptStructure Full(LlamaConfig original) => new(original,
        Enumerable.Range(0, original.NumHiddenLayers).Select(l => Enumerable.Range(0, original.KeyValueHeads(l)).ToList()).ToArray(),
        Enumerable.Range(0, original.NumHiddenLayers).Select(l => Enumerable.Range(0, original.Intermediate(l)).ToList()).ToArray());

    /// <summary>The kept lists as given (sorted ascending, unique, in range, at least one per layer), e.g. read back
    /// from a checkpoint; throws <see cref="ArgumentException"/> naming the layer otherwise.</summary>
    public static KeptStructure FromLists(LlamaConfig original, IReadOnlyList<int[]> groups, IReadOnlyList<int[]> channels)
    {
        int layers = original.NumHiddenLayers;
        if (groups.Count != layers || channels.Count != layers)
            throw new ArgumentException($"kept lists for {groups.Count}/{channels.Count} layers, the model has {layers}");
        for (int l = 0; l < layers; l++)
        {
            CheckList(groups[l], original.KeyValueHeads(l), $"layer {l} KV groups");
            CheckList(channels[l], original.Intermediate(l), $"layer {l} MLP channels");
        }
        return new KeptStructure(original, groups.Select(g => g.ToList()).ToArray(), channels.Select(c => c.ToList()).ToArray());
    }

    private static void CheckList(int[] kept, int total, string what)
    {
        if (kept.Length == 0) throw new ArgumentException($"{what}: nothing kept");
        for (int i = 0; i < kept.Length; i++)
        {
            if (kept[i] < 0 || kept[i] >= total) throw new ArgumentException($"{what}: index {kept[i]} is outside 0..{total - 1}");
            if (i > 0 && kept[i] <= kept[i - 1]) throw new ArgumentException($"{what}: indices are not strictly increasing at position {i}");
        }
    }

    public KeptStructure Clone() => new(Original, _groups.Select(g => g.ToList()).ToArray(), _channels.Select(c => c.ToList()).ToArray());

    /// <summary>True when nothing has been removed.</summary>
    public bool IsFull => Enumerable.Range(0, Layers).All(l => _groups[l].Count == Original.KeyValueHeads(l) && _channels[l].Count == Original.Intermediate(l));

    /// <summary>Kept KV groups of a layer, original indices ascending.</summary>
    public IReadOnlyList<int> Groups(int layer) => _groups[layer];

    /// <summary>Kept MLP channels of a layer, original indices ascending.</summary>
    public IReadOnlyList<int> Channels(int layer) => _channels[layer];

    /// <summary>Query heads per KV group (n_rep) of a layer; pruning whole groups keeps it.</summary>
    public int QueryHeadsPerGroup(int layer) => Original.AttentionHeads(layer) / Original.KeyValueHeads(layer);

    /// <summary>Removes KV groups (original indices, each currently kept) from a layer.</summary>
    public void RemoveGroups(int layer, IEnumerable<int> groups) => Remove(_groups[layer], groups, $"layer {layer} KV group");

    /// <summary>Removes MLP channels (original indices, each currently kept) from a layer.</summary>
    public void RemoveChannels(int layer, IEnumerable<int> channels) => Remove(_channels[layer], channels, $"layer {layer} MLP channel");

    private static void Remove(List<int> kept, IEnumerable<int> remove, string what)
    {
        foreach (int index in remove)
            if (!kept.Remove(index)) throw new ArgumentException($"{what} {index} is not kept");
        if (kept.Count == 0) throw new ArgumentException($"{what}s: pruning would remove every one");
    }

    /// <summary>The config of the model with only the kept structure (per-layer widths; plain fields when uniform).</summary>
    public LlamaConfig PrunedConfig() =>
        Original.WithLayerWidths(
            Enumerable.Range(0, Layers).Select(l => _groups[l].Count * QueryHeadsPerGroup(l)).ToList(),
            Enumerable.Range(0, Layers).Select(l => _groups[l].Count).ToList(),
            Enumerable.Range(0, Layers).Select(l => _channels[l].Count).ToList());

    /// <summary>The kept query heads of a layer (original head indices).</summary>
    public int[] QueryHeads(int layer)
    {
        int rep = QueryHeadsPerGroup(layer);
        return _groups[layer].SelectMany(g => Enumerable.Range(g * rep, rep)).ToArray();
    }

    /// <summary>What this structure keeps of each layer, as positions in the layout of <paramref name="current"/>
    /// (a structure this one was pruned from): the index maps of a compaction from current to this.</summary>
    public IReadOnlyList<LayerKeep> PositionsIn(KeptStructure current)
    {
        int d = Original.HeadDim;
        var keep = new LayerKeep[Layers];
        for (int l = 0; l < Layers; l++)
        {
            int[] groups = Positions(current._groups[l], _groups[l], l, "KV group");
            int rep = QueryHeadsPerGroup(l);
            keep[l] = new LayerKeep(
                Expand(groups, rep * d),
                Expand(groups, d),
                Positions(current._channels[l], _channels[l], l, "MLP channel"));
        }
        return keep;
    }

    /// <summary>The positions, in the current layout, of the kept KV groups of a layer.</summary>
    public int[] GroupPositionsIn(KeptStructure current, int layer) => Positions(current._groups[layer], _groups[layer], layer, "KV group");

    /// <summary>The positions, in the current layout, of the kept MLP channels of a layer.</summary>
    public int[] ChannelPositionsIn(KeptStructure current, int layer) => Positions(current._channels[layer], _channels[layer], layer, "MLP channel");

    /// <summary>What this structure keeps of each layer as positions in the original model (for the final compaction).</summary>
    public IReadOnlyList<LayerKeep> PositionsInOriginal() => PositionsIn(Full(Original));

    private static int[] Positions(List<int> current, List<int> kept, int layer, string what)
    {
        var result = new int[kept.Count];
        for (int i = 0; i < kept.Count; i++)
        {
            int p = current.BinarySearch(kept[i]);
            if (p < 0) throw new InvalidOperationException($"layer {layer}: {what} {kept[i]} is kept but was already removed");
            result[i] = p;
        }
        return result;
    }

    // Unit positions to element positions: unit u covers elements u*size .. u*size+size-1.
    private static int[] Expand(int[] units, int size) => units.SelectMany(u => Enumerable.Range(u * size, size)).ToArray();

    /// <summary>Output mask flags (one per original unit) of a layer's KV groups and channels (true = kept).</summary>
    public bool[] GroupFlags(int layer) => Flags(_groups[layer], Original.KeyValueHeads(layer));

    public bool[] ChannelFlags(int layer) => Flags(_channels[layer], Original.Intermediate(layer));

    private static bool[] Flags(List<int> kept, int total)
    {
        var flags = new bool[total];
        foreach (int i in kept) flags[i] = true;
        return flags;
    }

    /// <summary>Parameters of the model this structure describes (the config's count, tied embeddings counted once).</summary>
    public long ParameterCount() => Inference.ParameterCounts.Of(PrunedConfig()).Total;
}
