// TrainingFixtures.cs — what the training tests share: a tiny random GQA model written to a folder
// (unit norms, normal(0, std) elsewhere), a learnable token pattern (a fixed cycle of distinct ids),
// in-memory sample sources over an id stream, token files, and a temporary folder per test.
using System.Buffers.Binary;
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Tests.Model;

namespace LoRAPrune.Tests.Training;

internal static class TrainingFixtures
{
    /// <summary>The engine tests' tiny GQA LLaMA: C=16, 2 layers, H=4, KVH=2, F=24, V=50.</summary>
    public static LlamaConfig Tiny => EngineGradientTests.TinyConfig;

    /// <summary>A larger toy (C=64, H=4, KVH=2, F=96, V=256, 2 layers) whose steps take milliseconds, for the process tests.</summary>
    public static LlamaConfig Small => Tiny with { HiddenSize = 64, HeadDim = 16, IntermediateSize = 96, VocabSize = 256, MaxPositionEmbeddings = 128 };

    /// <summary>Writes a model folder: norms 1, every other tensor normal(0, std) from <paramref name="seed"/>.</summary>
    public static void WriteModel(string folder, LlamaConfig config, int seed = 7, double std = 0.2)
    {
        var rng = new Random(seed);
        var writer = new SafetensorsWriter();
        foreach (ExpectedTensor e in LlamaTensorLayout.Expected(config))
        {
            long[] shape = [.. e.Shape];
            var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
            bool norm = e.Name.EndsWith("norm.weight", StringComparison.Ordinal);
            for (int i = 0; i < values.Length; i++) values[i] = norm ? 1f : (float)(Normal(rng) * std);
            writer.AddFloats(e.Name, SafetensorsDType.F32, shape, values);
        }
        LlamaCheckpoint.Save(folder, config, writer);
    }

    private static double Normal(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary><paramref name="length"/> ids of a fixed cycle of distinct ids below <paramref name="vocab"/>, starting at phase <paramref name="phase"/>:
    /// each id determines the next, so a model can learn to predict it almost surely.</summary>
    public static int[] Pattern(int length, int vocab, int phase = 0)
    {
        int[] cycle = [3, 17, 8, 42, 25, 11, 30, 5, 47, 21, 14, 36];
        return Enumerable.Range(phase, length).Select(i => cycle[i % cycle.Length] % vocab).ToArray();
    }

    /// <summary>Seeded uniform ids (no structure).</summary>
    public static int[] RandomIds(int length, int vocab, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => rng.Next(vocab)).ToArray();
    }

    /// <summary>Writes ids as a token file (uint32 little-endian, no header).</summary>
    public static void WriteTokens(string path, int[] ids)
    {
        var bytes = new byte[ids.Length * 4];
        for (int i = 0; i < ids.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * 4), (uint)ids[i]);
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>Blocks of T over an in-memory id stream.</summary>
    public sealed class MemoryBlocks(int[] ids, int sequenceLength, string name = "memory") : TokenBlocks(ids, sequenceLength)
    {
        public override string Description => $"{name}: {BlockSummary}";
    }
}

/// <summary>A fresh temporary folder per test, deleted afterwards.</summary>
internal sealed class TrainingFolder : IDisposable
{
    public TrainingFolder() => Path = Directory.CreateTempSubdirectory("loraprune-train-").FullName;

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
