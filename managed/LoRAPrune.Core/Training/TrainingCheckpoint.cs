// TrainingCheckpoint.cs — one safetensors file to continue a run exactly: trainable tensors under their
// arena names, Adam moments under optimizer.m./optimizer.v.<name>, step, seed and data cursor as I64
// tensors, the run identity (JSON) in __metadata__ so a resume refuses a different run, and (format 2) any
// state a command adds under its own prefix (prune: importance EMA, kept indices). Written atomically.
using System.Buffers.Binary;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;

namespace LoRAPrune.Core.Training;

public sealed class TrainingCheckpoint : IDisposable
{
    public const string FileName = "checkpoint.safetensors";
    public const string FirstMomentPrefix = "optimizer.m.";
    public const string SecondMomentPrefix = "optimizer.v.";
    public const string StepTensor = "state.step";   // I64 (1): completed optimizer steps
    public const string RngTensor = "state.rng";     // I64 (1): the run seed (u64 bit pattern)
    public const string DataTensor = "state.data";   // I64 (3): data-order seed (u64 bit pattern), epoch, position
    public const string FormatKey = "loraprune.checkpoint";
    public const string FormatVersion = "2";

    /// <summary>Formats this build reads: 1 (trainer state only) and 2 (trainer state plus a command's own state).</summary>
    public static readonly IReadOnlyList<string> ReadableVersions = ["1", "2"];

    private readonly SafetensorsFile _file;

    private TrainingCheckpoint(SafetensorsFile file, long step, ulong seed, ulong dataSeed, long epoch, long position)
    {
        _file = file;
        Step = step;
        Seed = seed;
        DataSeed = dataSeed;
        Epoch = epoch;
        Position = position;
    }

    public IReadOnlyDictionary<string, string> Metadata => _file.Metadata;
    public long Step { get; }
    public ulong Seed { get; }
    public ulong DataSeed { get; }
    public long Epoch { get; }
    public long Position { get; }

    /// <summary>Writes the trainer's parameters, moments and state to <paramref name="path"/> atomically
    /// (the previous file stays intact until the new one is complete).</summary>
    public static void Save(string path, Trainer trainer, IReadOnlyDictionary<string, string> metadata, Action<SafetensorsWriter>? addState = null)
    {
        var writer = new SafetensorsWriter().AddMetadata(FormatKey, FormatVersion);
        foreach (KeyValuePair<string, string> m in metadata) writer.AddMetadata(m.Key, m.Value);
        for (int i = 0; i < trainer.Arenas.Count; i++)
        {
            AddArena(writer, "", trainer.Arenas[i].Params);
            AddArena(writer, FirstMomentPrefix, trainer.Moments[i].M);
            AddArena(writer, SecondMomentPrefix, trainer.Moments[i].V);
        }
        writer.Add(StepTensor, SafetensorsDType.I64, [1], Int64Bytes(trainer.Step));
        writer.Add(RngTensor, SafetensorsDType.I64, [1], Int64Bytes(unchecked((long)trainer.Options.Seed)));
        writer.Add(DataTensor, SafetensorsDType.I64, [3],
            Int64Bytes(unchecked((long)trainer.Cursor.Seed), trainer.Cursor.Epoch, trainer.Cursor.Position));
        addState?.Invoke(writer);
        writer.Save(path);
    }

    private static void AddArena(SafetensorsWriter writer, string prefix, TensorArena arena)
    {
        float[] values = arena.Download();
        foreach (TensorArena.Entry e in arena.Entries)
            writer.AddFloats(prefix + e.Name, SafetensorsDType.F32, e.Shape, values.AsMemory((int)e.Offset, (int)e.Count));
    }

