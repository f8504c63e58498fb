// Trainer.cs — the optimizer loop of docs/method.md §3.2 over any list of parameter/gradient arenas (LoRA,
// or base weights for pretraining): zero grads; forward/backward per micro-batch with dloss = 1 / (counted
// targets of the whole step); true global norm; clip; AfterClip hook; AdamW at the scheduled rate.
using System.Diagnostics;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;

namespace LoRAPrune.Core.Training;

public sealed class Trainer : IDisposable
{
    private readonly LlamaGraph _graph;
    private readonly ISampleSource _data;
    private readonly List<TrainableArena> _arenas;
    private readonly List<(TensorArena M, TensorArena V)> _moments;
    private readonly List<AdamWSpan> _updates; // the AdamW sweeps of one step, covering every arena once
    private readonly Context _ctx;
    private readonly Tensor _sumsq;    // (1) global sum of squared gradients
    private readonly int[] _tokens;    // (B*T) one packed micro-batch
    private readonly int[] _targets;   // (B*T)

    public Trainer(LlamaGraph graph, IReadOnlyList<TrainableArena> arenas, ISampleSource data, DataCursor cursor, TrainerOptions options)
    {
        options.Validate();
        if (arenas.Count == 0) throw new ArgumentException("the trainer needs at least one parameter arena", nameof(arenas));
        if (graph.Batch != options.MicroBatch)
            throw new ArgumentException($"the graph is built for batch {graph.Batch} but the micro-batch is {options.MicroBatch}", nameof(graph));
        if (graph.Seq != data.SequenceLength)
            throw new ArgumentException($"the graph is built for sequence {graph.Seq} but the samples hold {data.SequenceLength} tokens", nameof(data));
        if (cursor.SampleCount != data.Count)
            throw new ArgumentException($"the data cursor walks {cursor.SampleCount} samples but the source has {data.Count}", nameof(cursor));
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (TrainableArena arena in arenas)
        {
            arena.Validate();
            foreach (TensorArena.Entry e in arena.Params.Entries)
                if (!names.Add(e.Name)) throw new ArgumentException($"tensor '{e.Name}' appears in two parameter arenas", nameof(arenas));
        }
        _graph = graph;
        _data = data;
        _arenas = arenas.ToList();
        _ctx = arenas[0].Params.Context;
        Options = options;
        Schedule = new LinearSchedule(options.LearningRate, options.WarmupSteps, options.MaxSteps);
        Cursor = cursor;
        _moments = _arenas.Select(a => (a.Params.CloneLayout(), a.Params.CloneLayout())).ToList();
        _updates = _arenas.SelectMany((a, i) => AdamWSpans(a, _moments[i].M, _moments[i].V, options.WeightDecay)).ToList();
        _sumsq = _ctx.NewTensor(LpDType.F32, 1);
        _tokens = new int[graph.Tokens];
        _targets = new int[graph.Tokens];
    }

    public TrainerOptions Options { get; }

    /// <summary>Where the samples come from.</summary>
    public ISampleSource Data => _data;
    public LinearSchedule Schedule { get; }

    /// <summary>Completed optimizer steps (HF's global_step).</summary>
    public long Step { get; private set; }

    /// <summary>Where the next step's samples come from.</summary>
    public DataCursor Cursor { get; private set; }

    public bool IsComplete => Step >= Options.MaxSteps;

    /// <summary>Targets that take loss in the step now running (valid inside <see cref="AfterClip"/>); 0 means the
    /// step saw no counted target, so its gradients are zero and carry no information.</summary>
    public long StepCountedTargets { get; private set; }

    public IReadOnlyList<TrainableArena> Arenas => _arenas;

    /// <summary>Adam's first and second moments of each arena (same layouts, same order as Arenas).</summary>
    public IReadOnlyList<(TensorArena M, TensorArena V)> Moments => _moments;

    /// <summary>Called with the 0-based global step after clipping and before AdamW (docs/method.md §3.2 steps 3-4);
    /// the gradient arenas then hold the clipped gradients of the step's mean loss.</summary>
    public Action<long>? AfterClip { get; set; }

    /// <summary>Continues a run at <paramref name="step"/> completed steps with the data cursor <paramref name="cursor"/>
    /// (parameters and moments are uploaded into the arenas by the caller).</summary>
    public void Restore(long step, DataCursor cursor)
    {
        if (step < 0 || step > Options.MaxSteps) throw new ArgumentOutOfRangeException(nameof(step), $"step {step} is outside 0..{Options.MaxSteps}");
        if (cursor.SampleCount != _data.Count)
            throw new ArgumentException($"the data cursor walks {cursor.SampleCount} samples but the source has {_data.Count}", nameof(cursor));
        Step = step;
        Cursor = cursor;
    }

