// LlamaGraph.cs — forward and backward of a LLaMA+LoRA model for one (B, T) batch shape, written
// once against the op ABI so it runs on every backend. Forward saves what backward needs; backward
// accumulates LoRA gradients (+=) into LoraAdapters.Grads. Base-weight gradients exist only when a
// base-gradient arena is given (pretraining); LoRA fine-tuning never allocates or computes them.
// Per layer:  xn = rmsnorm(x); q,k,v = lora(xn) (.) mask; rope(q,k); a = attn(q,k,v); h = x + lora_o(a)
//             hn = rmsnorm(h); g,u = lora(hn) (.) mask; x' = h + lora_down(silu(g) * u)
// The LM head and the loss run over chunks of rows, so the (N, V) logits never exist at once: a training forward
// turns each chunk into its gradient at once (lp_op_cross_entropy_forward_backward) and takes it through the head.
// Activations: the residual stream, the norms' rstd, attention's lse and LoRA's xa are f32; the other saved activations
// (the normed inputs of the linears, q/k/v, attention's output, gate/up and the SwiGLU product) are stored in the
// graph's activation dtype: bf16 on the CUDA backends (DESIGN §4: half the activation memory, f32 arithmetic inside
// every op), f32 on cpu. Every gradient is f32.
using LoRAPrune.Core.IO;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Model;

public sealed class LlamaGraph : IDisposable
{
    private readonly LlamaWeights _w;
    private readonly LoraAdapters? _lora;
    private readonly OutputMasks? _masks;
    private readonly TensorArena? _baseGrads;
    private readonly Context _ctx;
    private readonly List<Tensor> _owned = new();
    private readonly LayerActs[] _acts;
    private readonly int _c, _v, _d;

    // Global activations. Shapes: N = B*T.
    private readonly Tensor _tokens;    // (N) i32
    private readonly Tensor _targets;   // (N) i32
    private readonly Tensor[] _x;       // L+1 residual streams (N, C); _x[0] = embeddings
    private readonly Tensor _xnFinal;   // (N, C) activation dtype
    private readonly Tensor _rstdFinal; // (N)
    private readonly Tensor _losses;    // (N)
    private readonly Tensor _lse;       // (N)
    private readonly int _headRows;     // rows of one LM-head chunk
    private readonly Tensor _headLogits; // (headRows, V) one chunk's logits, overwritten by their gradient in training
    private readonly Tensor? _dHeadUnit; // (V, C) the LM head weight's gradient for dL/dloss_n = 1, only when its gradient is asked for

    // Backward scratch, reused by every layer.
    private readonly Tensor _dres;      // (N, C) gradient of the residual stream
    private readonly Tensor _dxn;       // (N, C); after a training forward, dL/dxnFinal for dL/dloss_n = 1 until Backward scales it
    private readonly Tensor _dtmp;      // (N, C)
    private readonly Tensor _dq, _dk, _dv, _datt; // (N, H*D) / (N, KVH*D), sized for the widest layer
    private readonly Tensor _dg, _du, _dact;      // (N, F), sized for the widest layer

    private ulong _dropSeed;
    private bool _training;
    private bool _hasForward;

    private sealed class LayerActs
    {
        public required Tensor Xn1, Rstd1, Q, K, V, Att, Lse, H, Xn2, Rstd2, G, U, Act;
        public required Tensor?[] Xa; // (N, R) per LlamaLinear, null when not adapted
    }

