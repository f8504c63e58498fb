// TensorArena.cs — many f32 tensors in one device allocation, described by a name/shape table
// (the llm.c layout): the optimizer, gradient clipping and checkpoints sweep a whole arena at once
// through the 1-D view All, and a second arena with the same layout holds its gradients or moments.
using LoRAPrune.Native;

namespace LoRAPrune.Core.Model;

public sealed class TensorArena : IDisposable
{
    private const long AlignElements = 64; // 256-byte aligned entries; padding stays zero
    private readonly Dictionary<string, Tensor> _views = new(StringComparer.Ordinal);
    private readonly List<Entry> _entries = new();

    /// <summary>One named tensor of the layout and its element offset.</summary>
    public sealed record Entry(string Name, long[] Shape, long Offset)
    {
        public long Count => Shape.Aggregate(1L, (a, b) => a * b);
    }

    public TensorArena(Context context, IEnumerable<(string Name, long[] Shape)> layout)
    {
        Context = context;
        long offset = 0;
        foreach (var (name, shape) in layout)
        {
            var entry = new Entry(name, (long[])shape.Clone(), offset);
            if (_views.ContainsKey(name)) throw new ArgumentException($"duplicate arena entry '{name}'", nameof(layout));
            _entries.Add(entry);
            _views[name] = null!;
            offset += (entry.Count + AlignElements - 1) / AlignElements * AlignElements;
        }
        Count = Math.Max(offset, 1);
        Buffer = context.Alloc((ulong)Count * sizeof(float));
        Buffer.Fill(0, 0, Buffer.Bytes);
        All = new Tensor(Buffer, 0, LpDType.F32, Count);
        foreach (var e in _entries) _views[e.Name] = new Tensor(Buffer, (ulong)e.Offset * sizeof(float), LpDType.F32, e.Shape);
    }

    public Context Context { get; }
    public DeviceBuffer Buffer { get; }

    /// <summary>Elements in the arena, padding included.</summary>
    public long Count { get; }

    /// <summary>The whole arena as one 1-D tensor (count Count).</summary>
    public Tensor All { get; }

    public IReadOnlyList<Entry> Entries => _entries;

    public Tensor this[string name] =>
        _views.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"no tensor '{name}' in this arena");

    public bool Contains(string name) => _views.ContainsKey(name);

    /// <summary>A new arena with the same layout, zero-filled (gradients, Adam moments).</summary>
    public TensorArena CloneLayout() => new(Context, _entries.Select(e => (e.Name, e.Shape)));

    public void Zero() => Buffer.Fill(0, 0, Buffer.Bytes);

    public float[] Download() => All.ToFloatArray();

    public void Upload(ReadOnlySpan<float> values)
    {
        if (values.Length != Count) throw new ArgumentException($"arena holds {Count} values, got {values.Length}", nameof(values));
        All.Upload(values);
    }

    public void Dispose() => Buffer.Dispose();
}
