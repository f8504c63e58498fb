// TrainingMemory.cs — how many bytes one LoRAPrune training step (LlamaGraph forward + backward + AdamW
// over the LoRA arena) holds on a backend, counted from the same allocations the engine makes:
// LlamaWeights, LoraAdapters (+ two Adam moment arenas), OutputMasks, every LlamaGraph buffer, and the
// context's scratch workspace replayed request by request from the backend's kernels. The optimizer
// part mirrors Trainer.RunStep: a (1) norm accumulator, GradNormAccumulate, GradClip, AdamWStep.
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Inference;

/// <summary>Whose kernels' scratch requests are replayed: the cpu backend, or cuda (and the CUDA emulator, which runs the same kernels).</summary>
public enum ScratchModel
{
    Cpu,
    Cuda,
}

/// <summary>The training step being estimated.</summary>
public sealed record TrainingMemoryOptions
{
    public required int Batch { get; init; }
    public required int Seq { get; init; }
    public int LoraRank { get; init; } = 8;

    /// <summary>LoRA dropout; above 0 the cpu kernels stage drop(x) in scratch.</summary>
    public double LoraDropout { get; init; } = 0.05;

    public IReadOnlyList<LlamaLinear> Targets { get; init; } = LlamaLinears.All;

    /// <summary>Output masks on q/k/v/gate/up, as in a pruning run (a plain fine-tune passes none).</summary>
    public bool Masks { get; init; } = true;

    /// <summary>The graph's activation dtype (LlamaGraph's activations argument); null for the backend's default: bf16 on
    /// cuda, f32 on cpu. The cpu backend's bf16 activations (widened to f32 temporaries per op) are not modelled.</summary>
    public LpDType? Activations { get; init; }

    /// <summary>OpenMP threads of the cpu backend (its per-thread attention scratch); unused for cuda.</summary>
    public int CpuThreads { get; init; } = Environment.ProcessorCount;

    public void Validate()
    {
        if (Batch < 1 || Seq < 1) throw new ArgumentException($"batch and sequence must be positive (got {Batch} x {Seq})");
        if (LoraRank < 1) throw new ArgumentException($"LoRA rank must be at least 1, got {LoraRank}");
        if (CpuThreads < 1) throw new ArgumentException($"cpu threads must be at least 1, got {CpuThreads}");
    }
}

/// <summary>
/// Bytes of one training step, by kind. Every figure except <see cref="Scratch"/> is the exact sum of the
/// lp_buffer sizes the engine allocates (what lp_memory_stats.current_bytes counts); Scratch is the
/// workspace the context ends up holding after the step's requests, replayed with the growth rule of
/// lp::scratch (grow to max(request, 1.5 x current)). Peak = Total: buffers are allocated before the step
/// and the workspace only grows. Not counted: BLAS/cuBLAS internal workspaces and allocator rounding
/// (cudaMalloc granularity, the cpu backend's 256-byte alignment), which live outside the context's books.
/// </summary>
public sealed record TrainingMemory
{
    public required ScratchModel Backend { get; init; }
    public required LpDType WeightDType { get; init; }

    /// <summary>The dtype of the stored activations (LlamaGraph.Activations).</summary>
    public required LpDType Activations { get; init; }

    /// <summary>LlamaWeights: embedding, projections and lm_head in WeightDType, norms, projection biases and RoPE inverse frequencies in f32.</summary>
    public required long BaseWeights { get; init; }

    /// <summary>LoRA A/B arena plus its gradient arena (f32, 64-element aligned entries).</summary>
    public required long LoraParamsAndGrads { get; init; }

    /// <summary>AdamW m and v (two more arenas of the LoRA layout) and the (1) f32 gradient-norm accumulator.</summary>
    public required long Optimizer { get; init; }

    /// <summary>OutputMasks arena (0 without masks).</summary>
    public required long Masks { get; init; }

    /// <summary>LlamaGraph forward state kept for backward, logits excluded.</summary>
    public required long SavedActivations { get; init; }

    /// <summary>LlamaGraph's logits of one LM-head chunk (LlamaGraph.HeadChunkRows, V) f32, overwritten in place by their gradient.</summary>
    public required long Logits { get; init; }

    /// <summary>LlamaGraph backward buffers reused by every layer.</summary>
    public required long BackwardBuffers { get; init; }

    /// <summary>The context's scratch workspace after the step.</summary>
    public required long Scratch { get; init; }

    /// <summary>The largest single scratch request of the step (the workspace is between this and 1.5x it).</summary>
    public required long LargestScratchRequest { get; init; }

