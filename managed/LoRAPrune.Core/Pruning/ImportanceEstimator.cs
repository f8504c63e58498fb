// ImportanceEstimator.cs — LoRAPrune's importance (docs/method.md §2), once per optimizer step after clipping and
// before AdamW: for every prunable layer and adapted module, the fused lp_op_importance_accumulate gives per-row (or,
// for o_proj/down_proj, per-column) sums of |G (.) W'|; lp_op_importance_group_normalize sums them per KV group or MLP
// channel and adds the L2-normalised vector into one tensor holding every layer; lp_op_importance_ema then moves the
// average with the all-or-nothing NaN guard. No (OUT, IN) matrix is ever materialised.
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Pruning;

public sealed class ImportanceEstimator : IDisposable
{
    private readonly Context _ctx;
    private readonly LlamaConfig _config;
    private readonly PruneOptions _options;
    private readonly Tensor _scratch; // (max OUT or IN of a scored module) per-row/column scores of one module

    /// <param name="config">The model as it is now (compacted widths in progressive mode).</param>
    /// <param name="prunableLayers">The layers that are scored (exempt layers are not).</param>
    public ImportanceEstimator(Context context, LlamaConfig config, IReadOnlyList<int> prunableLayers, PruneOptions options)
    {
        _ctx = context;
        _config = config;
        _options = options;
        Layers = prunableLayers;
        var layout = prunableLayers.SelectMany(l => new (string, long[])[]
        {
            (AttentionKey(l), [config.KeyValueHeads(l)]),
            (MlpKey(l), [config.Intermediate(l)]),
        }).ToList();
        Fresh = new TensorArena(context, layout);
        Ema = new TensorArena(context, layout);
        long widest = 1;
        foreach (int l in prunableLayers)
            foreach (LlamaLinear lin in Enum.GetValues<LlamaLinear>())
            {
                (int outF, int inF) = lin.Shape(config, l);
                widest = Math.Max(widest, Axis(lin) == 0 ? outF : inF);
            }
        _scratch = context.NewTensor(LpDType.F32, widest);
    }

    /// <summary>The scored layers, ascending.</summary>
    public IReadOnlyList<int> Layers { get; }

    /// <summary>This step's combined scores: per prunable layer, KV groups under "layers.{l}.attn" and MLP channels under "layers.{l}.mlp".</summary>
    public TensorArena Fresh { get; }

    /// <summary>The moving average of <see cref="Fresh"/> (same layout), starting at 0 with no bias correction.</summary>
    public TensorArena Ema { get; }

    public static string AttentionKey(int layer) => $"layers.{layer}.attn";
    public static string MlpKey(int layer) => $"layers.{layer}.mlp";

    // Rows (axis 0) for the modules whose outputs are the units, columns (axis 1) for o_proj and down_proj (fan-in).
    private static int Axis(LlamaLinear linear) => linear is LlamaLinear.OProj or LlamaLinear.DownProj ? 1 : 0;

    /// <summary>
    /// Computes the fresh scores of this step from the current weights, adapters and (clipped) gradients, then moves the
    /// average unless any score is NaN. Returns whether the average moved. With <paramref name="keptMasks"/> (masked runs
    /// normalising over kept groups only) each module's vector is multiplied by its unit mask before normalisation.
    /// <paramref name="baseGrads"/> holds dL/dW of the scored linears for the grad criterion, and is zeroed after use.
    /// </summary>
    public bool Update(LlamaWeights weights, LoraAdapters lora, OutputMasks? keptMasks, TensorArena? baseGrads, ulong seed, long step)
    {
        Fresh.Zero();
        if (_options.Criterion == PruneCriterion.Random) Fresh.Upload(RandomScores(seed, step));
        else
        {
            foreach (int l in Layers)
                foreach (LlamaLinear lin in Enum.GetValues<LlamaLinear>())
                    if (lora.IsAdapted(l, lin)) Score(weights, lora, keptMasks, baseGrads, l, lin);
            baseGrads?.Zero();
        }
        return _ctx.ImportanceEma(Ema.All, Fresh.All, (float)_options.EmaDecay);
    }

    private void Score(LlamaWeights weights, LoraAdapters lora, OutputMasks? keptMasks, TensorArena? baseGrads, int layer, LlamaLinear lin)
    {
        (int outF, int inF) = lin.Shape(_config, layer);
        int axis = Axis(lin);
        var v = new Tensor(_scratch.Buffer, 0, LpDType.F32, axis == 0 ? outF : inF);
        v.Buffer.Fill(0, 0, (ulong)v.ElementCount * sizeof(float));
        Tensor w = weights.Layers[layer][lin];
        switch (_options.Criterion)
        {
            case PruneCriterion.Lora:
                _ctx.ImportanceAccumulate(w, lora.A(layer, lin), lora.B(layer, lin), lora.GradA(layer, lin), lora.GradB(layer, lin), null, lora.Scale, ImportanceMode.Lora, axis, v);
                break;
            case PruneCriterion.Grad:
                Tensor gw = baseGrads?[LlamaTensorLayout.Weight(lin, layer)] ?? throw new InvalidOperationException("the grad criterion needs the base-weight gradients");
                _ctx.ImportanceAccumulate(w, lora.A(layer, lin), lora.B(layer, lin), null, null, gw, lora.Scale, ImportanceMode.Grad, axis, v);
                break;
            default:
                _ctx.ImportanceAccumulate(w, lora.A(layer, lin), lora.B(layer, lin), null, null, null, lora.Scale, ImportanceMode.Magnitude, axis, v);
                break;
        }
        if (keptMasks is not null) _ctx.Mul(v, UnitMask(keptMasks, layer, lin), v);
        bool attention = lin.IsAttention();
        int d = _config.HeadDim, rep = _config.AttentionHeads(layer) / _config.KeyValueHeads(layer);
        long groupSize = !attention ? 1 : lin is LlamaLinear.KProj or LlamaLinear.VProj ? d : rep * d;
        _ctx.ImportanceGroupNormalize(v, groupSize, Fresh[attention ? AttentionKey(layer) : MlpKey(layer)]);
    }

    // The {0,1} mask over a module's scored axis: q rows and o columns share the q mask, k/v the k mask, the MLP the gate mask.
    private static Tensor UnitMask(OutputMasks masks, int layer, LlamaLinear lin) => lin switch
    {
        LlamaLinear.QProj or LlamaLinear.OProj => masks[layer, LlamaLinear.QProj]!,
        LlamaLinear.KProj or LlamaLinear.VProj => masks[layer, LlamaLinear.KProj]!,
        _ => masks[layer, LlamaLinear.GateProj]!,
    };

    // The random criterion: U(0,1) per unit from a stream fixed by (run seed, step), zero padding.
    private float[] RandomScores(ulong seed, long step)
    {
        var values = new float[Fresh.Count];
        var rng = new Random(unchecked((int)(seed * 0x9E3779B97F4A7C15UL ^ (ulong)step * 0xBF58476D1CE4E5B9UL >> 16)));
        foreach (TensorArena.Entry e in Fresh.Entries)
            for (long i = 0; i < e.Count; i++) values[e.Offset + i] = rng.NextSingle();
        return values;
    }

    /// <summary>The moving-average scores of one layer's KV groups (attention) or MLP channels, one per current unit.</summary>
    public float[] Scores(int layer, bool attention) => Ema[attention ? AttentionKey(layer) : MlpKey(layer)].ToFloatArray();

    public void Dispose()
    {
        Fresh.Dispose();
        Ema.Dispose();
        _scratch.Dispose();
    }
}