    /// <param name="baseGrads">Gradients of the base weights (entries named as in LlamaWeights.ArenaLayout): backward
    /// accumulates into the tensors it holds and computes no others; pretraining gives every tensor, the `grad`
    /// criterion only the scored linears. Null for LoRA fine-tuning.</param>
    /// <param name="recompute">Keep only the residual stream between layers and recompute each layer's
    /// activations during backward (one extra layer forward per layer; activation memory independent of L).</param>
    /// <param name="activations">The dtype of the saved activations (f32 or bf16); null takes the backend's default,
    /// <see cref="DefaultActivations"/>.</param>
    public LlamaGraph(LlamaWeights weights, LoraAdapters? lora, OutputMasks? masks, int batch, int seq, TensorArena? baseGrads = null,
                      bool recompute = false, LpDType? activations = null)
    {
        if (batch < 1 || seq < 1) throw new ArgumentException($"batch and sequence must be positive (got {batch} x {seq})");
        _w = weights;
        _lora = lora;
        _masks = masks;
        _baseGrads = baseGrads;
        _ctx = weights.Context;
        var cfg = weights.Config;
        Batch = batch;
        Seq = seq;
        int n = batch * seq;
        _c = cfg.HiddenSize;
        _v = cfg.VocabSize;
        _d = cfg.HeadDim;
        Activations = activations ?? DefaultActivations(_ctx.Backend);
        if (Activations is not (LpDType.F32 or LpDType.BF16))
            throw new ArgumentException($"activations must be f32 or bf16, not {Activations}", nameof(activations));

        _tokens = New(LpDType.I32, n);
        _targets = New(LpDType.I32, n);
        _x = Enumerable.Range(0, cfg.NumHiddenLayers + 1).Select(_ => New(LpDType.F32, n, _c)).ToArray();
        _xnFinal = New(Activations, n, _c);
        _rstdFinal = New(LpDType.F32, n);
        _losses = New(LpDType.F32, n);
        _lse = New(LpDType.F32, n);
        _headRows = HeadChunkRows(n, _v);
        _headLogits = New(LpDType.F32, _headRows, _v);
        _dHeadUnit = BaseGrad(HeadWeightName(cfg)) is not null ? New(LpDType.F32, _v, _c) : null;
        _acts = new LayerActs[cfg.NumHiddenLayers];
        Recompute = recompute;
        // With recompute, every layer's activations are views into one set of buffers (sized for the
        // widest layer) and backward re-runs each layer's forward first: memory O(1) in L, not O(L).
        var shared = new Dictionary<string, Tensor>();
        if (recompute)
        {
            var widest = new Dictionary<string, (long Count, LpDType DType)>();
            for (int l = 0; l < cfg.NumHiddenLayers; l++)
                foreach (var (field, shape, dtype) in LayerShapes(cfg, l, batch, seq, lora, Activations))
                    widest[field] = (Math.Max(widest.GetValueOrDefault(field).Count, shape.Aggregate(1L, (a, b) => a * b)), dtype);
            foreach (var (field, (count, dtype)) in widest) shared[field] = New(dtype, count);
        }
        int maxQ = 1, maxKv = 1, maxF = 1;
        for (int l = 0; l < cfg.NumHiddenLayers; l++)
        {
            maxQ = Math.Max(maxQ, cfg.AttentionHeads(l) * _d);
            maxKv = Math.Max(maxKv, cfg.KeyValueHeads(l) * _d);
            maxF = Math.Max(maxF, cfg.Intermediate(l));
            var t = LayerShapes(cfg, l, batch, seq, lora, Activations).ToDictionary(x => x.Field,
                x => recompute ? View(shared[x.Field], x.Shape) : New(x.DType, x.Shape));
            _acts[l] = new LayerActs
            {
                Xn1 = t["xn1"], Rstd1 = t["rstd1"], Q = t["q"], K = t["k"], V = t["v"], Att = t["att"], Lse = t["lse"],
                H = t["h"], Xn2 = t["xn2"], Rstd2 = t["rstd2"], G = t["g"], U = t["u"], Act = t["act"],
                Xa = Enum.GetValues<LlamaLinear>().Select(lin => t.GetValueOrDefault("xa." + lin)).ToArray(),
            };
        }
        _dres = New(LpDType.F32, n, _c);
        _dxn = New(LpDType.F32, n, _c);
        _dtmp = New(LpDType.F32, n, _c);
        _dq = New(LpDType.F32, n * maxQ);
        _datt = New(LpDType.F32, n * maxQ);
        _dk = New(LpDType.F32, n * maxKv);
        _dv = New(LpDType.F32, n * maxKv);
        _dg = New(LpDType.F32, n * maxF);
        _du = New(LpDType.F32, n * maxF);
        _dact = New(LpDType.F32, n * maxF);
    }

    /// <summary>The activation tensors one layer saves for backward, with their shapes (N = B*T) and dtypes:
    /// <paramref name="activations"/> for the stored activations, f32 for the residual h, rstd, lse and LoRA's xa.</summary>
    public static IEnumerable<(string Field, long[] Shape, LpDType DType)> LayerShapes(LlamaConfig cfg, int layer, int batch, int seq, LoraAdapters? lora,
                                                                                     LpDType activations) =>
        LayerShapes(cfg, layer, batch, seq, lin => lora is not null && lora.IsAdapted(layer, lin), lora?.Options.Rank ?? 0, activations);