    /// <summary>What the "grad" importance criterion would add: the f32 base-gradient arena LlamaGraph
    /// fills (every base tensor, LlamaWeights.ArenaLayout) plus the extra scratch its backward asks for.
    /// This is the memory LoRAPrune's LoRA-gradient criterion saves.</summary>
    public required long GradCriterionExtra { get; init; }

    /// <summary>The part of GradCriterionExtra that is the gradient arena itself.</summary>
    public required long BaseGradientArena { get; init; }

    /// <summary>The part of GradCriterionExtra that is buffers: the arena, and LlamaGraph's (V, C) f32 gradient of the LM
    /// head for unit dloss, which it allocates whenever the arena holds the head's weight.</summary>
    public required long GradCriterionBuffers { get; init; }

    public long Total => BaseWeights + LoraParamsAndGrads + Optimizer + Masks + SavedActivations + Logits + BackwardBuffers + Scratch;

    /// <summary>All the context's buffers (what current_bytes reads during the step).</summary>
    public long Buffers => Total - Scratch;

    public static TrainingMemory Estimate(LlamaConfig config, TrainingMemoryOptions options, ScratchModel backend, LpDType weightDType)
    {
        options.Validate();
        if (weightDType is not (LpDType.F32 or LpDType.BF16)) throw new ArgumentException($"base weights are f32 or bf16, not {weightDType}", nameof(weightDType));
        LpDType activations = options.Activations ?? (backend == ScratchModel.Cuda ? LpDType.BF16 : LpDType.F32);
        if (activations is not (LpDType.F32 or LpDType.BF16)) throw new ArgumentException($"activations are f32 or bf16, not {activations}", nameof(options));
        if (backend == ScratchModel.Cpu && activations == LpDType.BF16)
            throw new ArgumentException("the cpu backend computes in f32: its bf16 activations are widened to temporaries per op, which this estimate does not model");
        options = options with { Activations = activations };
        var graph = GraphBytes(config, options, activations);
        long loraArena = ArenaBytes(LoraEntries(config, options));
        long loraElements = loraArena / sizeof(float);
        long scratch = ScratchReplay(config, options, backend, weightDType, loraElements, baseGrads: false, out long largest);
        long scratchWithBaseGrads = ScratchReplay(config, options, backend, weightDType, loraElements, baseGrads: true, out _);
        long baseGradArena = ArenaBytes(LlamaWeights.ArenaLayout(config).Select(e => e.Shape.Aggregate(1L, (a, b) => a * b)));
        long headGradient = (long)config.VocabSize * config.HiddenSize * sizeof(float);
        return new TrainingMemory
        {
            Backend = backend,
            WeightDType = weightDType,
            Activations = activations,
            BaseWeights = BaseWeightBytes(config, weightDType),
            LoraParamsAndGrads = 2 * loraArena,
            Optimizer = 2 * loraArena + sizeof(float),
            Masks = options.Masks ? ArenaBytes(MaskEntries(config)) : 0,
            SavedActivations = graph.Saved,
            Logits = graph.Logits,
            BackwardBuffers = graph.Backward,
            Scratch = scratch,
            LargestScratchRequest = largest,
            GradCriterionExtra = baseGradArena + headGradient + scratchWithBaseGrads - scratch,
            BaseGradientArena = baseGradArena,
            GradCriterionBuffers = baseGradArena + headGradient,
        };
    }

    // ---- buffers: one term per allocation of the engine ------------------------------------------

    /// <summary>LlamaWeights: every tensor its own buffer (weights not trainable).</summary>
    public static long BaseWeightBytes(LlamaConfig config, LpDType weightDType)
    {
        long w = weightDType == LpDType.BF16 ? 2 : 4;
        var p = ParameterCounts.Of(config);
        long inverseFrequencies = config.HeadDim / 2 * 4L;                 // (D/2) f32
        return inverseFrequencies + (p.Embedding + p.LmHead + p.Linear) * w + (p.Norms + p.Biases) * 4;
    }

    // TensorArena: each entry padded to 64 elements, at least one element, f32.
    private static long ArenaBytes(IEnumerable<long> entryCounts)
    {
        long elements = entryCounts.Sum(c => (c + 63) / 64 * 64);
        return Math.Max(elements, 1) * sizeof(float);
    }

    // LoraAdapters: per layer, per target in enum order, A (R, IN) then B (OUT, R).
    private static IEnumerable<long> LoraEntries(LlamaConfig config, TrainingMemoryOptions options)
    {
        var targets = options.Targets.Distinct().Order().ToArray();
        for (int l = 0; l < config.NumHiddenLayers; l++)
            foreach (var lin in targets)
            {
                var (o, i) = lin.Shape(config, l);
                yield return (long)options.LoraRank * i;
                yield return (long)o * options.LoraRank;
            }
    }

