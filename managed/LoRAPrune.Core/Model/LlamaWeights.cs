// LlamaWeights.cs — the frozen base weights of a LLaMA-family model on one backend context:
// embedding, per-layer norms, the seven projections and their biases where the config has them
// (Qwen2 q/k/v, attention_bias, mlp_bias), final norm and lm_head (tied or not). Linear and
// embedding weights are f32 or bf16 (lp.h "f32|bf16"); norm weights and biases are always f32.
using LoRAPrune.Core.IO;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Model;

/// <summary>The base weights of one decoder layer.</summary>
public sealed class LayerWeights
{
    internal LayerWeights(Tensor inputNorm, Tensor postAttentionNorm, Tensor[] linears, Tensor?[] biases)
    {
        InputNorm = inputNorm;
        PostAttentionNorm = postAttentionNorm;
        _linears = linears;
        _biases = biases;
    }

    private readonly Tensor[] _linears;
    private readonly Tensor?[] _biases;

    public Tensor InputNorm { get; }          // (C)
    public Tensor PostAttentionNorm { get; }  // (C)

    /// <summary>The weight (OUT, IN) of a projection.</summary>
    public Tensor this[LlamaLinear linear] => _linears[(int)linear];

    /// <summary>The bias (OUT) f32 of a projection, null when the config gives it none.</summary>
    public Tensor? Bias(LlamaLinear linear) => _biases[(int)linear];
}

/// <summary>What a compaction keeps of one layer, as positions in its current layout: the q rows (also the o_proj
/// columns), the k/v rows, and the MLP channels (gate/up rows, down_proj columns).</summary>
public sealed record LayerKeep(int[] QueryRows, int[] KeyValueRows, int[] Channels);

public sealed class LlamaWeights : IDisposable
{
    private readonly List<Tensor> _owned = new();

    private LlamaWeights(Context context, LlamaConfig config, LpDType linearDType, bool trainable = false)
    {
        if (linearDType is not (LpDType.F32 or LpDType.BF16))
            throw new ArgumentException($"base weights must be f32 or bf16, not {linearDType}", nameof(linearDType));
        if (trainable && linearDType != LpDType.F32) throw new ArgumentException("trainable base weights must be f32", nameof(linearDType));
        Context = context;
        Config = config;
        LinearDType = linearDType;
        InverseFrequencies = Own(context.Upload(config.RopeInverseFrequencies(), config.HeadDim / 2));
        if (trainable) Arena = new TensorArena(context, ArenaLayout(config));
    }

    /// <summary>Every base tensor by Hugging Face name and shape (lm_head omitted when tied): the layout
    /// of trainable weights and of base-weight gradient arenas.</summary>
    public static IEnumerable<(string Name, long[] Shape)> ArenaLayout(LlamaConfig config) =>
        LlamaTensorLayout.Expected(config)
            .Where(e => !(config.TieWordEmbeddings && e.Name == "lm_head.weight"))
            .Select(e => (e.Name, e.Shape.ToArray()));

    /// <summary>For trainable (pretraining) weights: every base tensor in one f32 arena keyed by its
    /// Hugging Face name, so AdamW and clipping sweep it whole; null for frozen weights.</summary>
    public TensorArena? Arena { get; }

    public Context Context { get; }
    public LlamaConfig Config { get; }
    public LpDType LinearDType { get; }

    public Tensor Embedding { get; private set; } = null!;   // (V, C)
    public Tensor LmHead { get; private set; } = null!;      // (V, C), the embedding itself when tied
    public Tensor FinalNorm { get; private set; } = null!;   // (C)
    public Tensor InverseFrequencies { get; }                // (D/2) RoPE, scaling applied
    public IReadOnlyList<LayerWeights> Layers { get; private set; } = Array.Empty<LayerWeights>();

    private Tensor Own(Tensor t)
    {
        _owned.Add(t);
        return t;
    }

    private Tensor Put(string name, float[] values, LpDType dtype, params long[] shape)
    {
        if (Arena is not null)
        {
            var view = Arena[name];
            view.Upload(values);
            return view;
        }
        return Own(dtype == LpDType.BF16 ? Context.UploadBf16(values, shape) : Context.Upload(values, shape));
    }

