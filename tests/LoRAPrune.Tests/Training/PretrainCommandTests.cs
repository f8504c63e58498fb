// PretrainCommandTests.cs — `loraprune pretrain` end to end on the cpu backend with a tiny config: the output
// folder (metrics, checkpoint, model folder with recipe.json), continuing from a saved model with --init-model,
// --resume after a stopped session giving the uninterrupted model's bytes, and bad input answered with one line,
// a non-zero exit code and nothing written.
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Training;
using Xunit.Abstractions;

namespace LoRAPrune.Tests.Training;

public sealed class PretrainCommandTests(ITestOutputHelper output) : IDisposable
{
    private const int Seq = 16;
    private readonly TrainingFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static (int ExitCode, string Output) Cli(params string[] args)
    {
        var (exit, output, error) = CliRunner.Run(args);
        return (exit, output + error);
    }

    private string ConfigFile(LlamaConfig? config = null, string name = "config.json")
    {
        string path = _folder.Sub(name);
        LlamaConfigWriter.Save(config ?? TrainingFixtures.Tiny, path);
        return path;
    }

    private string TokenFile(string name = "train.u32", int blocks = 40, int phase = 0)
    {
        string path = _folder.Sub(name);
        if (!File.Exists(path)) TrainingFixtures.WriteTokens(path, TrainingFixtures.Pattern(blocks * Seq + 1, TrainingFixtures.Tiny.VocabSize, phase));
        return path;
    }

    // The arguments of a short run of the tiny config on the pattern, into <out>.
    private string[] RunArgs(string outName, int steps = 10) =>
        ["pretrain", "--config", ConfigFile(), "--tokens", TokenFile(), "--out", _folder.Sub(outName), "--device", "cpu", "--steps", $"{steps}",
         "--batch", "4", "--micro-batch", "2", "--seq", $"{Seq}", "--lr", "0.01", "--save-every", "4", "--seed", "3"];

