// LlamaCheckpointTests.cs — whole model folders: a tiny random LLaMA (and Qwen2, and a pruned model)
// saved as single or sharded safetensors + config.json reopens bit-exactly; tensors missing, misshapen,
// unexpected or of the wrong dtype are refused with the file, the tensor and config.json's reason.
using LoRAPrune.Core.IO;

namespace LoRAPrune.Tests.IO;

public sealed class LlamaCheckpointTests
{
    [Theory]
    [InlineData(SafetensorsDType.F32, 0L)]
    [InlineData(SafetensorsDType.BF16, 0L)]
    [InlineData(SafetensorsDType.F16, 4096L)]
    public void Tiny_llama_saves_and_reopens(SafetensorsDType dtype, long maxShardBytes)
    {
        using var dir = new TempFolder();
        LlamaConfig config = TinyLlama.Config();
        var weights = TinyLlama.SaveModel(dir.Path, config, dtype, maxShardBytes);

        using LlamaCheckpoint model = LlamaCheckpoint.Open(dir.Path);
        Assert.Equal(LlamaConfigWriter.ToJson(config), LlamaConfigWriter.ToJson(model.Config));
        Assert.Equal(maxShardBytes == 0 ? 1 : model.Tensors.Shards.Count, model.Tensors.Shards.Count);
        Assert.All(model.Tensors.Shards, s => Assert.Equal("pt", s.Metadata["format"]));
        foreach ((string name, (long[] shape, float[] values)) in weights)
        {
            Assert.Equal(dtype, model.Tensors.GetTensor(name).DType);
            float[] back = model.ReadFloats(name);
            float[] expected = Stored(values, dtype);
            Assert.Equal(expected.Select(BitConverter.SingleToUInt32Bits), back.Select(BitConverter.SingleToUInt32Bits));
        }
    }

    /// <summary>What a value reads back as after being stored in <paramref name="dtype"/>.</summary>
    private static float[] Stored(float[] values, SafetensorsDType dtype)
    {
        var bytes = new byte[values.Length * dtype.SizeOf()];
        TensorConversion.FromFloats(values, dtype, bytes);
        var back = new float[values.Length];
        TensorConversion.ToFloats(bytes, dtype, back);
        return back;
    }

    [Fact]
    public void Qwen2_with_biases_and_tied_embeddings()
    {
        using var dir = new TempFolder();
        LlamaConfig config = TinyLlama.Qwen2Config();
        var weights = TinyLlama.SaveModel(dir.Path, config);
        Assert.Contains("model.layers.1.self_attn.k_proj.bias", weights.Keys);
        Assert.DoesNotContain("model.layers.1.self_attn.o_proj.bias", weights.Keys);
        Assert.DoesNotContain(LlamaTensorLayout.LmHead, weights.Keys);
        Assert.Equal([8L], weights["model.layers.1.self_attn.k_proj.bias"].Shape);

        using LlamaCheckpoint model = LlamaCheckpoint.Open(dir.Path);
        Assert.True(model.Config.QkvBias && model.Config.TieWordEmbeddings);
    }

    [Fact]
    public void Non_uniformly_pruned_model_round_trips_with_per_layer_shapes()
    {
        using var dir = new TempFolder();
        LlamaConfig pruned = TinyLlama.Config(layers: 3).WithLayerWidths([4, 2, 2], [2, 1, 1], [24, 8, 16]);
        var weights = TinyLlama.SaveModel(dir.Path, pruned);
        Assert.Equal([8L, 16L], weights["model.layers.1.self_attn.q_proj.weight"].Shape);
        Assert.Equal([4L, 16L], weights["model.layers.1.self_attn.k_proj.weight"].Shape);
        Assert.Equal([16L, 8L], weights["model.layers.1.self_attn.o_proj.weight"].Shape);
        Assert.Equal([16L, 8L], weights["model.layers.1.mlp.down_proj.weight"].Shape);

        using LlamaCheckpoint model = LlamaCheckpoint.Open(dir.Path);
        Assert.Equal([4, 2, 2], model.Config.LayerAttentionHeads);
        Assert.Equal([24, 8, 16], model.Config.LayerIntermediateSizes);
    }

