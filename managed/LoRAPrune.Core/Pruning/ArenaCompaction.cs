// ArenaCompaction.cs — the device gathers of a compaction beyond the base weights (docs/method.md §4): a LoRA-layout
// arena (the adapters or one Adam moment) keeps the B rows of q/k/v/gate/up outputs and the A columns of o/down
// inputs that survive; the importance average keeps its surviving KV groups and channels. Copies are exact.
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Pruning;

public static class ArenaCompaction
{
    /// <summary>Gathers <paramref name="from"/> (laid out as <paramref name="fromLayout"/>'s Params) into <paramref name="to"/>
    /// (laid out as <paramref name="toLayout"/>'s Params) keeping what <paramref name="keep"/> lists, layer by layer.</summary>
    public static void GatherLora(Context ctx, LoraAdapters fromLayout, TensorArena from, LoraAdapters toLayout, TensorArena to, IReadOnlyList<LayerKeep> keep)
    {
        for (int l = 0; l < keep.Count; l++)
        {
            using IndexTensors idx = new(ctx, keep[l]);
            foreach (LlamaLinear lin in Enum.GetValues<LlamaLinear>())
            {
                if (!fromLayout.IsAdapted(l, lin)) continue;
                if (!toLayout.IsAdapted(l, lin)) throw new ArgumentException($"layer {l} {lin.ModuleName()} is adapted in one layout only", nameof(toLayout));
                string a = LoraAdapters.Name(l, lin, isB: false), b = LoraAdapters.Name(l, lin, isB: true);
                Tensor? rows = lin switch
                {
                    LlamaLinear.QProj => idx.Query,
                    LlamaLinear.KProj or LlamaLinear.VProj => idx.KeyValue,
                    LlamaLinear.GateProj or LlamaLinear.UpProj => idx.Channels,
                    _ => null,
                };
                Tensor? cols = lin switch
                {
                    LlamaLinear.OProj => idx.Query,
                    LlamaLinear.DownProj => idx.Channels,
                    _ => null,
                };
                if (cols is null) ctx.Convert(from[a], to[a]);
                else ctx.GatherCols(from[a], cols, to[a]);
                if (rows is null) ctx.Convert(from[b], to[b]);
                else ctx.GatherRows(from[b], rows, to[b]);
            }
        }
    }

    /// <summary>Gathers the surviving entries of one 1-D importance vector (KV groups or channels) into its compacted form.</summary>
    public static void GatherUnits(Context ctx, Tensor from, int[] positions, Tensor to)
    {
        using Tensor idx = ctx.Upload(positions, positions.Length);
        ctx.GatherRows(from, idx, to);
    }

    // The three index maps of one layer on the device.
    private sealed class IndexTensors(Context ctx, LayerKeep keep) : IDisposable
    {
        public Tensor Query { get; } = ctx.Upload(keep.QueryRows, keep.QueryRows.Length);
        public Tensor KeyValue { get; } = ctx.Upload(keep.KeyValueRows, keep.KeyValueRows.Length);
        public Tensor Channels { get; } = ctx.Upload(keep.Channels, keep.Channels.Length);

        public void Dispose()
        {
            Query.Dispose();
            KeyValue.Dispose();
            Channels.Dispose();
        }
    }
}
