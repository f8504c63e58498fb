// PrunedModelWriter.cs — the end of a prune (docs/method.md §4): the final compaction and LoRA merge written as a
// Hugging Face model folder. Every tensor is read from the source checkpoint as f32, sliced to the kept rows/columns,
// merged W += s B A in f32 on the device (never rounded through bf16), and stored once in the source tensor's own
// dtype; tensors are produced one at a time while the file is written, so no whole model is ever held in memory.
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Pruning;

public static class PrunedModelWriter
{
    /// <summary>Shards above this size, as Hugging Face does ("5GB").</summary>
    public const long MaxShardBytes = 5_000_000_000;

    /// <summary>
    /// Writes config.json (per-layer loraprune_* widths when layers differ, plain fields when uniform) and the merged
    /// weights of the model <paramref name="kept"/> describes into <paramref name="folder"/>. <paramref name="lora"/> is
    /// laid out as <paramref name="loraLayout"/> (the full model for masked runs, the compacted one for progressive runs).
    /// </summary>
    public static LlamaConfig Write(string folder, LlamaCheckpoint source, KeptStructure kept, LoraAdapters lora, KeptStructure loraLayout, Context ctx,
                                    Action<double>? progress = null)
    {
        LlamaConfig pruned = kept.PrunedConfig() with { TorchDtype = source.Config.TorchDtype };
        IReadOnlyList<LayerKeep> fromOriginal = kept.PositionsInOriginal();
        Dictionary<(int, LlamaLinear), (float[] A, float[] B)> adapters = KeptAdapters(lora, kept.PositionsIn(loraLayout), pruned);
        var writer = new SafetensorsWriter();
        IReadOnlyList<ExpectedTensor> expected = LlamaTensorLayout.Expected(pruned);
        int written = 0;
        Action<Stream> Counted(Action<Stream> write) => stream =>
        {
            write(stream);
            progress?.Invoke(++written / (double)expected.Count);
        };
        foreach (ExpectedTensor e in expected)
        {
            string name = e.Name;
            SafetensorsDType dtype = source.Tensors.GetTensor(name).DType;
            if (!TryParseLinear(name, out int layer, out LlamaLinear lin, out bool isBias))
            {
                writer.Add(name, dtype, e.Shape, Counted(stream => stream.Write(source.Tensors.GetBytes(name))));
                continue;
            }
            LayerKeep keep = fromOriginal[layer];
            (int[]? rows, int[]? cols) = Slices(lin, keep);
            if (isBias)
            {
                writer.Add(name, dtype, e.Shape, Counted(stream => SafetensorsWriter.WriteFloats(stream, rows is null ? source.ReadFloats(name) : Gather(source.ReadFloats(name), 1, rows, null), dtype)));
                continue;
            }
            int inF = lin.Shape(source.Config, layer).In;
            writer.Add(name, dtype, e.Shape, Counted(stream =>
            {
                float[] w = Gather(source.ReadFloats(name), inF, rows, cols);
                if (adapters.TryGetValue((layer, lin), out var ab)) w = Merge(ctx, w, e.Shape, ab.A, ab.B, lora.Options.Rank, lora.Scale);
                SafetensorsWriter.WriteFloats(stream, w, dtype);
            }));
        }
        LlamaCheckpoint.Save(folder, pruned, writer, ConfigLayout.Auto, MaxShardBytes);
        return pruned;
    }

    /// <summary>The rows (q/k/v/gate/up and their biases) or columns (o/down) a linear keeps, as positions in the layout <paramref name="keep"/> refers to.</summary>
    internal static (int[]? Rows, int[]? Cols) Slices(LlamaLinear lin, LayerKeep keep) => lin switch
    {
        LlamaLinear.QProj => (keep.QueryRows, null),
        LlamaLinear.KProj or LlamaLinear.VProj => (keep.KeyValueRows, null),
        LlamaLinear.GateProj or LlamaLinear.UpProj => (keep.Channels, null),
        LlamaLinear.OProj => (null, keep.QueryRows),
        _ => (null, keep.Channels),
    };

    /// <summary>A row-major matrix with rows of <paramref name="width"/> reduced to the given rows and columns (null: all).</summary>
    public static float[] Gather(float[] m, int width, int[]? rows, int[]? cols)
    {
        int height = m.Length / width;
        int[] r = rows ?? Enumerable.Range(0, height).ToArray();
        if (cols is null)
        {
            var outRows = new float[(long)r.Length * width];
            for (int i = 0; i < r.Length; i++) Array.Copy(m, (long)r[i] * width, outRows, (long)i * width, width);
            return outRows;
        }
        var result = new float[(long)r.Length * cols.Length];
        for (int i = 0; i < r.Length; i++)
        {
            long src = (long)r[i] * width, dst = (long)i * cols.Length;
            for (int j = 0; j < cols.Length; j++) result[dst + j] = m[src + cols[j]];
        }
        return result;
    }

    // W (OUT, IN) += scale * B (OUT, R) A (R, IN), in f32 on the device (lp_op_lora_merge).
    private static float[] Merge(Context ctx, float[] w, IReadOnlyList<long> shape, float[] a, float[] b, int rank, float scale)
    {
        using Tensor tw = ctx.Upload(w, shape[0], shape[1]);
        using Tensor ta = ctx.Upload(a, rank, shape[1]);
        using Tensor tb = ctx.Upload(b, shape[0], rank);
        ctx.LoraMerge(tw, ta, tb, scale);
        return tw.ToFloatArray();
    }

    // Every adapter's A and B reduced to the kept structure: B rows of q/k/v/gate/up, A columns of o/down.
    private static Dictionary<(int, LlamaLinear), (float[] A, float[] B)> KeptAdapters(LoraAdapters lora, IReadOnlyList<LayerKeep> keep, LlamaConfig pruned)
    {
        float[] values = lora.Params.Download();
        var byName = lora.Params.Entries.ToDictionary(e => e.Name);
        float[] Slice(string name) => values.AsSpan((int)byName[name].Offset, (int)byName[name].Count).ToArray();
        var result = new Dictionary<(int, LlamaLinear), (float[], float[])>();
        int r = lora.Options.Rank;
        for (int l = 0; l < keep.Count; l++)
            foreach (LlamaLinear lin in Enum.GetValues<LlamaLinear>())
            {
                if (!lora.IsAdapted(l, lin)) continue;
                float[] a = Slice(LoraAdapters.Name(l, lin, isB: false)), b = Slice(LoraAdapters.Name(l, lin, isB: true));
                (int[]? rows, int[]? cols) = Slices(lin, keep[l]);
                if (cols is not null) a = Gather(a, a.Length / r, null, cols);
                if (rows is not null) b = Gather(b, r, rows, null);
                (int outF, int inF) = lin.Shape(pruned, l);
                if (a.Length != (long)r * inF || b.Length != (long)outF * r)
                    throw new InvalidOperationException($"layer {l} {lin.ModuleName()}: adapter shapes do not fit the pruned model");
                result[(l, lin)] = (a, b);
            }
        return result;
    }

    private static bool TryParseLinear(string name, out int layer, out LlamaLinear linear, out bool isBias)
    {
        layer = -1;
        linear = default;
        isBias = name.EndsWith(".bias", StringComparison.Ordinal);
        string[] parts = name.Split('.');
        // model.layers.{i}.{self_attn|mlp}.{q_proj..}.{weight|bias}
        if (parts.Length != 6 || parts[0] != "model" || parts[1] != "layers" || !int.TryParse(parts[2], out layer)) return false;
        return LlamaLinears.TryParse(parts[4], out linear);
    }
}