    /// <summary>LayerShapes for the projections <paramref name="adapted"/> selects, with LoRA rank <paramref name="rank"/>
    /// (what TrainingMemory estimates without building adapters).</summary>
    public static IEnumerable<(string Field, long[] Shape, LpDType DType)> LayerShapes(LlamaConfig cfg, int layer, int batch, int seq, Func<LlamaLinear, bool> adapted,
                                                                                     int rank, LpDType activations)
    {
        long n = (long)batch * seq, c = cfg.HiddenSize, d = cfg.HeadDim;
        int h = cfg.AttentionHeads(layer), kvh = cfg.KeyValueHeads(layer), f = cfg.Intermediate(layer);
        const LpDType f32 = LpDType.F32;
        yield return ("xn1", new[] { n, c }, activations);
        yield return ("rstd1", new[] { n }, f32);
        yield return ("q", new long[] { batch, seq, h, d }, activations);
        yield return ("k", new long[] { batch, seq, kvh, d }, activations);
        yield return ("v", new long[] { batch, seq, kvh, d }, activations);
        yield return ("att", new long[] { batch, seq, h, d }, activations);
        yield return ("lse", new long[] { batch, h, seq }, f32);
        yield return ("h", new[] { n, c }, f32);
        yield return ("xn2", new[] { n, c }, activations);
        yield return ("rstd2", new[] { n }, f32);
        yield return ("g", new long[] { n, f }, activations);
        yield return ("u", new long[] { n, f }, activations);
        yield return ("act", new long[] { n, f }, activations);
        foreach (LlamaLinear lin in Enum.GetValues<LlamaLinear>())
            if (adapted(lin)) yield return ("xa." + lin, new long[] { n, rank }, f32);
    }

    /// <summary>The activation dtype a backend stores by default: bf16 on the CUDA backends (real and emulated), whose
    /// kernels read and write it natively; f32 on cpu, which computes in f32 and would only widen it again.</summary>
    public static LpDType DefaultActivations(Backend backend) => backend.Kind == BackendKind.Cpu ? LpDType.F32 : LpDType.BF16;

    /// <summary>The dtype of the stored activations (f32 or bf16).</summary>
    public LpDType Activations { get; }

    /// <summary>True when backward recomputes layer activations instead of keeping them all.</summary>
    public bool Recompute { get; }

    public int Batch { get; }
    public int Seq { get; }
    public int Tokens => Batch * Seq;

    /// <summary>Token ids that CrossEntropy ignores (HF's -100).</summary>
    public const int IgnoreIndex = -100;

    /// <summary>
    /// Logits of one LM-head chunk, at most (64 MiB of f32): half the (N, V) logits of a 1024-token batch at a 32000
    /// vocabulary. Each chunk's GEMMs pack the whole (V, C) head again, and ragged rows take OpenBLAS's edge kernels;
    /// measured on this project's 2-core CPU, 512-row chunks run the head's GEMMs as fast as 1024 rows, 256 about 5%
    /// slower and 131 about 20% slower. So the rows are a multiple of 64 where the vocabulary allows it.
    /// </summary>
    public const long HeadChunkElements = 1L << 24;

    /// <summary>Rows of one LM-head chunk for <paramref name="tokens"/> rows and vocabulary <paramref name="vocab"/>.</summary>
    public static int HeadChunkRows(long tokens, long vocab)
    {
        long rows = HeadChunkElements / vocab;
        if (rows >= 64) rows -= rows % 64;
        return (int)Math.Clamp(rows, 1, tokens);
    }

    /// <summary>The base tensor the LM head reads: lm_head.weight, or the embedding when tied.</summary>
    public static string HeadWeightName(LlamaConfig config) => config.TieWordEmbeddings ? LlamaTensorLayout.EmbedTokens : "lm_head.weight";

    private Tensor New(LpDType dtype, params long[] shape)
    {
        var t = _ctx.NewTensor(dtype, shape);
        _owned.Add(t);
        return t;
    }

    private static Tensor View(Tensor t, params long[] shape) => new(t.Buffer, t.OffsetBytes, t.DType, shape);

    /// <summary>Result of a forward pass with targets: the summed token NLL and the counted tokens.</summary>
    public readonly record struct LossSum(double Sum, int Count)
    {
        public double Mean => Count > 0 ? Sum / Count : double.NaN;
    }

