// FinetuneCommandTests.cs — `loraprune finetune` end to end on the cpu backend: bad input in-process (one
// line, non-zero exit, nothing written); as a child process killed with SIGKILL or stopped with SIGTERM
// (exit 130) and resumed, the final adapter is byte-identical to an uninterrupted run's.
using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using LoRAPrune.Cli;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Training;
using Xunit.Abstractions;

namespace LoRAPrune.Tests.Training;

public sealed class FinetuneCommandTests(ITestOutputHelper output) : IDisposable
{
    private readonly TrainingFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static (int ExitCode, string Output) Cli(params string[] args)
    {
        var (exit, output, error) = CliRunner.Run(args);
        return (exit, output + error);
    }

    // A tiny model and a token file of the learnable pattern; returns the common arguments.
    private string[] TinyRunArgs(string model = "model", int steps = 6)
    {
        string modelFolder = _folder.Sub(model);
        if (!Directory.Exists(modelFolder)) TrainingFixtures.WriteModel(modelFolder, TrainingFixtures.Tiny);
        string tokens = _folder.Sub("train.u32");
        if (!File.Exists(tokens)) TrainingFixtures.WriteTokens(tokens, TrainingFixtures.Pattern(40 * 16 + 1, TrainingFixtures.Tiny.VocabSize));
        return ["finetune", "--model", modelFolder, "--tokens", tokens, "--device", "cpu", "--steps", $"{steps}", "--batch", "4", "--micro-batch", "2",
            "--seq", "16", "--rank", "2", "--alpha", "4", "--lr", "0.01", "--save-every", "2"];
    }

    // The arguments with the value of <paramref name="option"/> replaced.
    private static string[] With(string[] args, string option, string value)
    {
        string[] copy = (string[])args.Clone();
        copy[Array.IndexOf(copy, option) + 1] = value;
        return copy;
    }

