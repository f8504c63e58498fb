// CheckpointResumeTests.cs — fine-tuning checkpoints on the cpu backend: the file holds the documented
// tensors and run identity, a resume refuses other settings or data, and stop + resume (also from an
// older checkpoint copied into another folder) ends bit-identical to an uninterrupted run.
using System.Text.Json.Nodes;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;
using LoRAPrune.Tests.Conformance;

namespace LoRAPrune.Tests.Training;

public sealed class CheckpointResumeTests : IDisposable
{
    private const int Steps = 12, Seq = 16;
    private readonly TrainingFolder _folder = new();
    private readonly TrainingFixtures.MemoryBlocks _train;

    public CheckpointResumeTests()
    {
        TrainingFixtures.WriteModel(_folder.Sub("model"), TrainingFixtures.Tiny);
        // 10 blocks: 12 steps x 4 samples cross three epochs, so the cursor's epoch roll-over is resumed too.
        _train = new TrainingFixtures.MemoryBlocks(TrainingFixtures.RandomIds(10 * Seq + 1, TrainingFixtures.Tiny.VocabSize, seed: 3), Seq);
    }

    public void Dispose() => _folder.Dispose();

    private FinetuneSettings Settings(string output, bool resume = false) => new()
    {
        Run = new RunSettings
        {
            OutputFolder = _folder.Sub(output), Data = new DataSpec(DataSpec.Tokens, ["memory"]),
            Steps = Steps, Batch = 4, MicroBatch = 2, Seq = Seq, LearningRate = 5e-3, WarmupSteps = 2, SaveEvery = 5, Seed = 1234, Resume = resume,
        },
        Model = new LoraModelSettings
        {
            ModelFolder = _folder.Sub("model"),
            Lora = new LoraOptions { Rank = 2, Alpha = 4, Dropout = 0.1, Targets = [LlamaLinear.QProj, LlamaLinear.VProj, LlamaLinear.DownProj] },
        },
    };

    private TrainingOutcome Run(FinetuneSettings settings, long stopAfter = long.MaxValue)
    {
        using Context ctx = TestBackends.Get("cpu").CreateContext();
        using var run = new FinetuneRun(ctx, settings, _train, null);
        using var stop = new CancellationTokenSource();
        return run.Run((report, _) =>
        {
            if (report.Step == stopAfter) stop.Cancel();
        }, stop.Token);
    }

    private static byte[] AdapterBytes(string output) => File.ReadAllBytes(Path.Combine(output, FinetuneRun.AdapterFolderName, PeftAdapter.WeightsFileName));

    // (step, loss, grad_norm) of every metrics line, as written.
    private static string[] StepLines(string output) =>
        File.ReadAllLines(Path.Combine(output, MetricsLog.FileName))
            .Select(l => JsonNode.Parse(l)!.AsObject())
            .Select(o => $"{o["step"]} {o["loss"]!.ToJsonString()} {o["grad_norm"]!.ToJsonString()} {o["lr"]!.ToJsonString()}")
            .ToArray();

    [Fact]
    public void Stop_and_resume_ends_bit_identical_to_an_uninterrupted_run()
    {
        TrainingOutcome whole = Run(Settings("whole"));
        Assert.True(whole.Completed);

        TrainingOutcome first = Run(Settings("split"), stopAfter: 7);
        Assert.False(first.Completed);
        Assert.Equal(7, first.Step);
        Assert.False(Directory.Exists(Path.Combine(_folder.Sub("split"), FinetuneRun.AdapterFolderName)));
        using (TrainingCheckpoint saved = TrainingCheckpoint.Open(first.CheckpointPath)) Assert.Equal(7, saved.Step);

        TrainingOutcome second = Run(Settings("split", resume: true));
        Assert.True(second.Completed);
        Assert.Equal(7, second.StartStep);
        Assert.Equal(AdapterBytes(_folder.Sub("whole")), AdapterBytes(_folder.Sub("split")));
        Assert.Equal(StepLines(_folder.Sub("whole")), StepLines(_folder.Sub("split")));
    }