    /// <summary>Uploads a validated checkpoint (f32/f16/bf16 on disk) to the context.</summary>
    public static LlamaWeights Load(Context context, LlamaCheckpoint checkpoint, LpDType linearDType, bool trainable = false)
    {
        var config = checkpoint.Config;
        var w = new LlamaWeights(context, config, linearDType, trainable);
        try
        {
            w.Fill(name => checkpoint.ReadFloats(name));
            return w;
        }
        catch
        {
            w.Dispose();
            throw;
        }
    }

    /// <summary>A randomly initialised model (normal(0, 0.02) projections and embedding, unit norms,
    /// zero biases), as Hugging Face initialises LlamaForCausalLM with initializer_range 0.02.</summary>
    public static LlamaWeights Random(Context context, LlamaConfig config, int seed, LpDType linearDType = LpDType.F32, double std = 0.02, bool trainable = false)
    {
        var rng = new Random(seed);
        var w = new LlamaWeights(context, config, linearDType, trainable);
        try
        {
            w.Fill(name => name.EndsWith("norm.weight", StringComparison.Ordinal) ? Enumerable.Repeat(1f, config.HiddenSize).ToArray()
                : name.EndsWith(".bias", StringComparison.Ordinal) ? new float[ExpectedCount(config, name)]
                : Normal(rng, ExpectedCount(config, name), std));
            return w;
        }
        catch
        {
            w.Dispose();
            throw;
        }
    }

    private static long ExpectedCount(LlamaConfig config, string name) =>
        LlamaTensorLayout.Expected(config).First(e => e.Name == name).Shape.Aggregate(1L, (a, b) => a * b);

