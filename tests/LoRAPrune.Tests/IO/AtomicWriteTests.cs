// AtomicWriteTests.cs — writers never leave a partial file: a tensor source that throws midway, or
// writes the wrong number of bytes, leaves neither the destination nor a temporary file behind and
// does not clobber an existing file; a model save whose tensors disagree with its config writes nothing.
using LoRAPrune.Core.IO;

namespace LoRAPrune.Tests.IO;

public sealed class AtomicWriteTests
{
    private static SafetensorsWriter WriterWithFailingSource(Action<Stream> failing) => new SafetensorsWriter()
        .AddFloats("a.first", SafetensorsDType.F32, [1024], new float[1024])
        .Add("b.fails", SafetensorsDType.F32, [1024], failing)
        .AddFloats("c.never", SafetensorsDType.F32, [4], new float[4]);

    private static void ThrowHalfway(Stream s)
    {
        s.Write(new byte[2048]);
        throw new IOException("disk went away");
    }

    [Fact]
    public void Throwing_source_leaves_no_file_at_all()
    {
        using var dir = new TempFolder();
        var e = Assert.Throws<IOException>(() => WriterWithFailingSource(ThrowHalfway).Save(dir.File("model.safetensors")));
        Assert.Equal("disk went away", e.Message);
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void Throwing_source_does_not_clobber_the_existing_file()
    {
        using var dir = new TempFolder();
        string path = dir.File("model.safetensors");
        TinyLlama.Writer(TinyLlama.RandomWeights(TinyLlama.Config())).Save(path);
        byte[] before = File.ReadAllBytes(path);

        Assert.Throws<IOException>(() => WriterWithFailingSource(ThrowHalfway).Save(path));

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["model.safetensors"], dir.Entries());
    }

    [Fact]
    public void Source_writing_the_wrong_byte_count_fails_cleanly()
    {
        using var dir = new TempFolder();
        var e = Assert.Throws<InvalidOperationException>(() => WriterWithFailingSource(s => s.Write(new byte[100])).Save(dir.File("model.safetensors")));
        Assert.Equal("model.safetensors: tensor 'b.fails': its data source wrote 100 bytes, expected 4096", e.Message);
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void Sharded_write_that_fails_in_a_later_shard_commits_no_shard()
    {
        using var dir = new TempFolder();
        SafetensorsWriter writer = WriterWithFailingSource(ThrowHalfway);
        Assert.Throws<IOException>(() => ShardedCheckpointWriter.Write(dir.Path, writer, maxShardBytes: 4096));
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void Model_save_whose_tensors_disagree_with_the_config_writes_nothing()
    {
        using var dir = new TempFolder();
        LlamaConfig config = TinyLlama.Config();
        var weights = TinyLlama.RandomWeights(config);
        weights.Remove("model.layers.1.mlp.up_proj.weight");
        var e = Assert.Throws<ModelFormatException>(() => LlamaCheckpoint.Save(dir.Path, config, TinyLlama.Writer(weights)));
        Assert.Equal("tensors to save: missing tensor 'model.layers.1.mlp.up_proj.weight' (config.json says 2 layers)", e.Message);
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void Uniform_layout_of_a_non_uniform_model_is_refused_before_anything_is_written()
    {
        using var dir = new TempFolder();
        LlamaConfig pruned = TinyLlama.Config().WithLayerWidths([4, 2], [2, 1], [24, 16]);
        SafetensorsWriter tensors = TinyLlama.Writer(TinyLlama.RandomWeights(pruned));
        Assert.Throws<InvalidOperationException>(() => LlamaCheckpoint.Save(dir.Path, pruned, tensors, ConfigLayout.Uniform));
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void Text_write_replaces_the_whole_file()
    {
        using var dir = new TempFolder();
        string path = dir.File("config.json");
        File.WriteAllText(path, new string('x', 10000));
        AtomicFile.WriteText(path, "{}\n");
        Assert.Equal("{}\n", File.ReadAllText(path));
        Assert.Equal(["config.json"], dir.Entries());
    }
}