    [Fact]
    public void Resume_from_a_periodic_checkpoint_into_another_folder_ends_bit_identical()
    {
        Run(Settings("whole"));
        // Stop at step 7: the stop writes a checkpoint at 7; copy the step-5 one written before it instead.
        string periodic = _folder.Sub("periodic");
        Directory.CreateDirectory(periodic);
        FinetuneSettings split = Settings("split");
        using (Context ctx = TestBackends.Get("cpu").CreateContext())
        using (var run = new FinetuneRun(ctx, split, _train, null))
        using (var stop = new CancellationTokenSource())
        {
            run.Run((report, _) =>
            {
                if (report.Step == 6) File.Copy(Path.Combine(split.Run.OutputFolder, TrainingCheckpoint.FileName), Path.Combine(periodic, TrainingCheckpoint.FileName));
                if (report.Step == 7) stop.Cancel();
            }, stop.Token);
        }
        using (TrainingCheckpoint saved = TrainingCheckpoint.Open(Path.Combine(periodic, TrainingCheckpoint.FileName))) Assert.Equal(5, saved.Step);

        TrainingOutcome resumed = Run(Settings("periodic", resume: true));
        Assert.True(resumed.Completed);
        Assert.Equal(5, resumed.StartStep);
        Assert.Equal(AdapterBytes(_folder.Sub("whole")), AdapterBytes(periodic));
        Assert.Equal(StepLines(_folder.Sub("whole")).Skip(5), StepLines(periodic));
    }

    [Fact]
    public void Checkpoint_holds_the_documented_tensors_and_the_run_identity()
    {
        TrainingOutcome outcome = Run(Settings("whole"), stopAfter: 3);
        using SafetensorsFile file = SafetensorsFile.Open(outcome.CheckpointPath);
        var names = file.Tensors.Select(t => t.Name).ToHashSet();
        LlamaLinear[] targets = [LlamaLinear.QProj, LlamaLinear.VProj, LlamaLinear.DownProj];
        int expectedLora = 0;
        for (int layer = 0; layer < TrainingFixtures.Tiny.NumHiddenLayers; layer++)
            foreach (LlamaLinear linear in targets)
                foreach (bool isB in new[] { false, true })
                {
                    string name = PeftAdapter.TensorName(layer, linear, isB);
                    Assert.Contains(name, names);
                    Assert.Contains(TrainingCheckpoint.FirstMomentPrefix + name, names);
                    Assert.Contains(TrainingCheckpoint.SecondMomentPrefix + name, names);
                    Assert.Equal(SafetensorsDType.F32, file.GetTensor(name).DType);
                    expectedLora++;
                }
        Assert.Equal(3 * expectedLora + 3, names.Count);
        Assert.Equal(SafetensorsDType.I64, file.GetTensor(TrainingCheckpoint.StepTensor).DType);
        Assert.Equal([3L], file.GetTensor(TrainingCheckpoint.DataTensor).Shape);

        using TrainingCheckpoint checkpoint = TrainingCheckpoint.Open(outcome.CheckpointPath);
        Assert.Equal(3, checkpoint.Step);
        Assert.Equal(1234UL, checkpoint.Seed);
        Assert.Equal(1234UL, checkpoint.DataSeed);
        Assert.Equal(1, checkpoint.Epoch);      // 12 samples of 10 drawn: second epoch, position 2
        Assert.Equal(2, checkpoint.Position);
        JsonObject run = JsonNode.Parse(checkpoint.Metadata[TrainingRun.RunMetadataKey])!.AsObject();
        Assert.Equal("finetune", (string?)run["kind"]);
        Assert.Equal(LoraModelSettings.ConfigHash(TrainingFixtures.Tiny), (string?)run["model_config_sha256"]);
        Assert.Equal(Steps, (long)run["steps"]!);
        Assert.Equal("[\"q_proj\",\"v_proj\",\"down_proj\"]", run["lora_targets"]!.ToJsonString());
        Assert.Equal("cpu", (string?)JsonNode.Parse(checkpoint.Metadata[TrainingRun.SessionMetadataKey])!["device"]);
    }

    [Fact]
    public void Resume_refuses_different_settings_and_leaves_the_checkpoint_alone()
    {
        TrainingOutcome first = Run(Settings("split"), stopAfter: 4);
        byte[] before = File.ReadAllBytes(first.CheckpointPath);
        using Context ctx = TestBackends.Get("cpu").CreateContext();
        FinetuneSettings resume = Settings("split", resume: true);
        var changed = resume with { Run = resume.Run with { LearningRate = 1e-3 } };
        var e = Assert.Throws<TrainingSetupException>(() => new FinetuneRun(ctx, changed, _train, null));
        Assert.Contains("lr = 0.005", e.Message);
        Assert.Contains("lr = 0.001", e.Message);
        var otherData = new TrainingFixtures.MemoryBlocks(TrainingFixtures.RandomIds(10 * Seq + 1, TrainingFixtures.Tiny.VocabSize, seed: 4), Seq);
        var data = Assert.Throws<TrainingSetupException>(() => new FinetuneRun(ctx, Settings("split", resume: true), otherData, null));
        Assert.Contains("data_sha256", data.Message);
        var fresh = Assert.Throws<TrainingSetupException>(() => new FinetuneRun(ctx, Settings("split"), _train, null));
        Assert.Contains("already holds a run", fresh.Message);
        Assert.Equal(before, File.ReadAllBytes(first.CheckpointPath));
    }
}
