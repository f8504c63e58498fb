// InfoCommandTests.cs — `loraprune info` through the real command tree: LLaMA-7B's config gives its
// published parameter count, a tiny model folder and a pruned config get their tables (per-layer widths
// for the pruned one), a Qwen2 folder lists its biases, and bad input gives one stderr line and a non-zero exit code.
using System.CommandLine;
using LoRAPrune.Cli;
using LoRAPrune.Core.IO;
using LoRAPrune.Tests.IO;
using LoRAPrune.Tests.Model;

namespace LoRAPrune.Tests.Inference;

public sealed class InfoCommandTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static (int Exit, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    private static string Line(string text, string start) =>
        text.Split('\n').Select(l => l.TrimEnd('\r')).First(l => l.TrimStart().StartsWith(start, StringComparison.Ordinal));

    [Fact]
    public void Llama_7b_config_gives_the_published_count_and_a_memory_table()
    {
        string path = _folder.File("config.json");
        ParameterCountsTests.Llama7B.Save(path);
        var run = Run("info", "--config", path);
        Assert.True(run.Exit == 0, run.Err);
        Assert.Matches(@"^total\s+6,738,415,616\s+100\.00%$", Line(run.Out, "total ").Trim());
        Assert.Contains("19,988,480", Line(run.Out, "LoRA r=8"));
        Assert.Contains("32 x (11008, 4096)", Line(run.Out, "MLP gate_proj"));
        // One LM-head chunk: 64 MiB / (32000 x 4 bytes) = 524 rows, 512 as a multiple of 64, not all 1024 tokens' logits.
        Assert.Matches(@"^logits, one LM-head chunk \(512, 32000\) f32(\s+62\.50 MiB){4}$", Line(run.Out, "logits, ").Trim());
        Assert.Matches(@"^base weights\s+25\.10 GiB\s+12\.55 GiB\s+25\.10 GiB\s+12\.55 GiB$", Line(run.Out, "base weights").Trim());
        Assert.Contains("grad criterion would add", run.Out);
        Assert.DoesNotContain("per-layer widths", run.Out);
        Assert.Equal("", run.Err);
    }

    [Fact]
    public void A_model_folder_and_a_pruned_config_are_summarised()
    {
        string model = _folder.File("tiny");
        TinyLlama.SaveModel(model, EngineGradientTests.TinyConfig);
        var run = Run("info", "--model", model, "--batch", "2", "--seq", "70", "--lora-rank", "2");
        Assert.True(run.Exit == 0, run.Err);
        Assert.Matches(@"^total\s+5,520\s+100\.00%$", Line(run.Out, "total ").Trim());
        Assert.Contains("(GQA, 2 query heads per group)", run.Out);
        Assert.Contains("LoRA r=2", run.Out);
        Assert.Contains("logits, one LM-head chunk (140, 50) f32", run.Out);

        string pruned = _folder.File("pruned.json");
        EngineGradientTests.TinyConfig.WithLayerWidths([4, 2], [2, 1], [24, 9]).Save(pruned);
        run = Run("info", "--config", pruned);
        Assert.True(run.Exit == 0, run.Err);
        Assert.Contains("per-layer widths (pruned model)", run.Out);
        Assert.Contains("per layer, 2..4 (unpruned 4)", Line(run.Out, "attention heads"));
        Assert.Matches(@"^1\s+2\s+1\s+9\s+", Line(run.Out, "1 ").Trim());
    }

    [Fact]
    public void A_qwen2_model_lists_its_projection_biases()
    {
        string model = _folder.File("qwen2");
        TinyLlama.SaveModel(model, TinyLlama.Qwen2Config());
        var run = Run("info", "--model", model);
        Assert.True(run.Exit == 0, run.Err);
        // q (16) + k (8) + v (8) per layer, two layers; lm_head tied: 800 + 3840 + 80 + 64.
        Assert.Matches(@"^projection biases\s+2 x \(q_proj, k_proj, v_proj\)\s+64\s+", Line(run.Out, "projection biases").Trim());
        Assert.Matches(@"^total\s+4,784\s+100\.00%$", Line(run.Out, "total ").Trim());
    }

    [Fact]
    public void Bad_input_gives_one_line_and_a_non_zero_exit()
    {
        string broken = _folder.File("broken.json");
        File.WriteAllText(broken, "{\"model_type\": \"llama\", \"hidden_size\": 0}");
        (string[] Args, int Exit, string Message)[] cases =
        [
            (["info"], 2, "exactly one of --model and --config"),
            (["info", "--config", broken, "--model", _folder.Path], 2, "exactly one of --model and --config"),
            (["info", "--config", _folder.File("missing.json")], 2, "does not exist"),
            (["info", "--model", _folder.File("missing")], 2, "does not exist"),
            (["info", "--model", _folder.Path], 1, "config.json does not exist"),
            (["info", "--config", broken], 1, "broken.json"),
        ];
        foreach (var (args, exit, message) in cases)
        {
            var run = Run(args);
            Assert.True(run.Exit == exit, $"{string.Join(' ', args)}: exit {run.Exit}, stderr {run.Err}");
            Assert.Contains(message, run.Err);
            Assert.Single(run.Err.Trim().Split('\n'));
            Assert.Equal("", run.Out);
        }
        var parse = Run("info", "--config", broken, "--batch", "0");
        Assert.NotEqual(0, parse.Exit);
        Assert.Contains("--batch must be at least 1", parse.Err);
    }
}
