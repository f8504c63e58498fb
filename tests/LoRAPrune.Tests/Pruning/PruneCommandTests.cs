// PruneCommandTests.cs — `loraprune prune` end to end through the command line: every criterion on cpu and cudaemu
// writes the model, adapter, masks, report and plots, and the grad criterion's peak memory exceeds lora's; text data
// with a before/after evaluation; uniform mode writes a stock config; bad input exits 2 (or 1) with one line and
// nothing written; a SIGKILLed run resumes to the same bytes; `info --ratio` shows the plan.
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Pruning;
using LoRAPrune.Core.Training;
using LoRAPrune.Tests.Conformance;
using LoRAPrune.Tests.Training;
using Xunit.Abstractions;

namespace LoRAPrune.Tests.Pruning;

public sealed class PruneCommandTests(ITestOutputHelper output) : IDisposable
{
    private readonly TrainingFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static (int Exit, string Text) Cli(params string[] args)
    {
        var (exit, stdout, stderr) = CliRunner.Run(args);
        return (exit, stdout + stderr);
    }

    // A small GQA model (4 layers, 4 KV groups of 2 heads) and a token file.
    private string[] Common(int steps = 30, int saveEvery = 10)
    {
        string model = _folder.Sub("model"), tokens = _folder.Sub("train.u32");
        if (!Directory.Exists(model)) TrainingFixtures.WriteModel(model, PruneFixtures.Config, seed: 9, std: 0.3);
        if (!File.Exists(tokens)) TrainingFixtures.WriteTokens(tokens, TrainingFixtures.RandomIds(40 * 16 + 1, PruneFixtures.Config.VocabSize, seed: 4));
        return ["prune", "--model", model, "--tokens", tokens, "--steps", $"{steps}", "--batch", "4", "--micro-batch", "2", "--seq", "16",
            "--rank", "4", "--lr", "0.005", "--prune-freq", "5", "--save-every", $"{saveEvery}", "--eval", "none"];
    }

    public static IEnumerable<object[]> Criteria =>
        from device in new[] { "cpu", "cudaemu" }
        where TestBackends.Variants.Any(v => v.Name == device || v.Name.StartsWith(device + "/", StringComparison.Ordinal))
        from criterion in new[] { "lora", "grad", "magnitude", "random" }
        select new object[] { device, criterion };

