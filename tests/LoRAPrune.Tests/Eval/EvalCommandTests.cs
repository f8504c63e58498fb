// EvalCommandTests.cs — `loraprune eval` end to end through the real command tree on model folders the
// tests write: protocol lines, eval.json and metrics.jsonl contents, token files and text (LLaMA-2
// tokenizer), LoRA adapters, and the exit codes of bad input (1: data or model errors, 2: usage).
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LoRAPrune.Cli;
using LoRAPrune.Core.Eval;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Text;
using LoRAPrune.Native;
using LoRAPrune.Tests.Conformance;
using LoRAPrune.Tests.Data;
using LoRAPrune.Tests.IO;

namespace LoRAPrune.Tests.Eval;

public sealed class EvalCommandTests
{
    private static (int Exit, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [Fact]
    public void Token_file_eval_prints_protocol_lines_and_writes_eval_json_and_metrics()
    {
        using var dir = new TempFolder();
        string model = dir.File("model");
        TinyLlama.SaveModel(model, TinyLlama.Config());
        int[] ids = PerplexityProtocolTests.RandomIds(100, 50, seed: 5);
        TextSourceTests.WriteIds(dir.File("t.bin"), ids);
        string outDir = dir.File("out");

        (int exit, string stdout, string stderr) = Run("eval", "--model", model, "--tokens", dir.File("t.bin"), "--window", "8", "16",
                                                       "--device", "cpu", "--batch", "5", "--out", outDir);
        Assert.True(exit == 0, stderr);
        string modelSha;
        using (LlamaCheckpoint checkpoint = LlamaCheckpoint.Open(model)) modelSha = ModelFingerprint.OfModel(checkpoint).Sha256;
        string[] lines = Lines(stdout);
        Assert.Matches($"^dataset=t.bin split=tokens window=8 stride=8 windows=12 predicted=84 bos=none-pretokenized model_sha256={modelSha} adapter_sha256=none device=cpu dtype=f32 ppl=[0-9.]+ nll=[0-9.]+$", lines[0]);
        Assert.Matches("^dataset=t.bin split=tokens window=16 stride=16 windows=6 predicted=90 ", lines[1]);
        Assert.Contains(EvalReport.Caveat, stdout);
        Assert.DoesNotContain("\u001b[", stdout);

        // The numbers are the protocol function's, on the same weights.
        double expected;
        using (Context ctx = TestBackends.Get("cpu").CreateContext())
        using (LlamaCheckpoint checkpoint = LlamaCheckpoint.Open(model))
        using (LlamaWeights weights = LlamaWeights.Load(ctx, checkpoint, LpDType.F32))
            expected = PerplexityProtocol.Evaluate(weights, null, ids, 8, 1).Perplexity;
        Assert.Contains($" ppl={expected.ToString("F4", CultureInfo.InvariantCulture)} ", lines[0]);

        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, EvalReport.JsonFileName)));
        JsonElement root = json.RootElement;
        Assert.Equal(modelSha, root.GetProperty("model").GetProperty("sha256").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("adapter").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("tokenizer").ValueKind);
        Assert.Equal(5, root.GetProperty("batch").GetInt32());
        JsonElement first = root.GetProperty("results")[0];
        Assert.Equal(12, first.GetProperty("windows").GetInt32());
        Assert.Equal(84, first.GetProperty("predicted_tokens").GetInt64());
        Assert.Equal(100, first.GetProperty("tokens").GetInt32());
        Assert.Equal("none-pretokenized", first.GetProperty("bos").GetString());
        double nll = first.GetProperty("nll_mean").GetDouble();
        Assert.Equal(first.GetProperty("nll_sum").GetDouble() / 84, nll, 1e-12);
        Assert.Equal(Math.Exp(nll), first.GetProperty("ppl").GetDouble(), 1e-9);
        Assert.Equal(expected, first.GetProperty("ppl").GetDouble(), expected * 1e-5);

        string metrics = Path.Combine(outDir, EvalReport.MetricsFileName);
        Assert.Equal(2, File.ReadAllLines(metrics).Length);
        Assert.Equal(0, Run("eval", "--model", model, "--tokens", dir.File("t.bin"), "--window", "8", "--device", "cpu", "--out", outDir).Exit);
        string[] appended = File.ReadAllLines(metrics);
        Assert.Equal(3, appended.Length);
        using JsonDocument line = JsonDocument.Parse(appended[2]);
        Assert.Equal("eval", line.RootElement.GetProperty("event").GetString());
        Assert.Equal(8, line.RootElement.GetProperty("window").GetInt32());
        Assert.Equal(["eval.json", "metrics.jsonl"], Directory.EnumerateFileSystemEntries(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Text_files_use_the_explicit_LLaMA2_tokenizer_with_one_BOS_and_adapters_are_fingerprinted()
    {
        using var dir = new TempFolder();
        string model = dir.File("model");
        LlamaConfig config = TinyLlama.Config() with { VocabSize = 32000 };
        TinyLlama.SaveModel(model, config);
        string text = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 12));
        File.WriteAllText(dir.File("doc.txt"), text);
        int tokens = TokenizerLoader.LoadLlama2Default().Encode(text, addBos: true).Length;

        string adapter = dir.File("adapter");
        using (Context ctx = TestBackends.Get("cpu").CreateContext())
        using (LoraAdapters lora = LoraAdapters.Create(ctx, config, new LoraOptions { Rank = 2, Alpha = 4 }, seed: 3))
        {
            float[] values = lora.Params.Download();
            var rng = new Random(2);
            for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() - 0.5);
            lora.Params.Upload(values);
            lora.ToPeft().Save(adapter);
        }

        (int exit, string stdout, string stderr) = Run("eval", "--model", model, "--data", dir.File("doc.txt"), "--tokenizer", "llama2", "--window", "16", "--device", "cpu");
        Assert.True(exit == 0, stderr);
        string plain = Lines(stdout)[0];
        Assert.StartsWith($"dataset=doc.txt split=file window=16 stride=16 windows={tokens / 16} predicted={tokens / 16 * 15} bos=single-bos-at-start ", plain);
        Assert.Contains("adapter_sha256=none", plain);

        (exit, stdout, stderr) = Run("eval", "--model", model, "--adapter", adapter, "--data", dir.File("doc.txt"), "--tokenizer", "llama2",
                                     "--window", "16", "--device", "cpu", "--dtype", "bf16");
        Assert.True(exit == 0, stderr);
        string adapted = Lines(stdout)[0];
        Assert.Contains($"adapter_sha256={ModelFingerprint.OfAdapter(adapter).Sha256} device=cpu dtype=bf16 ", adapted);
        Assert.NotEqual(plain[plain.IndexOf(" ppl=", StringComparison.Ordinal)..], adapted[adapted.IndexOf(" ppl=", StringComparison.Ordinal)..]);
    }

    [Fact]
    public void Text_data_without_a_tokenizer_in_the_model_folder_is_an_error_with_a_hint()
    {
        using var dir = new TempFolder();
        TinyLlama.SaveModel(dir.File("model"), TinyLlama.Config());
        File.WriteAllText(dir.File("doc.txt"), "some text");
        (int exit, string stdout, string stderr) = Run("eval", "--model", dir.File("model"), "--data", dir.File("doc.txt"), "--device", "cpu");
        Assert.Equal(1, exit);
        Assert.Empty(stdout);
        Assert.Single(Lines(stderr));
        Assert.Contains("no tokenizer.json or tokenizer.model", stderr);
        Assert.Contains("--tokenizer llama2", stderr);

        // A tokenizer bigger than the model's vocabulary cannot be used with it.
        (exit, _, stderr) = Run("eval", "--model", dir.File("model"), "--data", dir.File("doc.txt"), "--tokenizer", "llama2", "--device", "cpu");
        Assert.Equal(1, exit);
        Assert.Contains("but the model's vocab_size is 50", stderr);
    }

    [Fact]
    public void Bad_model_folders_are_exit_1_naming_the_file()
    {
        using var dir = new TempFolder();
        TextSourceTests.WriteIds(dir.File("t.bin"), PerplexityProtocolTests.RandomIds(40, 50, seed: 1));
        string model = dir.File("model");
        TinyLlama.SaveModel(model, TinyLlama.Config());
        byte[] weights = File.ReadAllBytes(Path.Combine(model, "model.safetensors"));
        File.WriteAllBytes(Path.Combine(model, "model.safetensors"), weights[..(weights.Length / 2)]);
        (int exit, string stdout, string stderr) = Run("eval", "--model", model, "--tokens", dir.File("t.bin"), "--window", "8", "--out", dir.File("out"));
        Assert.Equal(1, exit);
        Assert.Empty(stdout);
        Assert.StartsWith("eval: model.safetensors: ", stderr);
        Assert.False(Directory.Exists(dir.File("out")));

        TinyLlama.SaveModel(model, TinyLlama.Config());
        (exit, _, stderr) = Run("eval", "--model", model, "--adapter", dir.File("no-adapter"), "--tokens", dir.File("t.bin"), "--window", "8");
        Assert.Equal(1, exit);
        Assert.StartsWith("eval: adapter_config.json: ", stderr);

        File.Delete(Path.Combine(model, "config.json"));
        (exit, _, stderr) = Run("eval", "--model", model, "--tokens", dir.File("t.bin"), "--window", "8");
        Assert.Equal(1, exit);
        Assert.Contains("config.json", stderr);
    }

    [Fact]
    public void Missing_data_is_exit_1_and_bad_numbers_are_usage_errors()
    {
        using var dir = new TempFolder();
        string model = dir.File("model");
        TinyLlama.SaveModel(model, TinyLlama.Config());
        TextSourceTests.WriteIds(dir.File("t.bin"), PerplexityProtocolTests.RandomIds(20, 50, seed: 1));
        TextSourceTests.WriteIds(dir.File("bad.bin"), [1, 2, 77]);

        (int exit, _, string stderr) = Run("eval", "--model", model, "--cache", dir.File("empty-cache"), "--data", "sotu:test");
        Assert.Equal(1, exit);
        Assert.Contains("sotu:test: not in the data cache", stderr);
        Assert.Contains("run `loraprune data fetch` first", stderr);

        (exit, _, stderr) = Run("eval", "--model", model, "--cache", dir.File("empty-cache"));
        Assert.Equal(1, exit); // the default data sets are sotu:test and brown:test
        Assert.Contains("sotu:test", stderr);

        (exit, _, stderr) = Run("eval", "--model", model, "--data", dir.File("missing.txt"));
        Assert.Equal(1, exit);
        Assert.Contains("missing.txt: file does not exist", stderr);

        (exit, _, stderr) = Run("eval", "--model", model, "--tokens", dir.File("bad.bin"), "--window", "2");
        Assert.Equal(1, exit);
        Assert.Contains("token id 77 at byte offset 8", stderr);

        (exit, _, stderr) = Run("eval", "--model", model, "--tokens", dir.File("t.bin"), "--window", "32");
        Assert.Equal(1, exit);
        Assert.Contains("only 20 tokens, fewer than one window of 32", stderr);

        Assert.Equal(2, Run("eval", "--model", model, "--tokens", dir.File("t.bin"), "--window", "1").Exit);
        Assert.Equal(2, Run("eval", "--model", model, "--tokens", dir.File("t.bin"), "--batch", "0").Exit);
    }
}
