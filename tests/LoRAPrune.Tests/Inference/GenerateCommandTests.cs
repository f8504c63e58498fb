// GenerateCommandTests.cs — `loraprune generate` through the real command tree on tiny model folders the
// tests write (cpu backend): text prompts with the folder's tokenizer, raw --prompt-ids, reproducible
// output per seed, and one clear stderr line with a non-zero exit code for each kind of bad input.
using System.CommandLine;
using LoRAPrune.Cli;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Tests.Conformance;
using LoRAPrune.Tests.IO;

namespace LoRAPrune.Tests.Inference;

public sealed class GenerateCommandTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static (int Exit, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    private string Model(bool withTokenizer = true, bool withEos = true)
    {
        string dir = _folder.File(withTokenizer ? "model" : "model-no-tokenizer");
        var config = InferenceFixtures.TokenizerModelConfig();
        if (!withEos) config = config with { EosTokenIds = [] };
        if (!Directory.Exists(dir)) InferenceFixtures.WriteModel(dir, config, withTokenizer);
        return dir;
    }

    [Fact]
    public void Text_generation_prints_prompt_and_continuation_reproducibly_per_seed()
    {
        string model = Model();
        string[] args = ["generate", "--model", model, "--prompt", "hello world", "--max-new-tokens", "12", "--seed", "7", "--device", "cpu"];
        var first = Run(args);
        Assert.True(first.Exit == 0, first.Err);
        Assert.StartsWith("hello world", first.Out);
        Assert.Matches(@"generate: \d+ tokens in [\d.]+ s \([\d.]+ tokens/s\); stopped: ", first.Err);
        Assert.Contains("seed 7", first.Err);
        Assert.Equal(first.Out, Run(args).Out);
    }

    [Fact]
    public void Prompt_ids_print_exactly_max_new_tokens_ids_without_an_eos()
    {
        string model = Model(withTokenizer: false, withEos: false);
        string[] args = ["generate", "--model", model, "--prompt-ids", "1, 260,261", "--max-new-tokens", "9", "--seed", "3", "--device", "cpu"];
        var run = Run(args);
        Assert.True(run.Exit == 0, run.Err);
        int[] ids = run.Out.Trim().Split(',').Select(int.Parse).ToArray();
        Assert.Equal(9, ids.Length);
        Assert.All(ids, id => Assert.InRange(id, 0, InferenceFixtures.TokenizerPieces.Length - 1));
        Assert.Contains("9 tokens", run.Err);
        Assert.Contains("stopped: --max-new-tokens reached", run.Err);
        Assert.Equal(run.Out, Run(args).Out);
        Assert.NotEqual(run.Out, Run([.. args[..^4], "--seed", "4", "--device", "cpu"]).Out);

        var greedy = Run(["generate", "--model", model, "--prompt-ids", "1,260,261", "--max-new-tokens", "9", "--greedy", "--device", "cpu"]);
        var bf16 = Run(["generate", "--model", model, "--prompt-ids", "1,260,261", "--max-new-tokens", "9", "--greedy", "--device", "cpu", "--dtype", "bf16"]);
        Assert.True(greedy.Exit == 0 && bf16.Exit == 0, greedy.Err + bf16.Err);
        Assert.Contains("greedy", greedy.Err);
        Assert.Contains("bf16 weights", bf16.Err);
    }

    [Fact]
    public void An_adapter_changes_the_output_and_a_zero_adapter_does_not()
    {
        string model = Model(withTokenizer: false, withEos: false);
        var config = LlamaConfig.Load(Path.Combine(model, "config.json"));
        string Adapter(string name, float bValue)
        {
            using var ctx = TestBackends.Get("cpu").CreateContext();
            using var lora = LoraAdapters.Create(ctx, config, new LoraOptions { Rank = 2, Alpha = 4 }, seed: 5);
            var values = lora.Params.Download();
            foreach (var e in lora.Params.Entries.Where(e => e.Name.Contains(".lora_B.", StringComparison.Ordinal)))
                for (long i = 0; i < e.Count; i++) values[e.Offset + i] = bValue * ((i % 7) - 3);
            lora.Params.Upload(values);
            string dir = _folder.File(name);
            lora.ToPeft().Save(dir);
            return dir;
        }
        string[] args = ["generate", "--model", model, "--prompt-ids", "1,260,261,262", "--max-new-tokens", "8", "--greedy", "--device", "cpu"];
        var plain = Run(args);
        var zero = Run([.. args, "--adapter", Adapter("zero", 0f)]);
        var strong = Run([.. args, "--adapter", Adapter("strong", 0.5f)]);
        Assert.True(plain.Exit == 0 && zero.Exit == 0 && strong.Exit == 0, plain.Err + zero.Err + strong.Err);
        Assert.Contains("adapter r=2", strong.Err);
        Assert.Equal(plain.Out, zero.Out);       // B = 0: the adapted model is the base model
        Assert.NotEqual(plain.Out, strong.Out);
    }

    [Fact]
    public void Bad_input_gives_one_line_and_a_non_zero_exit()
    {
        string model = Model();
        string noTokenizer = Model(withTokenizer: false);
        (string[] Args, int Exit, string Message)[] cases =
        [
            (["generate", "--model", model], 2, "exactly one of --prompt and --prompt-ids"),
            (["generate", "--model", model, "--prompt", "a", "--prompt-ids", "1"], 2, "exactly one of --prompt and --prompt-ids"),
            (["generate", "--model", model, "--prompt-ids", "1,x"], 2, "'x' is not a non-negative integer token id"),
            (["generate", "--model", _folder.File("missing"), "--prompt", "a"], 2, "does not exist"),
            (["generate", "--model", model, "--adapter", _folder.File("missing"), "--prompt", "a"], 2, "--adapter: folder"),
            (["generate", "--model", noTokenizer, "--prompt", "a", "--device", "cpu"], 1, "no tokenizer.json or tokenizer.model"),
            (["generate", "--model", model, "--prompt-ids", "1,999", "--device", "cpu"], 1, "prompt token id 999 is outside the model's vocabulary of 286"),
            (["generate", "--model", _folder.Path, "--prompt", "a", "--device", "cpu"], 1, "config.json"),
        ];
        foreach (var (args, exit, message) in cases)
        {
            var run = Run(args);
            Assert.True(run.Exit == exit, $"{string.Join(' ', args)}: exit {run.Exit}, stderr {run.Err}");
            Assert.Contains(message, run.Err);
            Assert.Equal("", run.Out);
        }
        var parse = Run(["generate", "--model", model, "--prompt", "a", "--top-p", "0"]);
        Assert.NotEqual(0, parse.Exit);
        Assert.Contains("--top-p must be in (0, 1]", parse.Err);
    }
}