    [Fact]
    public void Pretrain_writes_metrics_a_checkpoint_and_a_model_folder_with_its_recipe()
    {
        string eval = TokenFile("eval.u32", blocks: 6, phase: 7);
        string[] args = [.. RunArgs("out"), "--eval-data", eval, "--eval-every", "5"];
        (int exit, string text) = Cli(args);
        output.WriteLine(text);
        Assert.Equal(0, exit);
        Assert.Contains("step 10/10", text);
        Assert.Contains("pretrain: steps 0->10 of 10", text);
        Assert.DoesNotContain("\u001b[", text);
        string outFolder = _folder.Sub("out"), model = Path.Combine(outFolder, PretrainRun.ModelFolderName);
        string[] metrics = File.ReadAllLines(Path.Combine(outFolder, MetricsLog.FileName));
        Assert.Equal(10, metrics.Length);
        Assert.Contains("\"eval_loss\":", metrics[4]);
        Assert.Equal(metrics, File.ReadAllLines(Path.Combine(model, MetricsLog.FileName)));
        using (TrainingCheckpoint checkpoint = TrainingCheckpoint.Open(Path.Combine(outFolder, TrainingCheckpoint.FileName)))
            Assert.Equal(10, checkpoint.Step);
        using (LlamaCheckpoint saved = LlamaCheckpoint.Open(model))
        {
            Assert.Equal(TrainingFixtures.Tiny.HiddenSize, saved.Config.HiddenSize);
            Assert.Equal(SafetensorsDType.F16, saved.Tensors.GetTensor(LlamaTensorLayout.EmbedTokens).DType);
        }
        var recipe = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(model, PretrainRun.RecipeFileName)))!;
        Assert.Equal("loraprune " + string.Join(" ", args), recipe["commands"]![0]!.GetValue<string>());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(TokenFile()))), recipe["data"]!["files"]![0]!["sha256"]!.GetValue<string>());
        Assert.Equal(3, recipe["training"]!["seed"]!.GetValue<int>());
        double evalLoss = recipe["result"]!["eval_loss"]!.GetValue<double>();
        Assert.Equal(Math.Exp(evalLoss), recipe["result"]!["eval_perplexity"]!.GetValue<double>(), 12);
        Assert.Contains($"eval loss {MetricsLog.Format(evalLoss)}", text);
        Assert.Empty(Directory.GetFiles(outFolder, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void Init_model_continues_from_a_saved_model_folder()
    {
        (int exit, string text) = Cli([.. RunArgs("first", steps: 30)]);
        Assert.True(exit == 0, text);
        string first = Path.Combine(_folder.Sub("first"), PretrainRun.ModelFolderName);
        double lastLoss = JsonNode.Parse(File.ReadAllLines(Path.Combine(first, MetricsLog.FileName))[^1])!["loss"]!.GetValue<double>();

        string[] args = RunArgs("second", steps: 2);
        args[Array.IndexOf(args, "--config")] = "--init-model";
        args[Array.IndexOf(args, "--init-model") + 1] = first;
        (exit, text) = Cli(args);
        output.WriteLine(text);
        Assert.True(exit == 0, text);
        Assert.Contains($"model: init {first}", text);
        double firstLoss = JsonNode.Parse(File.ReadAllLines(Path.Combine(_folder.Sub("second"), MetricsLog.FileName))[0])!["loss"]!.GetValue<double>();
        output.WriteLine($"first run ended at loss {lastLoss:F4}; the continued run starts at {firstLoss:F4}");
        Assert.True(firstLoss < lastLoss + 0.2, $"the continued run starts at loss {firstLoss}, not near {lastLoss}");
        Assert.True(firstLoss < 0.5 * Math.Log(TrainingFixtures.Tiny.VocabSize));
    }

    [Fact]
    public void Resume_after_a_stopped_session_gives_the_uninterrupted_model_bytes()
    {
        const int Steps = 14;
        (int exit, string text) = Cli(RunArgs("whole", Steps));
        Assert.True(exit == 0, text);

        // A first session with the settings the command line gives, stopped after step 6 as Ctrl-C would stop it.
        var settings = new PretrainSettings
        {
            ConfigFile = ConfigFile(),
            Run = new RunSettings
            {
                OutputFolder = _folder.Sub("resumed"), Data = new DataSpec(DataSpec.Tokens, [TokenFile()]), Steps = Steps,
                Batch = 4, MicroBatch = 2, Seq = Seq, LearningRate = 0.01, SaveEvery = 4, Seed = 3, CommandLine = "first session",
            },
        };
        using (var stop = new CancellationTokenSource())
        using (var ctx = Conformance.TestBackends.Get("cpu").CreateContext())
        {
            LlamaConfig config = settings.LoadConfig();
            using var run = new PretrainRun(ctx, settings, config, TrainingData.Open(settings.Run, null, config), null);
            Assert.False(run.Run((r, _) => { if (r.Step == 6) stop.Cancel(); }, stop.Token).Completed);
        }
        (exit, text) = Cli([.. RunArgs("resumed", Steps), "--resume"]);
        output.WriteLine(text);
        Assert.True(exit == 0, text);
        Assert.Contains("resuming at step 6 of 14", text);
        string Weights(string run) => Path.Combine(_folder.Sub(run), PretrainRun.ModelFolderName, "model.safetensors");
        Assert.Equal(File.ReadAllBytes(Weights("whole")), File.ReadAllBytes(Weights("resumed")));
        var recipe = JsonNode.Parse(File.ReadAllText(Path.Combine(_folder.Sub("resumed"), PretrainRun.ModelFolderName, PretrainRun.RecipeFileName)))!;
        Assert.Equal(new[] { "first session", "loraprune " + string.Join(" ", RunArgs("resumed", Steps)) + " --resume" },
                     recipe["commands"]!.AsArray().Select(c => c!.GetValue<string>()).ToArray());
    }

    [Fact]
    public void Named_splits_train_with_llama2_and_init_model_reuses_the_saved_tokenizer()
    {
        // A corpus cache as `loraprune data fetch` leaves it: split texts and a manifest.
        var cache = new Core.Data.DataCache(_folder.Sub("cache"));
        Directory.CreateDirectory(cache.SplitsFolder);
        File.WriteAllText(cache.ManifestPath, "{}");
        File.WriteAllText(Path.Combine(cache.SplitsFolder, Core.Data.CorpusSplits.SotuTrain.FileName),
            string.Concat(Enumerable.Repeat("We the people of the United States, in order to form a more perfect union.\n\n", 12)));
        File.WriteAllText(Path.Combine(cache.SplitsFolder, Core.Data.CorpusSplits.SotuValid.FileName),
            string.Concat(Enumerable.Repeat("Establish justice, insure domestic tranquility.\n\n", 6)));
        string[] common = ["--data", "sotu:train", "--eval-data", "sotu:valid", "--cache", cache.Root, "--device", "cpu", "--steps", "2",
            "--batch", "2", "--micro-batch", "2", "--seq", $"{Seq}"];

        (int exit, string text) = Cli(["pretrain", "--config", ConfigFile(TrainingFixtures.Tiny with { VocabSize = 32000 }), "--tokenizer", "llama2",
            "--out", _folder.Sub("first"), .. common]);
        output.WriteLine(text);
        Assert.True(exit == 0, text);
        string first = Path.Combine(_folder.Sub("first"), PretrainRun.ModelFolderName);
        var recipe = JsonNode.Parse(File.ReadAllText(Path.Combine(first, PretrainRun.RecipeFileName)))!;
        Assert.Equal("sotu:train", recipe["data"]!["files"]![0]!["spec"]!.GetValue<string>());
        Assert.Equal("sotu:valid", recipe["eval_data"]!["files"]![0]!["spec"]!.GetValue<string>());
        Assert.NotNull(recipe["result"]!["eval_perplexity"]);

        (exit, text) = Cli(["pretrain", "--init-model", first, "--out", _folder.Sub("second"), .. common]);
        output.WriteLine(text);
        Assert.True(exit == 0, text);
        string second = Path.Combine(_folder.Sub("second"), PretrainRun.ModelFolderName);
        Assert.Equal(File.ReadAllBytes(Path.Combine(first, "tokenizer.model")), File.ReadAllBytes(Path.Combine(second, "tokenizer.model")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(first, "tokenizer_config.json")), File.ReadAllBytes(Path.Combine(second, "tokenizer_config.json")));
        recipe = JsonNode.Parse(File.ReadAllText(Path.Combine(second, PretrainRun.RecipeFileName)))!;
        Assert.Equal(first, recipe["tokenizer"]!["source"]!.GetValue<string>());
    }

    // One line on stderr, the exit code, and no output folder.
    private void AssertRefused(string[] args, int exitCode, string expected)
    {
        (int exit, string text) = Cli(args);
        output.WriteLine(text);
        Assert.Equal(exitCode, exit);
        Assert.Single(text.Trim().Split('\n'));
        Assert.Contains(expected, text);
        Assert.False(Directory.Exists(args[Array.IndexOf(args, "--out") + 1]));
    }

    private static string[] With(string[] args, string option, string value)
    {
        string[] copy = (string[])args.Clone();
        copy[Array.IndexOf(copy, option) + 1] = value;
        return copy;
    }

    [Fact]
    public void Bad_input_is_one_line_a_non_zero_exit_and_writes_nothing()
    {
        string[] args = RunArgs("out");
        string badHeads = _folder.Sub("bad-heads.json");
        File.WriteAllText(badHeads, """{"model_type": "llama", "hidden_size": 16, "num_attention_heads": 3, "intermediate_size": 24, "num_hidden_layers": 2, "vocab_size": 50}""");
        AssertRefused(With(args, "--config", badHeads), 1, "pretrain: bad-heads.json: num_attention_heads=3 does not divide hidden_size=16");
        AssertRefused(With(args, "--config", _folder.Sub("none.json")), 1, $"pretrain: --config: file {_folder.Sub("none.json")} does not exist");
        AssertRefused(With(args, "--tokens", _folder.Sub("none.u32")), 1, $"pretrain: {_folder.Sub("none.u32")}: file does not exist");

        string text = _folder.Sub("train.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("Some plain training text. ", 50)));
        string[] textArgs = [.. args.Where((a, i) => a != "--tokens" && (i == 0 || args[i - 1] != "--tokens")), "--data", text];
        AssertRefused([.. textArgs, "--tokenizer", "llama2"], 1, "has 32000 ids but the config's vocab_size is 50");
        AssertRefused(textArgs, 1, "the text data needs a tokenizer and vocab_size 50 is not LLaMA-2's 32000");
        AssertRefused([.. textArgs, "--tokenizer", _folder.Sub("no-tokenizer")], 1, "is neither 'llama2' nor an existing model folder or tokenizer file");

        AssertRefused(With(args, "--seq", "128"), 1, "--seq 128 is longer than the config's max_position_embeddings 64");
        AssertRefused([.. args, "--init-model", _folder.Path], 2, "pretrain: give exactly one of --config FILE or --init-model DIR");
        AssertRefused([.. args, "--data", text], 2, "pretrain: give exactly one of --data FILE|SPLIT... or --tokens FILE");
        AssertRefused(With(args, "--batch", "5"), 2, "--batch 5 must be a positive multiple of --micro-batch 2");
        AssertRefused([.. args, "--resume"], 1, "--resume: no checkpoint.safetensors in");
    }
}