    [Fact]
    public void Finetune_writes_metrics_checkpoint_and_a_PEFT_adapter()
    {
        string outFolder = _folder.Sub("out");
        (int exit, string text) = Cli([.. TinyRunArgs(), "--out", outFolder]);
        output.WriteLine(text);
        Assert.Equal(0, exit);
        Assert.Contains("step 6/6", text);
        Assert.Contains("finetune: steps 0->6 of 6", text);
        Assert.DoesNotContain("\u001b[", text);
        string[] metrics = File.ReadAllLines(Path.Combine(outFolder, MetricsLog.FileName));
        Assert.Equal(6, metrics.Length);
        Assert.Matches("^\\{\"step\":1,\"loss\":[0-9.]+,\"grad_norm\":[0-9.]+,\"lr\":0\\.01,\"tokens\":64,\"loss_tokens\":64,\"tokens_per_s\":[0-9.]+,\"elapsed_s\":[0-9.]+\\}$", metrics[0]);
        PeftAdapter adapter = PeftAdapter.Load(Path.Combine(outFolder, FinetuneRun.AdapterFolderName), TrainingFixtures.Tiny);
        Assert.Equal(2, adapter.Config.Rank);
        Assert.Equal(7 * TrainingFixtures.Tiny.NumHiddenLayers, adapter.Weights.Count);
        Assert.True(File.Exists(Path.Combine(outFolder, TrainingCheckpoint.FileName)));
        Assert.Empty(Directory.GetFiles(outFolder, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void Missing_model_folder_is_one_line_and_writes_nothing()
    {
        string outFolder = _folder.Sub("out");
        (int exit, string text) = Cli([.. With(TinyRunArgs(), "--model", _folder.Sub("no-such-model")), "--out", outFolder]);
        Assert.Equal(1, exit);
        Assert.Equal($"finetune: --model: folder {_folder.Sub("no-such-model")} does not exist", text.Trim());
        Assert.False(Directory.Exists(outFolder));
    }

    [Fact]
    public void Resume_without_a_checkpoint_is_refused_and_writes_nothing()
    {
        string outFolder = _folder.Sub("out");
        (int exit, string text) = Cli([.. TinyRunArgs(), "--out", outFolder, "--resume"]);
        Assert.Equal(1, exit);
        Assert.Single(text.Trim().Split('\n'));
        Assert.Contains("--resume: no checkpoint.safetensors in", text);
        Assert.Contains("nothing to resume", text);
        Assert.False(Directory.Exists(outFolder));
    }

    [Fact]
    public void Resume_with_a_different_model_config_is_refused_and_keeps_the_checkpoint()
    {
        string outFolder = _folder.Sub("out");
        string[] args = [.. TinyRunArgs(steps: 20), "--out", outFolder];
        using (var stop = new CancellationTokenSource())
        {
            // A first session, stopped after step 2 as Ctrl-C would.
            using var ctx = Conformance.TestBackends.Get("cpu").CreateContext();
            var settings = new FinetuneSettings
            {
                Run = new RunSettings
                {
                    OutputFolder = outFolder, Data = new DataSpec(DataSpec.Tokens, [_folder.Sub("train.u32")]),
                    Steps = 20, Batch = 4, MicroBatch = 2, Seq = 16, LearningRate = 0.01, SaveEvery = 2,
                },
                Model = new LoraModelSettings { ModelFolder = _folder.Sub("model"), Lora = new() { Rank = 2, Alpha = 4 } },
            };
            var data = Core.Data.TokenFile.Load(_folder.Sub("train.u32"), TrainingFixtures.Tiny.VocabSize, 16);
            using var run = new FinetuneRun(ctx, settings, data, null);
            Assert.False(run.Run((r, _) => { if (r.Step == 2) stop.Cancel(); }, stop.Token).Completed);
        }
        string checkpoint = Path.Combine(outFolder, TrainingCheckpoint.FileName);
        byte[] before = File.ReadAllBytes(checkpoint);
        // Same folder, different architecture (wider MLP): the config hash no longer matches.
        Directory.Delete(_folder.Sub("model"), recursive: true);
        TrainingFixtures.WriteModel(_folder.Sub("model"), TrainingFixtures.Tiny with { IntermediateSize = 32 });
        (int exit, string text) = Cli([.. args, "--resume"]);
        output.WriteLine(text);
        Assert.Equal(1, exit);
        Assert.Contains("--resume: the checkpoint in", text);
        Assert.Contains("model_config_sha256", text);
        Assert.Equal(before, File.ReadAllBytes(checkpoint));
        Assert.False(Directory.Exists(Path.Combine(outFolder, FinetuneRun.AdapterFolderName)));
    }

    [Fact]
    public void A_split_name_is_training_data_as_in_pretrain()
    {
        // A corpus cache holding one split (what `loraprune data fetch` leaves), and a model with LLaMA-2's vocabulary.
        string cache = _folder.Sub("cache");
        Directory.CreateDirectory(Path.Combine(cache, "splits"));
        File.WriteAllText(Path.Combine(cache, "manifest.json"), "{}");
        File.WriteAllText(Path.Combine(cache, "splits", "sotu-train.txt"), string.Concat(Enumerable.Repeat("We the people of the United States. ", 40)));
        TrainingFixtures.WriteModel(_folder.Sub("model32k"), TrainingFixtures.Tiny with { VocabSize = 32000 });
        string outFolder = _folder.Sub("out");
        (int exit, string text) = Cli(["finetune", "--model", _folder.Sub("model32k"), "--data", "sotu:train", "--cache", cache, "--device", "cpu",
            "--steps", "2", "--batch", "2", "--micro-batch", "2", "--seq", "16", "--out", outFolder]);
        output.WriteLine(text);
        Assert.Equal(0, exit);
        Assert.Contains($"data: {Path.Combine(cache, "splits", "sotu-train.txt")}", text);
        Assert.True(File.Exists(Path.Combine(outFolder, FinetuneRun.AdapterFolderName, PeftAdapter.WeightsFileName)));
        (exit, text) = Cli(["finetune", "--model", _folder.Sub("model32k"), "--data", "sotu:nope", "--cache", cache, "--device", "cpu", "--out", _folder.Sub("out2")]);
        Assert.Equal(1, exit);
        Assert.Contains("sotu:nope: unknown split", text);
        Assert.False(Directory.Exists(_folder.Sub("out2")));
    }

    [Fact]
    public void Bad_arguments_exit_2_with_one_line()
    {
        (int exit, string text) = Cli([.. TinyRunArgs(), "--data", _folder.Sub("x.txt"), "--out", _folder.Sub("out")]);
        Assert.Equal(2, exit);
        Assert.Equal("finetune: give exactly one of --data FILE|SPLIT..., --tokens FILE or --alpaca FILE", text.Trim());
        (exit, text) = Cli([.. With(With(TinyRunArgs(), "--batch", "6"), "--micro-batch", "4"), "--out", _folder.Sub("out")]);
        Assert.Equal(2, exit);
        Assert.Contains("--batch 6 must be a positive multiple of --micro-batch 4", text);
        Assert.False(Directory.Exists(_folder.Sub("out")));
    }

    [PosixFact]
    public void Killed_or_interrupted_runs_resume_to_the_uninterrupted_adapter_bytes()
    {
        const int Steps = 150;
        TrainingFixtures.WriteModel(_folder.Sub("model"), TrainingFixtures.Small);
        TrainingFixtures.WriteTokens(_folder.Sub("train.u32"), TrainingFixtures.RandomIds(64 * 32 + 1, TrainingFixtures.Small.VocabSize, seed: 2));
        string[] common = ["finetune", "--model", _folder.Sub("model"), "--tokens", _folder.Sub("train.u32"), "--device", "cpu",
            "--steps", $"{Steps}", "--batch", "4", "--micro-batch", "2", "--seq", "32", "--rank", "4", "--lr", "0.003", "--save-every", "10", "--seed", "9"];
        string whole = _folder.Sub("whole"), killed = _folder.Sub("killed"), interrupted = _folder.Sub("interrupted");

        using (CliProcess run = CliProcess.Start([.. common, "--out", whole])) Assert.True(run.Wait() == 0, run.Log);

        // SIGKILL once a periodic checkpoint exists: nothing can run after it, the checkpoint is all there is.
        using (CliProcess run = CliProcess.Start([.. common, "--out", killed]))
        {
            CliProcess.WaitFor(() => File.Exists(Path.Combine(killed, TrainingCheckpoint.FileName)), run, "the first checkpoint");
            run.Process.Kill();
            run.Process.WaitForExit();
        }
        using (TrainingCheckpoint saved = TrainingCheckpoint.Open(Path.Combine(killed, TrainingCheckpoint.FileName)))
        {
            output.WriteLine($"killed run: checkpoint at step {saved.Step}, metrics lines {File.ReadAllLines(Path.Combine(killed, MetricsLog.FileName)).Length}");
            Assert.InRange(saved.Step, 10, Steps - 1);
        }
        using (CliProcess run = CliProcess.Start([.. common, "--out", killed, "--resume"])) Assert.True(run.Wait() == 0, run.Log);

        // SIGTERM (Ctrl-C's SIGINT takes the same handler): the run finishes its step, writes a checkpoint and exits 130.
        using (CliProcess run = CliProcess.Start([.. common, "--out", interrupted]))
        {
            string metrics = Path.Combine(interrupted, MetricsLog.FileName);
            CliProcess.WaitFor(() => File.Exists(metrics) && File.ReadAllLines(metrics).Length >= 3, run, "three steps");
            Assert.Equal(0, CliProcess.SendSignal(run.Process.Id, CliProcess.SIGTERM));
            Assert.Equal(130, run.Wait());
            output.WriteLine(run.Log.Trim().Split('\n')[^1]);
            Assert.Contains("interrupted: checkpoint in", run.Log);
        }
        using (TrainingCheckpoint saved = TrainingCheckpoint.Open(Path.Combine(interrupted, TrainingCheckpoint.FileName)))
            Assert.InRange(saved.Step, 3, Steps - 1);
        using (CliProcess run = CliProcess.Start([.. common, "--out", interrupted, "--resume"])) Assert.True(run.Wait() == 0, run.Log);

        byte[] expected = File.ReadAllBytes(Path.Combine(whole, FinetuneRun.AdapterFolderName, PeftAdapter.WeightsFileName));
        Assert.Equal(expected, File.ReadAllBytes(Path.Combine(killed, FinetuneRun.AdapterFolderName, PeftAdapter.WeightsFileName)));
        Assert.Equal(expected, File.ReadAllBytes(Path.Combine(interrupted, FinetuneRun.AdapterFolderName, PeftAdapter.WeightsFileName)));
        Assert.Equal(Steps, File.ReadAllLines(Path.Combine(killed, MetricsLog.FileName)).Length);
        Assert.Equal(Steps, File.ReadAllLines(Path.Combine(interrupted, MetricsLog.FileName)).Length);
    }
}