    [Fact]
    public void Uniformly_pruned_model_is_a_plain_model()
    {
        using var dir = new TempFolder();
        LlamaConfig pruned = TinyLlama.Config().WithLayerWidths([2, 2], [1, 1], [16, 16]);
        TinyLlama.SaveModel(dir.Path, pruned);
        Assert.DoesNotContain("loraprune_", File.ReadAllText(dir.File("config.json")));
        using LlamaCheckpoint model = LlamaCheckpoint.Open(dir.Path);
        Assert.Equal((2, 1, 16, 4), (model.Config.NumAttentionHeads, model.Config.NumKeyValueHeads, model.Config.IntermediateSize, model.Config.HeadDim));
    }

    /// <summary>Writes config.json for <paramref name="config"/> and a model.safetensors holding <paramref name="weights"/> as given.</summary>
    private static void WriteRaw(TempFolder dir, LlamaConfig config, SafetensorsWriter weights)
    {
        config.Save(dir.File("config.json"));
        weights.Save(dir.File("model.safetensors"));
    }

    [Fact]
    public void Missing_tensor()
    {
        using var dir = new TempFolder();
        LlamaConfig config = TinyLlama.Config(layers: 4);
        var weights = TinyLlama.RandomWeights(config);
        weights.Remove("model.layers.3.mlp.up_proj.weight");
        WriteRaw(dir, config, TinyLlama.Writer(weights));
        var e = Assert.Throws<ModelFormatException>(() => LlamaCheckpoint.Open(dir.Path));
        Assert.Equal("model.safetensors: missing tensor 'model.layers.3.mlp.up_proj.weight' (config.json says 4 layers)", e.Message);
    }

    [Fact]
    public void Missing_lm_head_names_tie_word_embeddings()
    {
        using var dir = new TempFolder();
        LlamaConfig config = TinyLlama.Config();
        var weights = TinyLlama.RandomWeights(config);
        weights.Remove(LlamaTensorLayout.LmHead);
        WriteRaw(dir, config, TinyLlama.Writer(weights));
        var e = Assert.Throws<ModelFormatException>(() => LlamaCheckpoint.Open(dir.Path));
        Assert.Equal("model.safetensors: missing tensor 'lm_head.weight' (config.json says tie_word_embeddings=false)", e.Message);
    }

    [Fact]
    public void Shape_disagreeing_with_config()
    {
        using var dir = new TempFolder();
        LlamaConfig config = TinyLlama.Config();
        var weights = TinyLlama.RandomWeights(config);
        weights["model.layers.1.mlp.up_proj.weight"] = ([20, 16], new float[20 * 16]);
        WriteRaw(dir, config, TinyLlama.Writer(weights));
        var e = Assert.Throws<ModelFormatException>(() => LlamaCheckpoint.Open(dir.Path));
        Assert.Equal("model.safetensors: tensor 'model.layers.1.mlp.up_proj.weight': has shape [20, 16] but config.json implies [24, 16]", e.Message);
    }

    [Fact]
    public void Shape_error_in_a_shard_names_the_shard()
    {
        using var dir = new TempFolder();
        LlamaConfig config = TinyLlama.Config();
        var weights = TinyLlama.RandomWeights(config);
        weights[LlamaTensorLayout.FinalNorm] = ([15], new float[15]);
        config.Save(dir.File("config.json"));
        ShardedCheckpointWriter.Write(dir.Path, TinyLlama.Writer(weights), maxShardBytes: 4096);
        using ShardedCheckpoint shards = ShardedCheckpoint.Open(dir.Path);
        string shard = shards.ShardOf(LlamaTensorLayout.FinalNorm).FileName;
        var e = Assert.Throws<ModelFormatException>(() => LlamaCheckpoint.Open(dir.Path));
        Assert.Equal($"{shard}: tensor 'model.norm.weight': has shape [15] but config.json implies [16]", e.Message);
    }