    private static byte[] Int64Bytes(params long[] values)
    {
        var bytes = new byte[values.Length * sizeof(long)];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * sizeof(long)), values[i]);
        return bytes;
    }

    /// <summary>Opens and validates a checkpoint's state tensors; throws <see cref="ModelFormatException"/> on a bad file.</summary>
    public static TrainingCheckpoint Open(string path)
    {
        SafetensorsFile file = SafetensorsFile.Open(path);
        try
        {
            if (!file.Metadata.TryGetValue(FormatKey, out string? version))
                throw new ModelFormatException(file.FileName, $"not a LoRAPrune training checkpoint (no {FormatKey} metadata)");
            if (!ReadableVersions.Contains(version))
                throw new ModelFormatException(file.FileName, $"checkpoint format {ModelFormatException.Quote(version)} is not supported (this build reads {string.Join(" and ", ReadableVersions)})");
            long step = ReadInt64s(file, StepTensor, 1)[0];
            long seed = ReadInt64s(file, RngTensor, 1)[0];
            long[] data = ReadInt64s(file, DataTensor, 3);
            if (step < 0) throw new ModelFormatException(file.FileName, StepTensor, $"holds {step}, expected a step count >= 0", null);
            if (data[1] < 0 || data[2] < 0)
                throw new ModelFormatException(file.FileName, DataTensor, $"holds epoch {data[1]}, position {data[2]}; both must be >= 0", null);
            return new TrainingCheckpoint(file, step, unchecked((ulong)seed), unchecked((ulong)data[0]), data[1], data[2]);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>True when the checkpoint holds tensor <paramref name="name"/>.</summary>
    public bool Contains(string name) => _file.TryGetTensor(name, out _);

    /// <summary>A command's own I64 state tensor of exactly <paramref name="count"/> values.</summary>
    public long[] ReadInt64s(string name, int count) => ReadInt64s(_file, name, count);

    /// <summary>A command's own I32 state tensor (any 1-D length); throws naming the tensor when missing or not I32 1-D.</summary>
    public int[] ReadInt32s(string name)
    {
        if (!_file.TryGetTensor(name, out TensorInfo t))
            throw new ModelFormatException(_file.FileName, $"missing tensor {ModelFormatException.Quote(name)}");
        if (t.DType != SafetensorsDType.I32 || t.Shape.Count != 1)
            throw new ModelFormatException(_file.FileName, name, $"is {t.DType.HeaderName()} {TensorInfo.FormatShape(t.Shape)}, expected I32 [n]", null);
        ReadOnlySpan<byte> bytes = _file.GetBytes(t);
        var values = new int[t.Shape[0]];
        for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes[(i * sizeof(int))..]);
        return values;
    }

    /// <summary>A command's own F32 state tensor with exactly <paramref name="shape"/>, into <paramref name="values"/>.</summary>
    public void ReadFloats(string name, long[] shape, Span<float> values)
    {
        if (!_file.TryGetTensor(name, out TensorInfo t))
            throw new ModelFormatException(_file.FileName, $"missing tensor {ModelFormatException.Quote(name)}");
        if (t.DType != SafetensorsDType.F32 || !t.HasShape(shape))
            throw new ModelFormatException(_file.FileName, name, $"is {t.DType.HeaderName()} {TensorInfo.FormatShape(t.Shape)}, expected F32 {TensorInfo.FormatShape(shape)}", null);
        _file.ReadFloats(name, values);
    }

    /// <summary>Writes I32 values as a 1-D state tensor (for <see cref="Save"/>'s addState).</summary>
    public static void AddInt32s(SafetensorsWriter writer, string name, IReadOnlyList<int> values)
    {
        var bytes = new byte[values.Count * sizeof(int)];
        for (int i = 0; i < values.Count; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * sizeof(int)), values[i]);
        writer.Add(name, SafetensorsDType.I32, [values.Count], bytes);
    }

    /// <summary>Writes I64 values as a 1-D state tensor (for <see cref="Save"/>'s addState).</summary>
    public static void AddInt64s(SafetensorsWriter writer, string name, params long[] values) =>
        writer.Add(name, SafetensorsDType.I64, [values.Length], Int64Bytes(values));

    private static long[] ReadInt64s(SafetensorsFile file, string name, int count)
    {
        TensorInfo t = file.GetTensor(name);
        if (t.DType != SafetensorsDType.I64 || !t.HasShape([count]))
            throw new ModelFormatException(file.FileName, name, $"is {t.DType.HeaderName()} {TensorInfo.FormatShape(t.Shape)}, expected I64 [{count}]", null);
        ReadOnlySpan<byte> bytes = file.GetBytes(t);
        var values = new long[count];
        for (int i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadInt64LittleEndian(bytes[(i * sizeof(long))..]);
        return values;
    }

    /// <summary>Uploads parameters and moments into the trainer's arenas and moves it to the saved step and
    /// data position. Every tensor must match the trainer's layout exactly; nothing extra may be present except
    /// tensors under <paramref name="statePrefix"/>, which the calling command restores itself.</summary>
    public void Restore(Trainer trainer, string? statePrefix = null)
    {
        if (Seed != trainer.Options.Seed)
            throw new ModelFormatException(_file.FileName, RngTensor, $"the checkpoint's run seed is {Seed}, this run's is {trainer.Options.Seed}", null);
        if (Step > trainer.Options.MaxSteps)
            throw new ModelFormatException(_file.FileName, StepTensor, $"the checkpoint is at step {Step}, beyond this run's {trainer.Options.MaxSteps} steps", null);
        var cursor = new DataCursor(trainer.Cursor.SampleCount, DataSeed, Epoch, CheckedPosition(trainer.Cursor.SampleCount));
        var expected = new HashSet<string>([StepTensor, RngTensor, DataTensor], StringComparer.Ordinal);
        var uploads = new List<(TensorArena Arena, float[] Values)>();
        for (int i = 0; i < trainer.Arenas.Count; i++)
        {
            uploads.Add((trainer.Arenas[i].Params, ReadArena("", trainer.Arenas[i].Params, expected)));
            uploads.Add((trainer.Moments[i].M, ReadArena(FirstMomentPrefix, trainer.Moments[i].M, expected)));
            uploads.Add((trainer.Moments[i].V, ReadArena(SecondMomentPrefix, trainer.Moments[i].V, expected)));
        }
        foreach (TensorInfo t in _file.Tensors)
        {
            if (!expected.Contains(t.Name) && !(statePrefix is not null && t.Name.StartsWith(statePrefix, StringComparison.Ordinal)))
                throw new ModelFormatException(_file.FileName, t.Name, "is not part of this run's parameters (different LoRA targets, rank or model?)", null);
        }
        foreach ((TensorArena arena, float[] values) in uploads) arena.Upload(values);
        trainer.Restore(Step, cursor);
    }

    private long CheckedPosition(int sampleCount)
    {
        if (Position > sampleCount)
            throw new ModelFormatException(_file.FileName, DataTensor, $"data position {Position} is beyond the {sampleCount} samples of this run's data", null);
        return Position;
    }

    private float[] ReadArena(string prefix, TensorArena arena, HashSet<string> expected)
    {
        var values = new float[arena.Count];
        foreach (TensorArena.Entry e in arena.Entries)
        {
            string name = prefix + e.Name;
            if (!_file.TryGetTensor(name, out TensorInfo t))
                throw new ModelFormatException(_file.FileName, $"missing tensor {ModelFormatException.Quote(name)} (different LoRA targets, rank or model?)");
            if (t.DType != SafetensorsDType.F32 || !t.HasShape(e.Shape))
                throw new ModelFormatException(_file.FileName, name,
                    $"is {t.DType.HeaderName()} {TensorInfo.FormatShape(t.Shape)}, this run needs F32 {TensorInfo.FormatShape(e.Shape)}", null);
            _file.ReadFloats(name, values.AsSpan((int)e.Offset, (int)e.Count));
            expected.Add(name);
        }
        return values;
    }

    public void Dispose() => _file.Dispose();
}
