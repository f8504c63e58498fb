// TinyLlama.cs — test fixtures for the model I/O tests: a tiny LLaMA config (C=16, 2 layers, 4 heads,
// 2 KV heads, F=24, V=50), its Qwen2 variant, seeded random weights for every tensor the config
// requires, and a raw safetensors builder for hand-made (broken) headers.
using System.Buffers.Binary;
using System.Text;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Tests.IO;

internal static class TinyLlama
{
    /// <summary>LLaMA: C=16, H=4, KVH=2, D=4, F=24, V=50.</summary>
    public static LlamaConfig Config(int layers = 2) => new()
    {
        ModelType = "llama",
        HiddenSize = 16,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        HeadDim = 4,
        IntermediateSize = 24,
        NumHiddenLayers = layers,
        VocabSize = 50,
        RmsNormEps = 1e-5,
        RopeTheta = 10000.0,
        MaxPositionEmbeddings = 128,
        BosTokenId = 1,
        EosTokenIds = [2],
        TorchDtype = "float32",
    };

    /// <summary>The Qwen2 flavour: q/k/v biases and tied embeddings.</summary>
    public static LlamaConfig Qwen2Config() => Config() with
    {
        ModelType = "qwen2",
        QkvBias = true,
        TieWordEmbeddings = true,
        RopeTheta = 1000000.0,
        RmsNormEps = 1e-6,
    };

    /// <summary>Seeded values in [-0.5, 0.5) for every tensor <paramref name="config"/> requires.</summary>
    public static SortedDictionary<string, (long[] Shape, float[] Values)> RandomWeights(LlamaConfig config, int seed = 1234)
    {
        var rng = new Random(seed);
        var weights = new SortedDictionary<string, (long[], float[])>(StringComparer.Ordinal);
        foreach (ExpectedTensor e in LlamaTensorLayout.Expected(config))
        {
            long[] shape = [.. e.Shape];
            var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < values.Length; i++) values[i] = rng.NextSingle() - 0.5f;
            weights.Add(e.Name, (shape, values));
        }
        return weights;
    }

    /// <summary>A writer holding <paramref name="weights"/> stored as <paramref name="dtype"/>.</summary>
    public static SafetensorsWriter Writer(IEnumerable<KeyValuePair<string, (long[] Shape, float[] Values)>> weights, SafetensorsDType dtype = SafetensorsDType.F32)
    {
        var writer = new SafetensorsWriter();
        foreach ((string name, (long[] shape, float[] values)) in weights) writer.AddFloats(name, dtype, shape, values);
        return writer;
    }

    /// <summary>Writes a complete model folder and returns the weights written.</summary>
    public static SortedDictionary<string, (long[] Shape, float[] Values)> SaveModel(string folder, LlamaConfig config,
        SafetensorsDType dtype = SafetensorsDType.F32, long maxShardBytes = 0)
    {
        var weights = RandomWeights(config);
        LlamaCheckpoint.Save(folder, config, Writer(weights, dtype), ConfigLayout.Auto, maxShardBytes);
        return weights;
    }

    /// <summary>A safetensors file with a hand-written header and <paramref name="dataBytes"/> zero bytes of data.</summary>
    public static byte[] RawFile(string headerJson, long dataBytes)
    {
        byte[] header = Encoding.UTF8.GetBytes(headerJson);
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        return bytes;
    }
}