    [Fact]
    public void Unexpected_tensor()
    {
        using var dir = new TempFolder();
        LlamaConfig config = TinyLlama.Config();
        SafetensorsWriter writer = TinyLlama.Writer(TinyLlama.RandomWeights(config))
            .AddFloats("model.layers.2.mlp.up_proj.weight", SafetensorsDType.F32, [24, 16], new float[24 * 16]);
        WriteRaw(dir, config, writer);
        var e = Assert.Throws<ModelFormatException>(() => LlamaCheckpoint.Open(dir.Path));
        Assert.Equal("model.safetensors: tensor 'model.layers.2.mlp.up_proj.weight': unexpected tensor (config.json describes a llama model with 2 layers)", e.Message);
    }

    [Fact]
    public void Integer_weights_are_refused()
    {
        using var dir = new TempFolder();
        LlamaConfig config = TinyLlama.Config();
        var weights = TinyLlama.RandomWeights(config);
        weights.Remove(LlamaTensorLayout.FinalNorm);
        SafetensorsWriter writer = TinyLlama.Writer(weights).Add(LlamaTensorLayout.FinalNorm, SafetensorsDType.I32, [16], new byte[64]);
        WriteRaw(dir, config, writer);
        var e = Assert.Throws<ModelFormatException>(() => LlamaCheckpoint.Open(dir.Path));
        Assert.Equal("model.safetensors: tensor 'model.norm.weight': has dtype I32, expected F32, F16 or BF16", e.Message);
    }

    [Fact]
    public void Old_rotary_buffers_and_a_tied_lm_head_copy_are_ignored()
    {
        using var dir = new TempFolder();
        LlamaConfig config = TinyLlama.Config() with { TieWordEmbeddings = true };
        SafetensorsWriter writer = TinyLlama.Writer(TinyLlama.RandomWeights(config))
            .AddFloats("model.layers.0.self_attn.rotary_emb.inv_freq", SafetensorsDType.F32, [2], new float[2])
            .AddFloats(LlamaTensorLayout.LmHead, SafetensorsDType.F32, [50, 16], new float[50 * 16]);
        WriteRaw(dir, config, writer);
        using LlamaCheckpoint model = LlamaCheckpoint.Open(dir.Path);
        Assert.True(model.Config.TieWordEmbeddings);
    }

    [Fact]
    public void Bad_config_is_reported_before_the_weights_are_opened()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("config.json"), """{"model_type": "llama", "hidden_size": 256, "num_attention_heads": 7, "intermediate_size": 512, "num_hidden_layers": 2, "vocab_size": 50}""");
        var e = Assert.Throws<ModelFormatException>(() => LlamaCheckpoint.Open(dir.Path));
        Assert.Equal("config.json: num_attention_heads=7 does not divide hidden_size=256", e.Message);
    }

    [Fact]
    public void Expected_layout_follows_the_config()
    {
        IReadOnlyList<ExpectedTensor> plain = LlamaTensorLayout.Expected(TinyLlama.Config());
        Assert.Equal(2 + 2 * 9 + 1, plain.Count);
        Assert.Equal(LlamaTensorLayout.EmbedTokens, plain[0].Name);
        Assert.Equal("model.layers.0.self_attn.q_proj.weight", plain[2].Name);
        Assert.Equal([16L, 16L], plain[2].Shape);
        Assert.Equal([8L, 16L], plain.Single(t => t.Name == "model.layers.0.self_attn.v_proj.weight").Shape);

        LlamaConfig biased = TinyLlama.Config() with { QkvBias = true, OutputBias = true, MlpBias = true };
        Assert.Equal(plain.Count + 2 * 7, LlamaTensorLayout.Expected(biased).Count);
    }
}
