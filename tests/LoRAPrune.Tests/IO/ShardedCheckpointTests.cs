// ShardedCheckpointTests.cs — sharded model folders (model-0000N-of-0000M.safetensors + index): written
// shards reopen as one tensor set equal to the single-file form, and inconsistent indexes (missing
// shard, tensor not in its shard, tensor in two shards, unlisted tensor, path escape) are refused.
using System.Text.Json;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Tests.IO;

public sealed class ShardedCheckpointTests
{
    [Fact]
    public void Sharded_write_reopens_as_the_same_tensors_as_a_single_file()
    {
        using var single = new TempFolder();
        using var sharded = new TempFolder();
        var weights = TinyLlama.RandomWeights(TinyLlama.Config());
        ShardedCheckpointWriter.Write(single.Path, TinyLlama.Writer(weights));
        ShardedCheckpointWriter.Write(sharded.Path, TinyLlama.Writer(weights), maxShardBytes: 8192);

        Assert.Equal(["model.safetensors"], single.Entries());
        string[] entries = sharded.Entries();
        Assert.Contains("model.safetensors.index.json", entries);
        string[] shards = [.. entries.Where(e => e.EndsWith(".safetensors"))];
        Assert.True(shards.Length >= 3, $"expected several shards, got {shards.Length}");
        Assert.Equal($"model-00001-of-{shards.Length:D5}.safetensors", shards[0]);

        using ShardedCheckpoint a = ShardedCheckpoint.Open(single.Path);
        using ShardedCheckpoint b = ShardedCheckpoint.Open(sharded.Path);
        Assert.Equal("model.safetensors", a.SourceName);
        Assert.Equal("model.safetensors.index.json", b.SourceName);
        Assert.Equal(shards.Length, b.Shards.Count);
        Assert.Equal(weights.Keys, b.TensorNames);
        foreach (string name in weights.Keys)
        {
            Assert.True(a.GetBytes(name).SequenceEqual(b.GetBytes(name)), name);
            Assert.Equal(weights[name].Values, b.ReadFloats(name));
        }
        using JsonDocument index = JsonDocument.Parse(File.ReadAllText(sharded.File("model.safetensors.index.json")));
        Assert.Equal(weights.Values.Sum(w => 4L * w.Values.Length), index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
    }

    [Fact]
    public void Sharded_write_removes_a_stale_single_file_which_loaders_would_prefer()
    {
        using var dir = new TempFolder();
        var weights = TinyLlama.RandomWeights(TinyLlama.Config());
        ShardedCheckpointWriter.Write(dir.Path, TinyLlama.Writer(weights));
        ShardedCheckpointWriter.Write(dir.Path, TinyLlama.Writer(weights), maxShardBytes: 8192);
        Assert.DoesNotContain("model.safetensors", dir.Entries());
        using ShardedCheckpoint c = ShardedCheckpoint.Open(dir.Path);
        Assert.Equal("model.safetensors.index.json", c.SourceName);
    }

    /// <summary>Two shards, "x" and "y" in shard 1 and "z" in shard 2, with a hand-written index.</summary>
    private static void WriteShards(TempFolder dir, string weightMapJson)
    {
        new SafetensorsWriter().AddFloats("x", SafetensorsDType.F32, [2], new float[2]).AddFloats("y", SafetensorsDType.F32, [2], new float[2])
            .Save(dir.File("model-00001-of-00002.safetensors"));
        new SafetensorsWriter().AddFloats("z", SafetensorsDType.F32, [2], new float[2])
            .Save(dir.File("model-00002-of-00002.safetensors"));
        File.WriteAllText(dir.File("model.safetensors.index.json"), $$"""{"metadata":{"total_size":24},"weight_map":{{weightMapJson}}}""");
    }

    private const string S1 = "model-00001-of-00002.safetensors";
    private const string S2 = "model-00002-of-00002.safetensors";

    [Fact]
    public void Hand_written_index_opens()
    {
        using var dir = new TempFolder();
        WriteShards(dir, $$"""{"x":"{{S1}}","y":"{{S1}}","z":"{{S2}}"}""");
        using ShardedCheckpoint c = ShardedCheckpoint.Open(dir.File("model.safetensors.index.json"));
        Assert.Equal(S2, c.ShardOf("z").FileName);
        Assert.Equal(["x", "y", "z"], c.TensorNames);
    }

    [Theory]
    [InlineData($$"""{"x":"{{S1}}","y":"{{S1}}","z":"{{S2}}","w":"{{S2}}"}""", $"{S2}: missing tensor 'w' (model.safetensors.index.json puts it in this shard)")]
    [InlineData($$"""{"x":"{{S1}}","y":"{{S2}}","z":"{{S2}}"}""", $"model.safetensors.index.json: weight_map puts tensor 'y' in {S2} but it is in {S1}")]
    [InlineData($$"""{"x":"{{S1}}","z":"{{S2}}"}""", $"{S1}: tensor 'y': is not listed in model.safetensors.index.json")]
    [InlineData($$"""{"x":"{{S1}}","y":"{{S1}}","z":"model-00003-of-00003.safetensors"}""", "model.safetensors.index.json: shard 'model-00003-of-00003.safetensors' (holding 'z') not found")]
    [InlineData($$"""{"x":"../{{S1}}"}""", $"model.safetensors.index.json: weight_map entry 'x' names shard '../{S1}', which is not a plain file name in the model folder")]
    [InlineData($$"""{"x":"{{S1}}","x":"{{S1}}"}""", "model.safetensors.index.json: weight_map lists tensor 'x' twice")]
    [InlineData("""{"x":7}""", "model.safetensors.index.json: weight_map entry 'x' is a number, expected a shard file name")]
    [InlineData("""[]""", "model.safetensors.index.json: weight_map is an array, expected an object of tensor name -> shard file")]
    [InlineData("""{}""", "model.safetensors.index.json: weight_map is empty")]
    public void Inconsistent_index(string weightMap, string expected)
    {
        using var dir = new TempFolder();
        WriteShards(dir, weightMap);
        var e = Assert.Throws<ModelFormatException>(() => ShardedCheckpoint.Open(dir.Path).Dispose());
        Assert.Equal(expected, e.Message);
    }

    [Fact]
    public void Tensor_in_two_shards()
    {
        using var dir = new TempFolder();
        WriteShards(dir, $$"""{"x":"{{S1}}","y":"{{S1}}","z":"{{S2}}"}""");
        new SafetensorsWriter().AddFloats("x", SafetensorsDType.F32, [2], new float[2]).AddFloats("z", SafetensorsDType.F32, [2], new float[2])
            .Save(dir.File(S2));
        var e = Assert.Throws<ModelFormatException>(() => ShardedCheckpoint.Open(dir.Path).Dispose());
        Assert.Equal($"model.safetensors.index.json: tensor 'x' is in two shards, {S1} and {S2}", e.Message);
    }

    [Fact]
    public void Index_without_weight_map_or_not_json()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("model.safetensors.index.json"), """{"metadata":{}}""");
        Assert.Equal("model.safetensors.index.json: missing field 'weight_map'",
            Assert.Throws<ModelFormatException>(() => ShardedCheckpoint.Open(dir.Path)).Message);
        File.WriteAllText(dir.File("model.safetensors.index.json"), "{\"weight_map\": {");
        Assert.StartsWith("model.safetensors.index.json: not valid JSON (",
            Assert.Throws<ModelFormatException>(() => ShardedCheckpoint.Open(dir.Path)).Message);
    }

    [Fact]
    public void Folder_without_weights_says_what_it_looked_for()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("pytorch_model.bin"), [1, 2, 3]);
        var e = Assert.Throws<ModelFormatException>(() => ShardedCheckpoint.Open(dir.Path));
        Assert.Equal($"{Path.GetFileName(dir.Path)}: folder has neither model.safetensors nor model.safetensors.index.json; pytorch_model.bin (pickle) is not supported, convert the model to safetensors", e.Message);
    }

    [Fact]
    public void A_broken_shard_is_reported_by_its_own_name()
    {
        using var dir = new TempFolder();
        WriteShards(dir, $$"""{"x":"{{S1}}","y":"{{S1}}","z":"{{S2}}"}""");
        byte[] bytes = File.ReadAllBytes(dir.File(S2));
        File.WriteAllBytes(dir.File(S2), bytes[..^4]);
        var e = Assert.Throws<ModelFormatException>(() => ShardedCheckpoint.Open(dir.Path).Dispose());
        Assert.Equal($"{S2}: tensor 'z': data_offsets [0, 8] end past the data section (4 bytes)", e.Message);
    }
}