    [Theory]
    [MemberData(nameof(Criteria))]
    public void Every_criterion_writes_the_model_adapter_masks_report_and_plots(string device, string criterion)
    {
        string outFolder = _folder.Sub("out");
        (int exit, string text) = Cli([.. Common(), "--criterion", criterion, "--device", device, "--out", outFolder]);
        output.WriteLine(text);
        Assert.True(exit == 0, text);
        Assert.Contains($"prune: criterion {criterion}, ratio 0.5", text);
        Assert.Contains("plan: heads 8 -> 6, KV groups 4 -> 3, MLP channels 48 -> 25 per prunable layer", text);

        LlamaConfig pruned = LlamaConfig.Load(Path.Combine(outFolder, "model", "config.json"));
        Assert.Equal([3, 3, 3, 4], Enumerable.Range(0, 4).Select(pruned.KeyValueHeads)); // floor(0.1 x 4) = 0 exempt first, the last layer exempt
        Assert.Equal([25, 25, 25, 48], Enumerable.Range(0, 4).Select(pruned.Intermediate));
        using (LlamaCheckpoint saved = LlamaCheckpoint.Open(Path.Combine(outFolder, "model"))) Assert.Equal(pruned.NumHiddenLayers, saved.Config.NumHiddenLayers);
        Assert.True(File.Exists(Path.Combine(outFolder, "adapter", PeftAdapter.WeightsFileName)));
        Assert.True(File.Exists(Path.Combine(outFolder, PruneRun.MasksFileName)));
        foreach (string png in new[] { PrunePlots.LossFile, PrunePlots.ScheduleFile, PrunePlots.WidthsFile, PrunePlots.ImportanceFile })
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(outFolder, png)).Take(4));
        string report = File.ReadAllText(Path.Combine(outFolder, PruneReport.FileName));
        Assert.Contains($"criterion **{criterion}**", report);
        Assert.Contains("| parameters |", report);
        Assert.Contains("Perplexity: no evaluation asked for", report);
        JsonObject[] metrics = File.ReadAllLines(Path.Combine(outFolder, MetricsLog.FileName)).Select(l => JsonNode.Parse(l)!.AsObject()).ToArray();
        Assert.Equal(30, metrics.Length);
        Assert.Equal([5L, 10, 15, 20, 25], metrics.Where(m => (bool?)m["prune_event"] == true).Select(m => (long)m["step"]! - 1));
        Assert.Equal(9, (int)metrics[^1]["kept_kv_groups"]!);   // 3 prunable layers x 3 groups
        Assert.Equal(75, (int)metrics[^1]["kept_channels"]!);   // 3 x 25
        PeakMemory[(device, criterion)] = PeakMiB(report);
    }

    // Peak allocator memory per (device, criterion), from the reports of the test above (same model, batch and steps).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string, string), double> PeakMemory = new();

    private static double PeakMiB(string report) =>
        long.Parse(Regex.Match(report, @"peak device memory while pruning \(allocator\) \| \| [0-9.,]+ MiB \(([0-9,]+) bytes\)").Groups[1].Value.Replace(",", "")) / 1048576.0;

    [Theory]
    [InlineData("cpu")]
    public void The_grad_criterion_needs_more_memory_than_lora(string device)
    {
        var peaks = new Dictionary<string, double>();
        foreach (string criterion in new[] { "lora", "grad" })
        {
            string outFolder = _folder.Sub($"out-{criterion}");
            (int exit, string text) = Cli([.. Common(steps: 12), "--criterion", criterion, "--device", device, "--out", outFolder]);
            Assert.True(exit == 0, text);
            peaks[criterion] = PeakMiB(File.ReadAllText(Path.Combine(outFolder, PruneReport.FileName)));
        }
        output.WriteLine($"peak allocator memory: lora {peaks["lora"]:F3} MiB, grad {peaks["grad"]:F3} MiB");
        // grad keeps an f32 dL/dW of every scored linear (3 layers x 7 projections, 23,040 floats here) for the whole run;
        // lora needs nothing of that size. The two peaks fall at different moments, so only the order is asserted here;
        // `loraprune bench step` measures the ratio at real shapes.
        Assert.True(peaks["grad"] > peaks["lora"], $"grad {peaks["grad"]} MiB vs lora {peaks["lora"]} MiB");
    }

    [Fact]
    public void Text_data_is_evaluated_before_and_after_with_protocol_lines()
    {
        string model = _folder.Sub("model32k");
        TrainingFixtures.WriteModel(model, PruneFixtures.Config with { VocabSize = 32000 }, seed: 9, std: 0.3);
        string text = _folder.Sub("speech.txt"), held = _folder.Sub("held-out.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("We the people of the United States, in order to form a more perfect union. ", 60)));
        File.WriteAllText(held, string.Concat(Enumerable.Repeat("Four score and seven years ago our fathers brought forth on this continent a new nation. ", 10)));
        string outFolder = _folder.Sub("out");
        (int exit, string log) = Cli(["prune", "--model", model, "--data", text, "--device", "cpu", "--steps", "20", "--batch", "2", "--micro-batch", "2",
            "--seq", "16", "--prune-freq", "4", "--eval", held, "--eval-window", "16", "--out", outFolder]);
        output.WriteLine(log);
        Assert.True(exit == 0, log);
        string report = File.ReadAllText(Path.Combine(outFolder, PruneReport.FileName));
        Assert.Matches(@"\| perplexity held-out.txt:file \(window 16\) \| [0-9.]+ \| [0-9.]+ \|", report);
        Assert.Equal(2, Regex.Matches(report, "dataset=held-out.txt split=file window=16 stride=16 .* ppl=").Count);
        // The pruned model is self-contained: its tokenizer travelled with it.
        Assert.True(File.Exists(Path.Combine(outFolder, "model", "tokenizer.model")));
    }

    [Fact]
    public void Uniform_mode_writes_a_stock_config_with_channels_a_multiple_of_8()
    {
        string outFolder = _folder.Sub("out");
        (int exit, string text) = Cli([.. Common(), "--uniform", "--device", "cpu", "--out", outFolder]);
        Assert.True(exit == 0, text);
        string json = File.ReadAllText(Path.Combine(outFolder, "model", "config.json"));
        Assert.DoesNotContain("loraprune_", json);
        LlamaConfig config = LlamaConfig.Load(Path.Combine(outFolder, "model", "config.json"));
        Assert.True(config.IsUniform);
        Assert.Equal(3, config.NumKeyValueHeads);
        Assert.Equal(32, config.IntermediateSize); // 25 kept by the floor, rounded up to a multiple of 8
        Assert.Equal(6, config.NumAttentionHeads);
    }

    [Fact]
    public void Bad_arguments_exit_with_one_line_and_write_nothing()
    {
        string outFolder = _folder.Sub("out");
        (string[] Args, int Steps, int Exit, string Message)[] cases =
        [
            (["--ratio", "1.5"], 30, 2, "--ratio must be in (0, 1), got 1.5"),
            (["--ratio", "0.3", "--target-params", "0.7"], 30, 2, "give --ratio or --target-params, not both"),
            (["--compact", "progressive", "--score-norm", "all"], 30, 2, "--compact progressive removes pruned groups"),
            (["--uniform", "--exempt-last", "1"], 30, 2, "--uniform prunes every layer to the same width"),
            (["--targets", "gate,up,down"], 30, 2, "--targets has no attention projection"),
            (["--criterion", "taylor"], 30, 2, "taylor"),
            ([], 4, 1, "the schedule has no prune event in 4 steps"),
            (["--target-params", "0.01"], 30, 1, "--target-params 0.01: even --ratio"),
        ];
        foreach ((string[] args, int steps, int expectedExit, string message) in cases)
        {
            (int exit, string text) = Cli([.. Common(steps), .. args, "--device", "cpu", "--out", outFolder]);
            output.WriteLine($"{string.Join(" ", args)} -> {exit}: {text.Trim()}");
            Assert.Equal(expectedExit, exit);
            Assert.Contains(message, text);
            Assert.False(Directory.Exists(outFolder), $"{string.Join(" ", args)} left {outFolder} behind");
        }
    }

    [PosixFact]
    public void A_killed_prune_resumes_to_the_bytes_of_an_uninterrupted_one()
    {
        string whole = _folder.Sub("whole"), killed = _folder.Sub("killed");
        string[] args = [.. Common(steps: 60, saveEvery: 1), "--device", "cpu", "--lora-dropout", "0.1"];
        using (CliProcess run = CliProcess.Start([.. args, "--out", whole])) Assert.True(run.Wait() == 0, run.Log);
        // SIGKILL as soon as the second prune event's step is in metrics.jsonl: the checkpoint of that step or the next
        // is all there is.
        string metrics = Path.Combine(killed, MetricsLog.FileName);
        using (CliProcess run = CliProcess.Start([.. args, "--out", killed]))
        {
            CliProcess.WaitFor(() => File.Exists(metrics) && File.ReadAllLines(metrics).Count(l => l.Contains("\"prune_event\":true")) >= 2, run, "the second prune event");
            run.Process.Kill();
            run.Process.WaitForExit();
        }
        using (TrainingCheckpoint checkpoint = TrainingCheckpoint.Open(Path.Combine(killed, TrainingCheckpoint.FileName)))
        {
            output.WriteLine($"killed at checkpoint step {checkpoint.Step}");
            Assert.InRange(checkpoint.Step, 10, 59);
        }
        using (CliProcess run = CliProcess.Start([.. args, "--out", killed, "--resume"])) Assert.True(run.Wait() == 0, run.Log);
        foreach (string file in new[] { "model/model.safetensors", "adapter/adapter_model.safetensors", PruneRun.MasksFileName })
            Assert.True(File.ReadAllBytes(Path.Combine(whole, file)).SequenceEqual(File.ReadAllBytes(Path.Combine(killed, file))), $"{file} differs");
    }

    [Fact]
    public void Info_shows_what_a_ratio_removes_before_a_run()
    {
        string config = _folder.Sub("llama7b.json");
        LlamaConfigWriter.Save(ScheduleAndPlanTests.Llama7B, config);
        (int exit, string text) = Cli(["info", "--config", config, "--ratio", "0.5", "--steps", "40400"]);
        Assert.True(exit == 0, text);
        Assert.Contains("prune plan", text);
        Assert.Matches(@"\n\s*3\s+yes\s+32 -> 17\s+32 -> 17\s+11,008 -> 5,505", text);
        Assert.Matches(@"\n\s*31\s+exempt\s+32 -> 32", text);
        Assert.Contains("6,738,415,616 -> 3,964,227,584", text);
        Assert.Matches(@"it\s+removes\s+41\.2\s%\s+of\s+all\s+parameters", text);
        (exit, text) = Cli(["info", "--config", config]);
        Assert.DoesNotContain("prune plan", text); // only when asked
    }
}