    /// <summary>Forward over tokens (B*T) with targets (B*T, IgnoreIndex to skip). training=true
    /// applies LoRA dropout drawn from dropoutSeed and keeps activations for Backward; it also takes the loss's
    /// gradient through the LM head already, chunk by chunk, for dL/dloss_n = 1 (Backward scales it).</summary>
    public LossSum Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets, bool training = false, ulong dropoutSeed = 0)
    {
        CheckLength(tokens, nameof(tokens));
        CheckLength(targets, nameof(targets));
        _targets.Upload(targets);
        ForwardTrunk(tokens, training, dropoutSeed);
        if (training) HeadForwardBackward();
        else
            foreach ((int r0, int rows) in HeadChunks())
            {
                Tensor logits = HeadLogits(r0, rows);
                _ctx.CrossEntropyForward(logits, Rows(_targets, r0, rows), IgnoreIndex, Rows(_losses, r0, rows), Rows(_lse, r0, rows));
            }
        var losses = _losses.ToFloatArray();
        double sum = 0;
        int count = 0;
        for (int i = 0; i < losses.Length; i++)
        {
            if (targets[i] == IgnoreIndex) continue;
            sum += losses[i];
            count++;
        }
        return new LossSum(sum, count);
    }

    /// <summary>Forward without a loss; returns the logits (B*T, V) as floats (for generation and tests).</summary>
    public float[] Logits(ReadOnlySpan<int> tokens)
    {
        CheckLength(tokens, nameof(tokens));
        ForwardTrunk(tokens, training: false, 0);
        _hasForward = false;
        var result = new float[(long)Tokens * _v];
        foreach ((int r0, int rows) in HeadChunks())
        {
            Tensor logits = HeadLogits(r0, rows);
            logits.Buffer.Download(result.AsSpan((int)((long)r0 * _v), (int)((long)rows * _v)), logits.OffsetBytes);
        }
        return result;
    }

    // The row ranges of the LM-head chunks.
    private IEnumerable<(int Start, int Rows)> HeadChunks()
    {
        for (int r0 = 0; r0 < Tokens; r0 += _headRows) yield return (r0, Math.Min(_headRows, Tokens - r0));
    }

    // The logits of rows [r0, r0 + rows) in the chunk buffer: xnFinal W_head^T.
    private Tensor HeadLogits(int r0, int rows)
    {
        var logits = View(_headLogits, rows, _v);
        _ctx.LoraLinearForward(Rows(_xnFinal, r0, rows), _w.LmHead, null, null, null, 0f, 0f, 0, 0, logits, null);
        return logits;
    }

    // Loss, lse and the head's backward of every chunk for dL/dloss_n = 1: the logits' gradient overwrites them in the
    // chunk buffer and goes through the head into _dxn (and the head weight's gradient into _dHeadUnit).
    private void HeadForwardBackward()
    {
        _dHeadUnit?.Buffer.Fill(0, _dHeadUnit.OffsetBytes, _dHeadUnit.ByteCount);
        foreach ((int r0, int rows) in HeadChunks())
        {
            Tensor logits = HeadLogits(r0, rows);
            _ctx.CrossEntropyForwardBackward(logits, Rows(_targets, r0, rows), IgnoreIndex, 1f, Rows(_losses, r0, rows), Rows(_lse, r0, rows), logits);
            _ctx.LoraLinearBackward(logits, Rows(_xnFinal, r0, rows), _w.LmHead, null, null, null, null, 0f, 0f, 0, 0, Rows(_dxn, r0, rows),
                                    null, null, _dHeadUnit);
        }
    }

    // Rows [r0, r0 + rows) of a tensor whose outer dimension is N, as a view of the same shape otherwise.
    private static Tensor Rows(Tensor t, int r0, int rows)
    {
        long[] shape = t.Shape;
        long width = t.ElementCount / shape[0];
        shape[0] = rows;
        return new Tensor(t.Buffer, t.OffsetBytes + (ulong)(r0 * width * t.DType.Size()), t.DType, shape);
    }

    private void CheckLength(ReadOnlySpan<int> ids, string name)
    {
        if (ids.Length != Tokens) throw new ArgumentException($"{name} has {ids.Length} ids, this graph takes {Batch} x {Seq} = {Tokens}", name);
    }

    // Embedding, every layer and the final norm: everything before the LM head.
    private void ForwardTrunk(ReadOnlySpan<int> tokens, bool training, ulong dropoutSeed)
    {
        var cfg = _w.Config;
        _training = training;
        _dropSeed = dropoutSeed;
        _tokens.Upload(tokens);
        _ctx.EmbeddingForward(_w.Embedding, _tokens, _x[0]);
        float eps = (float)cfg.RmsNormEps;
        for (int l = 0; l < cfg.NumHiddenLayers; l++) ForwardLayer(l);
        _ctx.RmsNormForward(_x[^1], _w.FinalNorm, eps, _xnFinal, _rstdFinal);
        _hasForward = training;
    }

    private void ForwardLayer(int l)
    {
        var cfg = _w.Config;
        float eps = (float)cfg.RmsNormEps;
        var a = _acts[l];
        var lw = _w.Layers[l];
        int h = cfg.AttentionHeads(l), kvh = cfg.KeyValueHeads(l);
        _ctx.RmsNormForward(_x[l], lw.InputNorm, eps, a.Xn1, a.Rstd1);
        Linear(l, LlamaLinear.QProj, a.Xn1, View(a.Q, Tokens, h * _d));
        Linear(l, LlamaLinear.KProj, a.Xn1, View(a.K, Tokens, kvh * _d));
        Linear(l, LlamaLinear.VProj, a.Xn1, View(a.V, Tokens, kvh * _d));
        _ctx.RopeForward(a.Q, a.Q, _w.InverseFrequencies, (float)cfg.RopeTheta, 0);
        _ctx.RopeForward(a.K, a.K, _w.InverseFrequencies, (float)cfg.RopeTheta, 0);
        _ctx.AttentionForward(a.Q, a.K, a.V, AttentionScale, a.Att, a.Lse);
        Linear(l, LlamaLinear.OProj, View(a.Att, Tokens, h * _d), a.H);
        _ctx.Add(a.H, _x[l], a.H);
        _ctx.RmsNormForward(a.H, lw.PostAttentionNorm, eps, a.Xn2, a.Rstd2);
        Linear(l, LlamaLinear.GateProj, a.Xn2, a.G);
        Linear(l, LlamaLinear.UpProj, a.Xn2, a.U);
        _ctx.SwiGluForward(a.G, a.U, a.Act);
        Linear(l, LlamaLinear.DownProj, a.Act, _x[l + 1]);
        _ctx.Add(_x[l + 1], a.H, _x[l + 1]);
    }

    private float AttentionScale => (float)(1.0 / Math.Sqrt(_d));

    private float DropoutP => _training && _lora is not null ? (float)_lora.Options.Dropout : 0f;

    private ulong DropSeed(int layer, LlamaLinear linear) => DropoutSeed(_dropSeed, layer, linear);

    /// <summary>The LoRA dropout seed of one projection: a distinct stream per (step seed, layer,
    /// projection), each drawn from offset 0 (splitmix64 of the combination).</summary>
    public static ulong DropoutSeed(ulong stepSeed, int layer, LlamaLinear linear)
    {
        ulong z = stepSeed ^ (0x9E3779B97F4A7C15UL * (ulong)(layer * 8 + (int)linear + 1));
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private void Linear(int layer, LlamaLinear lin, Tensor x, Tensor y)
    {
        var xa = _acts[layer].Xa[(int)lin];
        var mask = _masks?[layer, lin];
        _ctx.LoraLinearForward(x, _w.Layers[layer][lin], _lora?.A(layer, lin), _lora?.B(layer, lin), mask,
            _lora?.Scale ?? 0f, DropoutP, DropSeed(layer, lin), 0, y, xa);
        // y = (x W^T + LoRA + bias) (.) mask: the bias is masked too, so pruned outputs stay exactly zero.
        if (_w.Layers[layer].Bias(lin) is { } bias) _ctx.BiasAdd(y, bias, mask);
    }

    private void LinearBackward(int layer, LlamaLinear lin, Tensor dy, Tensor x, Tensor dx)
    {
        // The bias leaves dx unchanged; only its own gradient (pretraining) needs dy.
        if (_w.Layers[layer].Bias(lin) is not null && BaseGrad(LlamaTensorLayout.Bias(lin, layer)) is { } dbias)
            _ctx.BiasBackward(dy, _masks?[layer, lin], dbias);
        _ctx.LoraLinearBackward(dy, x, _w.Layers[layer][lin], _lora?.A(layer, lin), _lora?.B(layer, lin), _masks?[layer, lin],
            _acts[layer].Xa[(int)lin], _lora?.Scale ?? 0f, DropoutP, DropSeed(layer, lin), 0, dx,
            _lora?.GradA(layer, lin), _lora?.GradB(layer, lin), BaseGrad(LlamaTensorLayout.Weight(lin, layer)));
    }

    // The gradient tensor of a base weight, or null when no base-gradient arena is given or it does not hold that
    // tensor (the grad criterion allocates the scored linears only: what it really needs).
    private Tensor? BaseGrad(string name) => _baseGrads is not null && _baseGrads.Contains(name) ? _baseGrads[name] : null;

    /// <summary>Backward of the last training Forward with dL/dloss_n = dloss for every counted token
    /// (1/total tokens of the optimizer step for a mean): LoRA gradients accumulate (+=).</summary>
    public void Backward(float dloss)
    {
        if (!_hasForward) throw new InvalidOperationException("Backward needs a Forward with training=true first");
        var cfg = _w.Config;
        float eps = (float)cfg.RmsNormEps;
        // The forward took the loss through the head for dL/dloss_n = 1; the step's dloss scales both results.
        _dtmp.Buffer.Fill(0, _dtmp.OffsetBytes, _dtmp.ByteCount);
        _ctx.Axpy(dloss, _dxn, _dtmp);
        if (_dHeadUnit is not null) _ctx.Axpy(dloss, _dHeadUnit, BaseGrad(HeadWeightName(cfg))!);
        _ctx.RmsNormBackward(_dtmp, _x[^1], _w.FinalNorm, _rstdFinal, _dres, BaseGrad("model.norm.weight"));
        for (int l = cfg.NumHiddenLayers - 1; l >= 0; l--)
        {
            if (Recompute) ForwardLayer(l);
            var a = _acts[l];
            var lw = _w.Layers[l];
            int h = cfg.AttentionHeads(l), kvh = cfg.KeyValueHeads(l), f = cfg.Intermediate(l);
            var dact = View(_dact, Tokens, f);
            var dg = View(_dg, Tokens, f);
            var du = View(_du, Tokens, f);
            // MLP: x' = h + down(silu(g) * u)
            LinearBackward(l, LlamaLinear.DownProj, _dres, a.Act, dact);
            _ctx.SwiGluBackward(dact, a.G, a.U, dg, du);
            LinearBackward(l, LlamaLinear.GateProj, dg, a.Xn2, _dxn);
            LinearBackward(l, LlamaLinear.UpProj, du, a.Xn2, _dtmp);
            _ctx.Axpy(1f, _dtmp, _dxn);
            _ctx.RmsNormBackward(_dxn, a.H, lw.PostAttentionNorm, a.Rstd2, _dtmp, BaseGrad(LlamaTensorLayout.PostAttentionNorm(l)));
            _ctx.Axpy(1f, _dtmp, _dres); // dres = dL/dh
            // Attention: h = x + o(attn(rope(q), rope(k), v))
            var datt = View(_datt, Batch, Seq, h, _d);
            var dq = View(_dq, Batch, Seq, h, _d);
            var dk = View(_dk, Batch, Seq, kvh, _d);
            var dv = View(_dv, Batch, Seq, kvh, _d);
            LinearBackward(l, LlamaLinear.OProj, _dres, View(a.Att, Tokens, h * _d), View(datt, Tokens, h * _d));
            _ctx.AttentionBackward(a.Q, a.K, a.V, a.Att, a.Lse, datt, AttentionScale, dq, dk, dv);
            _ctx.RopeBackward(dq, dq, _w.InverseFrequencies, (float)cfg.RopeTheta, 0);
            _ctx.RopeBackward(dk, dk, _w.InverseFrequencies, (float)cfg.RopeTheta, 0);
            LinearBackward(l, LlamaLinear.QProj, View(dq, Tokens, h * _d), a.Xn1, _dxn);
            LinearBackward(l, LlamaLinear.KProj, View(dk, Tokens, kvh * _d), a.Xn1, _dtmp);
            _ctx.Axpy(1f, _dtmp, _dxn);
            LinearBackward(l, LlamaLinear.VProj, View(dv, Tokens, kvh * _d), a.Xn1, _dtmp);
            _ctx.Axpy(1f, _dtmp, _dxn);
            _ctx.RmsNormBackward(_dxn, _x[l], lw.InputNorm, a.Rstd1, _dtmp, BaseGrad(LlamaTensorLayout.InputNorm(l)));
            _ctx.Axpy(1f, _dtmp, _dres); // dres = dL/dx_l
        }
        if (BaseGrad("model.embed_tokens.weight") is { } dEmbedding) _ctx.EmbeddingBackward(_dres, _tokens, dEmbedding);
        _hasForward = false;
    }

    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
    }
}