    private static float[] Normal(Random rng, long n, double std)
    {
        var a = new float[n];
        for (long i = 0; i < n; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            a[i] = (float)(std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return a;
    }

    private void Fill(Func<string, float[]> read)
    {
        var c = Config;
        Embedding = Put("model.embed_tokens.weight", read("model.embed_tokens.weight"), LinearDType, c.VocabSize, c.HiddenSize);
        LmHead = c.TieWordEmbeddings ? Embedding : Put("lm_head.weight", read("lm_head.weight"), LinearDType, c.VocabSize, c.HiddenSize);
        FinalNorm = Put("model.norm.weight", read("model.norm.weight"), LpDType.F32, c.HiddenSize);
        var layers = new LayerWeights[c.NumHiddenLayers];
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            var linears = new Tensor[7];
            var biases = new Tensor?[7];
            foreach (LlamaLinear lin in Enum.GetValues<LlamaLinear>())
            {
                var (outF, inF) = lin.Shape(c, l);
                string name = LlamaTensorLayout.Weight(lin, l);
                linears[(int)lin] = Put(name, read(name), LinearDType, outF, inF);
                if (!lin.HasBias(c)) continue;
                string bias = LlamaTensorLayout.Bias(lin, l);
                biases[(int)lin] = Put(bias, read(bias), LpDType.F32, outF);
            }
            string inNorm = LlamaTensorLayout.InputNorm(l), postNorm = LlamaTensorLayout.PostAttentionNorm(l);
            layers[l] = new LayerWeights(
                Put(inNorm, read(inNorm), LpDType.F32, c.HiddenSize),
                Put(postNorm, read(postNorm), LpDType.F32, c.HiddenSize),
                linears, biases);
        }
        Layers = layers;
    }

    /// <summary>
    /// Physically removes pruned structure (docs/method.md §4.1): new weights for <paramref name="next"/> holding only the
    /// kept q/k/v/gate/up rows (and their biases) and o_proj/down_proj columns of every layer, gathered on the device
    /// in the stored dtype (exact). The embedding, norms, lm_head and the o/down biases move over unchanged; these
    /// weights keep nothing the new ones use and are disposed by the caller.
    /// </summary>
    public LlamaWeights Compact(LlamaConfig next, IReadOnlyList<LayerKeep> keep)
    {
        if (Arena is not null) throw new InvalidOperationException("trainable (pretraining) weights are not compacted");
        if (keep.Count != Config.NumHiddenLayers) throw new ArgumentException($"{keep.Count} layer entries for {Config.NumHiddenLayers} layers", nameof(keep));
        var w = new LlamaWeights(Context, next, LinearDType);
        try
        {
            w.Embedding = Move(Embedding, w);
            w.LmHead = Config.TieWordEmbeddings ? w.Embedding : Move(LmHead, w);
            w.FinalNorm = Move(FinalNorm, w);
            var layers = new LayerWeights[Config.NumHiddenLayers];
            for (int l = 0; l < layers.Length; l++)
            {
                LayerWeights src = Layers[l];
                LayerKeep k = keep[l];
                var linears = new Tensor[7];
                var biases = new Tensor?[7];
                foreach (LlamaLinear lin in Enum.GetValues<LlamaLinear>())
                {
                    int[]? rows = lin switch
                    {
                        LlamaLinear.QProj => k.QueryRows,
                        LlamaLinear.KProj or LlamaLinear.VProj => k.KeyValueRows,
                        LlamaLinear.GateProj or LlamaLinear.UpProj => k.Channels,
                        _ => null,
                    };
                    int[]? cols = lin switch
                    {
                        LlamaLinear.OProj => k.QueryRows,
                        LlamaLinear.DownProj => k.Channels,
                        _ => null,
                    };
                    linears[(int)lin] = rows is not null ? w.Own(GatherRows(src[lin], rows)) : w.Own(GatherCols(src[lin], cols!));
                    if (src.Bias(lin) is { } bias) biases[(int)lin] = rows is not null ? w.Own(GatherRows(bias, rows)) : Move(bias, w);
                }
                layers[l] = new LayerWeights(Move(src.InputNorm, w), Move(src.PostAttentionNorm, w), linears, biases);
            }
            w.Layers = layers;
            return w;
        }
        catch
        {
            w.Dispose();
            throw;
        }
    }

    // Hands one of this object's tensors to w (it is then disposed with w, not with this).
    private Tensor Move(Tensor t, LlamaWeights w)
    {
        if (!_owned.Remove(t)) throw new InvalidOperationException($"tensor {t} is not owned by these weights");
        return w.Own(t);
    }

    private Tensor GatherRows(Tensor src, int[] rows)
    {
        using Tensor idx = Context.Upload(rows, rows.Length);
        long[] shape = src.Shape;
        shape[0] = rows.Length;
        Tensor dst = Context.NewTensor(src.DType, shape);
        Context.GatherRows(src, idx, dst);
        return dst;
    }

    private Tensor GatherCols(Tensor src, int[] cols)
    {
        using Tensor idx = Context.Upload(cols, cols.Length);
        Tensor dst = Context.NewTensor(src.DType, src.Shape[0], cols.Length);
        Context.GatherCols(src, idx, dst);
        return dst;
    }

    /// <summary>Every base tensor by its Hugging Face name (lm_head omitted when tied).</summary>
    public IEnumerable<(string Name, Tensor Tensor)> Named()
    {
        yield return ("model.embed_tokens.weight", Embedding);
        for (int l = 0; l < Layers.Count; l++)
        {
            yield return (LlamaTensorLayout.InputNorm(l), Layers[l].InputNorm);
            foreach (LlamaLinear lin in Enum.GetValues<LlamaLinear>())
            {
                yield return (LlamaTensorLayout.Weight(lin, l), Layers[l][lin]);
                if (Layers[l].Bias(lin) is { } bias) yield return (LlamaTensorLayout.Bias(lin, l), bias);
            }
            yield return (LlamaTensorLayout.PostAttentionNorm(l), Layers[l].PostAttentionNorm);
        }
        yield return ("model.norm.weight", FinalNorm);
        if (!Config.TieWordEmbeddings) yield return ("lm_head.weight", LmHead);
    }

    public long ParameterCount => Named().Sum(n => n.Tensor.ElementCount);

    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
        Arena?.Dispose();
    }
}