    /// <summary>The dropout stream of micro-batch <paramref name="micro"/> of 0-based step <paramref name="step"/>
    /// (splitmix64 over the combination, so every (seed, step, micro) draws fresh masks).</summary>
    public static ulong MicroBatchSeed(ulong runSeed, long step, int micro)
    {
        ulong z = runSeed ^ Mix((ulong)step * 0x9E3779B97F4A7C15UL + (ulong)micro + 1);
        return Mix(z);
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Runs one optimizer step and returns its report.</summary>
    public StepReport RunStep()
    {
        if (IsComplete) throw new InvalidOperationException($"the run is complete ({Options.MaxSteps} steps)");
        var clock = Stopwatch.StartNew();
        foreach (TrainableArena a in _arenas) a.Grads.Zero();

        // Counts first: every micro-batch's backward needs 1 / (targets of the whole step).
        var samples = new TrainingSample[Options.Batch];
        for (int i = 0; i < samples.Length; i++) samples[i] = _data[Cursor.Next()];
        long counted = samples.Sum(CountedTargets);
        StepCountedTargets = counted;

        double lossSum = 0;
        if (counted > 0)
        {
            float dloss = (float)(1.0 / counted);
            for (int micro = 0; micro < Options.GradAccum; micro++)
            {
                if (!Pack(samples.AsSpan(micro * Options.MicroBatch, Options.MicroBatch))) continue;
                LlamaGraph.LossSum part = _graph.Forward(_tokens, _targets, training: true, MicroBatchSeed(Options.Seed, Step, micro));
                lossSum += part.Sum;
                _graph.Backward(dloss);
            }
        }

        _sumsq.Upload(stackalloc float[1]);
        foreach (TrainableArena a in _arenas) _ctx.GradNormAccumulate(a.Grads.All, _sumsq);
        double gradNorm = Math.Sqrt(_sumsq.ToFloatArray()[0]);
        if (Options.MaxGradNorm > 0)
            foreach (TrainableArena a in _arenas) _ctx.GradClip(a.Grads.All, _sumsq, (float)Options.MaxGradNorm);

        AfterClip?.Invoke(Step);

        double lr = Schedule.At(Step);
        foreach (AdamWSpan u in _updates)
            _ctx.AdamWStep(u.Param, u.Grad, u.M, u.V, (float)lr, (float)Options.Beta1, (float)Options.Beta2, (float)Options.Epsilon, u.WeightDecay, Step + 1);
        Step++;
        _ctx.Synchronize();
        double loss = counted > 0 ? lossSum / counted : double.NaN;
        return new StepReport(Step, loss, counted, (long)samples.Length * _graph.Seq, gradNorm, lr, clock.Elapsed.TotalSeconds);
    }

    // One AdamW sweep: 1-D views of the same element range of a parameter arena, its gradients and moments.
    private sealed record AdamWSpan(Tensor Param, Tensor Grad, Tensor M, Tensor V, float WeightDecay);

    // The whole arena in one sweep when weight decay applies alike to every entry; otherwise one sweep per
    // run of consecutive entries that share it (each run extends to the next one's offset, padding included).
    private static IEnumerable<AdamWSpan> AdamWSpans(TrainableArena arena, TensorArena m, TensorArena v, double weightDecay)
    {
        IReadOnlyList<TensorArena.Entry> entries = arena.Params.Entries;
        if (arena.Decays is null || weightDecay == 0 || entries.Count == 0)
        {
            yield return new AdamWSpan(arena.Params.All, arena.Grads.All, m.All, v.All, (float)weightDecay);
            yield break;
        }
        int first = 0;
        while (first < entries.Count)
        {
            bool decays = arena.DecaysEntry(entries[first]);
            int next = first + 1;
            while (next < entries.Count && arena.DecaysEntry(entries[next]) == decays) next++;
            long start = first == 0 ? 0 : entries[first].Offset;
            long end = next == entries.Count ? arena.Params.Count : entries[next].Offset;
            yield return new AdamWSpan(Span(arena.Params, start, end), Span(arena.Grads, start, end), Span(m, start, end), Span(v, start, end),
                decays ? (float)weightDecay : 0f);
            first = next;
        }
    }

    private static Tensor Span(TensorArena arena, long start, long end) =>
        new(arena.Buffer, (ulong)start * sizeof(float), LpDType.F32, end - start);

    /// <summary>Targets of a sample that take loss.</summary>
    public static int CountedTargets(TrainingSample sample)
    {
        int n = 0;
        foreach (int t in sample.Targets)
            if (t != TrainingSample.IgnoreIndex) n++;
        return n;
    }

    // Copies a micro-batch into the packed host buffers; false when none of its targets takes loss.
    private bool Pack(ReadOnlySpan<TrainingSample> micro)
    {
        int seq = _graph.Seq;
        bool any = false;
        for (int b = 0; b < micro.Length; b++)
        {
            TrainingSample s = micro[b];
            if (s.Tokens.Length != seq || s.Targets.Length != seq)
                throw new InvalidDataException($"{_data.Description}: a sample holds {s.Tokens.Length} tokens and {s.Targets.Length} targets, expected {seq}");
            s.Tokens.CopyTo(_tokens, b * seq);
            s.Targets.CopyTo(_targets, b * seq);
            any |= CountedTargets(s) > 0;
        }
        return any;
    }

    public void Dispose()
    {
        foreach ((TensorArena m, TensorArena v) in _moments)
        {
            m.Dispose();
            v.Dispose();
        }
        _sumsq.Dispose();
    }
}