    // OutputMasks: per layer q, k, v, gate, up output masks.
    private static IEnumerable<long> MaskEntries(LlamaConfig config)
    {
        foreach (int l in Enumerable.Range(0, config.NumHiddenLayers))
            foreach (var lin in new[] { LlamaLinear.QProj, LlamaLinear.KProj, LlamaLinear.VProj, LlamaLinear.GateProj, LlamaLinear.UpProj })
                yield return lin.Shape(config, l).Out;
    }

    /// <summary>The bytes of every LlamaGraph buffer (its constructor, term by term; each layer's saved tensors from
    /// LlamaGraph.LayerShapes), in three groups, for stored activations of dtype <paramref name="activations"/>.</summary>
    public static (long Saved, long Logits, long Backward) GraphBytes(LlamaConfig config, TrainingMemoryOptions options, LpDType activations = LpDType.F32)
    {
        long n = (long)options.Batch * options.Seq, c = config.HiddenSize, d = config.HeadDim;
        int layers = config.NumHiddenLayers;
        long act = activations == LpDType.BF16 ? 2 : 4; // bytes of a stored activation
        // tokens, targets (N) i32; x[0..L] (N, C); rstdFinal, losses, lse (N); xnFinal (N, C) activation dtype
        long saved = 4 * (2 * n + (layers + 1) * n * c + 3 * n) + act * n * c;
        long maxQ = 1, maxKv = 1, maxF = 1;
        for (int l = 0; l < layers; l++)
        {
            long h = config.AttentionHeads(l), kvh = config.KeyValueHeads(l), f = config.Intermediate(l);
            maxQ = Math.Max(maxQ, h * d);
            maxKv = Math.Max(maxKv, kvh * d);
            maxF = Math.Max(maxF, f);
            foreach (var (_, shape, dtype) in LlamaGraph.LayerShapes(config, l, options.Batch, options.Seq, options.Targets.Contains, options.LoraRank, activations))
                saved += shape.Aggregate(1L, (a, b) => a * b) * (dtype == LpDType.BF16 ? 2 : 4);
        }
        long logits = LlamaGraph.HeadChunkRows(n, config.VocabSize) * config.VocabSize; // (rows, V) one LM-head chunk
        // dres, dxn, dtmp (N, C); dq, datt (N, maxQ); dk, dv (N, maxKv); dg, du, dact (N, maxF)
        long backward = 3 * n * c + 2 * n * maxQ + 2 * n * maxKv + 3 * n * maxF;
        return (saved, logits * 4, backward * 4);
    }

    // ---- scratch: the requests of one step, in LlamaGraph's order --------------------------------

    private static long ScratchReplay(LlamaConfig config, TrainingMemoryOptions options, ScratchModel backend, LpDType weightDType, long loraElements,
                                      bool baseGrads, out long largest)
    {
        var requests = backend == ScratchModel.Cpu
            ? new CpuScratch(config, options, weightDType).Step(loraElements, baseGrads)
            : new CudaScratch(config, options, weightDType).Step(loraElements, baseGrads);
        long workspace = 0;
        largest = 0;
        foreach (long bytes in requests)
        {
            largest = Math.Max(largest, bytes);
            if (bytes > workspace) workspace = Math.Max(bytes, workspace + workspace / 2);
        }
        return workspace;
    }

    /// <summary>lp::ScratchPlan::bytes(): each part rounded up to 256 bytes; 256 when empty.</summary>
    private static long Plan(params long[] parts)
    {
        long total = parts.Sum(p => (p + 255) & ~255L);
        return total == 0 ? 256 : total;
    }

    /// <summary>The op sequence of LlamaGraph.Forward(training) + Backward (with or without a base-gradient
    /// arena) and Trainer.RunStep's optimizer, calling the backend's request formula for each op that asks
    /// for scratch (rope, attention, LoRA linear, RMSNorm weight and bias gradients, gradient norm).</summary>
    private abstract class StepScratch(LlamaConfig config, TrainingMemoryOptions options, LpDType weightDType)
    {
        protected readonly long N = (long)options.Batch * options.Seq, T = options.Seq, B = options.Batch, R = options.LoraRank, C = config.HiddenSize;
        protected readonly bool Bf16 = weightDType == LpDType.BF16;
        protected readonly bool Act16 = options.Activations == LpDType.BF16;
        protected readonly bool Dropout = options.LoraDropout > 0;

        // A linear over `rows` rows (N, or an LM-head chunk's).
        // yAct: the output is a stored activation (q, k, v, gate, up), in the activation dtype; o/down/head write f32.
        protected abstract long? LinearForward(long rows, long inF, long outF, bool lora, bool yAct);
        protected abstract long? LinearBackward(long rows, long inF, long outF, bool lora, bool mask, bool dw);
        protected abstract long? NormWeightBackward();
        protected abstract long? BiasBackward(long outF);
        protected abstract long? AttentionForward(long h);
        protected abstract long? AttentionBackward(long h);
        protected abstract long? GradNorm(long elements);

        private long Rope => T * (config.HeadDim / 2) * 2 * 4; // (T, D/2, 2) f32 table, same on every backend

        private bool Adapted(LlamaLinear lin) => options.Targets.Contains(lin);

        private static bool Masked(LlamaLinear lin) => lin is not (LlamaLinear.OProj or LlamaLinear.DownProj);

        private long? Fwd(int l, LlamaLinear lin)
        {
            var (o, i) = lin.Shape(config, l);
            return LinearForward(N, i, o, Adapted(lin), yAct: lin is not (LlamaLinear.OProj or LlamaLinear.DownProj));
        }

        // LlamaGraph's LinearBackward: the bias gradient (only with a base-gradient arena) before the linear's.
        private IEnumerable<long?> Bwd(int l, LlamaLinear lin, bool dw)
        {
            var (o, i) = lin.Shape(config, l);
            if (dw && lin.HasBias(config)) yield return BiasBackward(o);
            yield return LinearBackward(N, i, o, Adapted(lin), options.Masks && Masked(lin), dw);
        }

        /// <summary>The step's requests; <paramref name="loraElements"/> is the LoRA arena's Count.</summary>
        public IEnumerable<long> Step(long loraElements, bool baseGrads) =>
            Ops(loraElements, baseGrads).Where(b => b.HasValue).Select(b => b!.Value);

        private IEnumerable<long?> Ops(long loraElements, bool dw)
        {
            long c = config.HiddenSize, v = config.VocabSize;
            for (int l = 0; l < config.NumHiddenLayers; l++)
            {
                yield return Fwd(l, LlamaLinear.QProj);
                yield return Fwd(l, LlamaLinear.KProj);
                yield return Fwd(l, LlamaLinear.VProj);
                yield return Rope;
                yield return Rope;
                yield return AttentionForward(config.AttentionHeads(l));
                yield return Fwd(l, LlamaLinear.OProj);
                yield return Fwd(l, LlamaLinear.GateProj);
                yield return Fwd(l, LlamaLinear.UpProj);
                yield return Fwd(l, LlamaLinear.DownProj);
            }
            // lm_head, chunk by chunk: the first chunk is the largest, so the later ones ask for no more.
            long rows = LlamaGraph.HeadChunkRows(N, v);
            yield return LinearForward(rows, c, v, lora: false, yAct: false);
            yield return LinearBackward(rows, c, v, lora: false, mask: false, dw);
            if (dw) yield return NormWeightBackward();                       // final norm
            for (int l = config.NumHiddenLayers - 1; l >= 0; l--)
            {
                foreach (var b in Bwd(l, LlamaLinear.DownProj, dw)) yield return b;
                foreach (var b in Bwd(l, LlamaLinear.GateProj, dw)) yield return b;
                foreach (var b in Bwd(l, LlamaLinear.UpProj, dw)) yield return b;
                if (dw) yield return NormWeightBackward(); // post-attention norm
                foreach (var b in Bwd(l, LlamaLinear.OProj, dw)) yield return b;
                yield return AttentionBackward(config.AttentionHeads(l));
                yield return Rope;
                yield return Rope;
                foreach (var b in Bwd(l, LlamaLinear.QProj, dw)) yield return b;
                foreach (var b in Bwd(l, LlamaLinear.KProj, dw)) yield return b;
                foreach (var b in Bwd(l, LlamaLinear.VProj, dw)) yield return b;
                if (dw) yield return NormWeightBackward(); // input norm
            }
            yield return GradNorm(loraElements); // GradClip and AdamWStep take no scratch
        }
    }

    /// <summary>cpu_linear.cpp / cpu_attention.cpp: 16 MiB row tiles for bf16 W, drop(x) and masked dy;
    /// a (block, T) score tile per OpenMP thread (two in backward).</summary>
    private sealed class CpuScratch(LlamaConfig config, TrainingMemoryOptions options, LpDType weightDType)
        : StepScratch(config, options, weightDType)
    {
        private const long TileElems = 1L << 22;
        private const long QueryBlock = 64;
        private readonly long _threads = options.CpuThreads;

        private static long TileRows(long width, long total) => Math.Clamp(TileElems / width, 1, total);

        protected override long? LinearForward(long rows, long inF, long outF, bool lora, bool yAct)
        {
            bool stagedX = lora && Dropout;
            return Plan(Bf16 ? TileRows(inF, outF) * inF * 4 : 0, stagedX ? TileRows(inF, rows) * inF * 4 : 0);
        }

        // dW reuses the staged dy tiles: no extra scratch.
        protected override long? LinearBackward(long rows, long inF, long outF, bool lora, bool mask, bool dw)
        {
            bool stagedW = Bf16; // LlamaGraph always asks for dx
            long otile = mask || stagedW ? TileRows(Math.Max(rows, inF), outF) : outF;
            bool stagedX = lora && Dropout;
            long xrows = TileRows(inF, rows);
            return Plan(mask ? rows * otile * 4 : 0, stagedW ? otile * inF * 4 : 0, lora ? rows * R * 4 : 0,
                        stagedX ? xrows * inF * 4 : 0, stagedX ? xrows * inF * 4 : 0);
        }

        protected override long? NormWeightBackward() => null;

        protected override long? BiasBackward(long outF) => null;

        private long Scores => _threads * Math.Min(QueryBlock, T) * T * 4;

        protected override long? AttentionForward(long h) => Scores;

        protected override long? AttentionBackward(long h) => Plan(Scores, Scores);

        protected override long? GradNorm(long elements) => (elements + 65535) / 65536 * 8; // one double per 64 Ki chunk
    }

    /// <summary>cuda lora_linear.cu / attention.cu: x in W's dtype for the GEMM and the f32 GEMM result of a bf16 y, the
    /// materialised masked dy, x widened for dW, g B and the row-split partial sums of dA and dB; one float per attention row.</summary>
    private sealed class CudaScratch(LlamaConfig config, TrainingMemoryOptions options, LpDType weightDType)
        : StepScratch(config, options, weightDType)
    {
        private const long GradCols = 128, RankTile = 64, GradRows = 32, GradTargetBlocks = 256;

        private static long Ceil(long a, long b) => (a + b - 1) / b;

        // splits_for: row splits of a dA/dB reduction over n rows for K columns.
        private static long Splits(long n, long k, long r)
        {
            long tiles = Ceil(k, GradCols) * Ceil(r, RankTile);
            long want = Math.Clamp(Math.Min(Ceil(GradTargetBlocks, tiles), Ceil(n, GradRows)), 1, 65535);
            long rows = Ceil(Ceil(n, want), GradRows) * GradRows;
            return Ceil(n, rows);
        }

        // x (always a stored activation) in W's dtype when they differ; the f32 GEMM result when y is bf16.
        protected override long? LinearForward(long rows, long inF, long outF, bool lora, bool yAct)
        {
            bool convertX = Bf16 != Act16, y16 = Act16 && yAct;
            return convertX || y16 ? Plan(convertX ? rows * inF * (Bf16 ? 2 : 4) : 0, y16 ? rows * outF * 4 : 0) : null;
        }

        protected override long? LinearBackward(long rows, long inF, long outF, bool lora, bool mask, bool dw)
        {
            bool g32 = mask && (dw || !Bf16), g16 = Bf16, x32 = dw && Act16; // LlamaGraph always asks for dx
            return Plan(g32 ? rows * outF * 4 : 0, g16 ? rows * outF * 2 : 0, x32 ? rows * inF * 4 : 0, lora ? rows * R * 4 : 0,
                        lora ? Splits(rows, inF, R) * R * inF * 4 : 0, lora ? Splits(rows, outF, R) * R * outF * 4 : 0);
        }

        protected override long? AttentionForward(long h) => null;

        // rmsnorm.cu: (chunks, C) partial sums, a chunk per 64 rows, at most 256 chunks.
        protected override long? NormWeightBackward() => Math.Min(Ceil(N, 64), 256) * C * 4;

        // bias.cu: (chunks, OUT) partial sums, the same chunking as rmsnorm.cu.
        protected override long? BiasBackward(long outF) => Math.Min(Ceil(N, 64), 256) * outF * 4;

        protected override long? AttentionBackward(long h) => B * h * T * 4;

        protected override long? GradNorm(long elements) => Math.Min(Ceil(elements, 256), 512) * 8; // one double per block
    }
}
