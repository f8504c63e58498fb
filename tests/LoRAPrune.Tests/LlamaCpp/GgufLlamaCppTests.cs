// GgufLlamaCppTests.cs — the proof that `loraprune export --format gguf` produces models llama.cpp runs as
// loraprune does: each case exports a model folder through the CLI, loads the file with llama.cpp itself
// (LlamaCppModel), and compares llama.cpp's next-token logits with the engine's (LlamaGraph) on the same tokens.
using LoRAPrune.Core.Inference;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Text;
using LoRAPrune.Native;
using LoRAPrune.Tests.Inference;
using LoRAPrune.Tests.IO;
using Xunit.Abstractions;

namespace LoRAPrune.Tests.LlamaCpp;

public sealed class GgufLlamaCppTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>
    /// f32 files hold the engine's weights bit for bit and llama.cpp computes in f32 with f32 K/V caches, so the
    /// logits differ only by the order of f32 sums (GEMM blocking, softmax, RMSNorm), about 1e-6 of the logit
    /// scale; 1e-3 of the scale (max |logit|) is the agreed bound, loose enough for any summation order and far
    /// below any real mistake (a wrong permutation, head count or norm moves logits by the scale itself).
    /// </summary>
    private const double F32Tolerance = 1e-3;

    /// <summary>
    /// f16 files hold exactly the model's f16 weights (the folders are stored as f16, and the engine computes with
    /// those values in f32), but llama.cpp's CPU matrix product with f16 weights also rounds its other operand, the
    /// activations, to f16 (unit roundoff u = 2^-11): each layer rounds four product inputs (for q/k/v, o, gate/up,
    /// down) and the output projection one more. To first order these 4L + 1 relative perturbations of at most u
    /// add up, so the bound is (4L + 1)·u of the logit scale (measured: about a tenth of it).
    /// </summary>
    private static double F16Tolerance(int layers) => (4 * layers + 1) * Math.Pow(2, -11);

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static readonly int[] TinyTokens = [1, 267, 260, 278, 259, 275, 264, 281, 259, 3 + 'A', 272, 285];

    [LlamaCppFact]
    public void Unpruned_gqa_model_f32_matches_the_engine() =>
        WriteThenCompare("unpruned GQA, f32", GgufTestModels.Unpruned(), GgmlType.F32, TinyTokens);

    [LlamaCppFact]
    public void Unpruned_gqa_model_f16_matches_within_f16_rounding() =>
        WriteThenCompare("unpruned GQA, f16", GgufTestModels.Unpruned(), GgmlType.F16, TinyTokens);

    [LlamaCppFact]
    public void Tied_embeddings_biases_and_llama3_rope_scaling_match() =>
        WriteThenCompare("tied, biases, llama3 RoPE, f32", GgufTestModels.Unpruned() with
        {
            TieWordEmbeddings = true,
            QkvBias = true,
            OutputBias = true,
            MlpBias = true,
            RopeScaling = RopeScaling.Llama3(8, 1, 4, 64),
        }, GgmlType.F32, TinyTokens);

    [LlamaCppFact]
    public void Qwen2_with_linear_rope_scaling_matches() =>
        WriteThenCompare("qwen2, linear RoPE, f32", GgufTestModels.Unpruned() with
        {
            ModelType = "qwen2",
            QkvBias = true,
            TieWordEmbeddings = true,
            RopeTheta = 1e6,
            RopeScaling = RopeScaling.Linear(2),
        }, GgmlType.F32, TinyTokens);

    [LlamaCppFact]
    public void Uniformly_pruned_model_with_llama2_tokenizer_matches_in_f32_and_f16()
    {
        LayerKeep keep = new([0, 3], [0, 1], [.. Enumerable.Range(0, 96).Where(c => c % 3 != 1)]);
        foreach ((GgmlType type, SafetensorsDType storage) in new[] { (GgmlType.F32, SafetensorsDType.F32), (GgmlType.F16, SafetensorsDType.F16) })
        {
            string folder = Directory.CreateDirectory(_folder.File($"uniform-{type}")).FullName;
            LlamaConfig config = GgufTestModels.WritePruned(folder, GgufTestModels.PruningBase(32000), [keep, keep, keep], storage);
            GgufTestModels.WriteLlama2TokenizerModel(folder);
            Assert.True(LlamaConfig.Load(Path.Combine(folder, "config.json")) is { LayerAttentionHeads: null, NumAttentionHeads: 4, NumKeyValueHeads: 2, IntermediateSize: 64 });
            int[] tokens = TokenizerLoader.Load(folder).Encode("The pruned model still reads: naïve café, 日本.", addBos: true);
            string gguf = Export(folder, type, GgufExport.UniformArchitecture);
            CompareLogits($"uniformly pruned, {type}", folder, gguf, tokens, Tolerance(type, config));
            AssertSameTokens(folder, gguf, ["Hello world", "  two leading spaces\nand a newline", "naïve café 日本 🦙"]);
        }
    }

    [LlamaCppFact]
    public void Per_layer_pruned_model_exports_as_deci_and_matches_in_f32_and_f16()
    {
        LayerKeep[] keep =
        [
            new([0, 1, 3], [0, 1], [.. Enumerable.Range(0, 96).Where(c => c % 6 != 5)]),
            new([0, 1, 2, 3], [1], [.. Enumerable.Range(0, 96).Where(c => c % 2 == 0)]),
            new([2], [0, 1], [.. Enumerable.Range(0, 96)]),
        ];
        foreach ((GgmlType type, SafetensorsDType storage) in new[] { (GgmlType.F32, SafetensorsDType.F32), (GgmlType.F16, SafetensorsDType.F16) })
        {
            string folder = Directory.CreateDirectory(_folder.File($"per-layer-{type}")).FullName;
            LlamaConfig config = GgufTestModels.WritePruned(folder, GgufTestModels.PruningBase(InferenceFixtures.TokenizerPieces.Length), keep, storage);
            File.WriteAllText(Path.Combine(folder, "tokenizer.json"), InferenceFixtures.TokenizerJson());
            Assert.Equal([6, 4, 2], config.LayerAttentionHeads!);
            Assert.Equal([3, 4, 1], config.LayerKeyValueHeads!);
            Assert.Equal([80, 48, 96], config.LayerIntermediateSizes!);
            string gguf = Export(folder, type, GgufExport.PerLayerArchitecture);
            CompareLogits($"per-layer pruned (deci), {type}", folder, gguf, TinyTokens, Tolerance(type, config));
        }
    }

    [LlamaCppFact]
    public void Byte_level_bpe_tokenizer_exports_as_gpt2_and_tokenizes_like_loraprune()
    {
        string folder = _folder.Path;
        LlamaConfig config = GgufTestModels.Unpruned() with { VocabSize = GgufTestModels.ByteLevelTokenCount + 3 };
        TinyLlama.SaveModel(folder, config);
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), GgufTestModels.ByteLevelTokenizerJson());
        int[] tokens = TokenizerLoader.Load(folder).Encode("the cat in the hat, in the hat!", addBos: true);
        string gguf = Export(folder, GgmlType.F32, GgufExport.UniformArchitecture);
        CompareLogits("byte-level BPE tokenizer, f32", folder, gguf, tokens, F32Tolerance);
        AssertSameTokens(folder, gguf, ["the cat in the hat", "Hello, World!\n\n  indented\ttab 12345", "naïve 🦙"]);
    }

    [LlamaCppFact(NeedsDefaultModel = true)]
    public void Default_model_f32_matches_logits_and_greedy_generation()
    {
        string folder = LlamaCppFactAttribute.DefaultModelFolder;
        ITokenizer tokenizer = TokenizerLoader.Load(folder);
        int[] prompt = tokenizer.Encode("The President said that the Congress", addBos: true);
        string gguf = Export(folder, GgmlType.F32, null);
        CompareLogits("default model, f32", folder, gguf, prompt, F32Tolerance);
        AssertSameTokens(folder, gguf, ["The President said that the Congress", "Mr. Speaker, 1983: a naïve plan."]);

        const int Generated = 20;
        using LlamaCppModel llama = LlamaCppModel.Load(gguf);
        int[] fromLlamaCpp = llama.GreedyGenerate(prompt, Generated);
        int[] fromEngine = EngineGreedy(folder, prompt, Generated);
        output.WriteLine($"greedy, llama.cpp: {string.Join(',', fromLlamaCpp)} \"{tokenizer.Decode(fromLlamaCpp)}\"");
        output.WriteLine($"greedy, loraprune: {string.Join(',', fromEngine)}");
        Assert.Equal(fromEngine, fromLlamaCpp);
    }

    private void WriteThenCompare(string label, LlamaConfig config, GgmlType type, int[] tokens)
    {
        GgufTestModels.Write(_folder.Path, config, type == GgmlType.F16 ? SafetensorsDType.F16 : SafetensorsDType.F32);
        string gguf = Export(_folder.Path, type, GgufExport.UniformArchitecture);
        CompareLogits(label, _folder.Path, gguf, tokens, Tolerance(type, config));
    }

    private static double Tolerance(GgmlType type, LlamaConfig config) => type == GgmlType.F32 ? F32Tolerance : F16Tolerance(config.NumHiddenLayers);

    /// <summary>Exports through the command line and checks the architecture line it prints.</summary>
    private string Export(string folder, GgmlType type, string? architecture)
    {
        string gguf = _folder.File($"{Path.GetFileName(folder)}-{type}.gguf");
        (int exit, string stdout, string stderr) = CliRunner.Run("export", "--model", folder, "--format", "gguf", "--out", gguf, "--dtype", type.ToString().ToLowerInvariant());
        Assert.True(exit == 0, stderr);
        if (architecture is not null) Assert.Contains($"architecture {architecture},", stdout);
        return gguf;
    }

    private void CompareLogits(string label, string folder, string gguf, int[] tokens, double tolerance)
    {
        using LlamaCppModel llama = LlamaCppModel.Load(gguf);
        float[] expected = EngineNextTokenLogits(folder, tokens);
        Assert.Equal(expected.Length, llama.VocabSize);
        float[] actual = llama.NextTokenLogits(tokens);
        double scale = expected.Max(v => Math.Abs((double)v));
        double maxDiff = expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).Max();
        int worst = Enumerable.Range(0, expected.Length).MaxBy(i => Math.Abs((double)expected[i] - actual[i]));
        output.WriteLine($"{label}: {LlamaCppLibrary.Instance.Build}; {llama.Description}; {tokens.Length} tokens; " +
                         $"max |Δlogit| = {maxDiff:E2} at id {worst} ({expected[worst]:F5} vs {actual[worst]:F5}), logit scale {scale:F3}, " +
                         $"relative {maxDiff / scale:E2} (limit {tolerance:E2})");
        Assert.True(maxDiff <= tolerance * scale, $"{label}: max |Δlogit| {maxDiff:E3} exceeds {tolerance:E2} x scale {scale:F3}");
        Assert.Equal(Sampler.Argmax(expected), Sampler.Argmax(actual));
    }

    private void AssertSameTokens(string folder, string gguf, string[] texts)
    {
        ITokenizer tokenizer = TokenizerLoader.Load(folder);
        using LlamaCppModel llama = LlamaCppModel.Load(gguf);
        foreach (string text in texts)
        {
            int[] ours = tokenizer.Encode(text, addBos: true), theirs = llama.Tokenize(text);
            output.WriteLine($"tokens of \"{text.ReplaceLineEndings("\\n")}\": loraprune {string.Join(',', ours)}; llama.cpp {string.Join(',', theirs)}");
            Assert.Equal(ours, theirs);
        }
    }

    private static float[] EngineNextTokenLogits(string folder, int[] tokens)
    {
        using LlamaCheckpoint checkpoint = LlamaCheckpoint.Open(folder);
        using Context context = Backend.Load("cpu").CreateContext();
        using LlamaWeights weights = LlamaWeights.Load(context, checkpoint, LpDType.F32);
        using var graph = new LlamaGraph(weights, null, null, 1, tokens.Length);
        float[] all = graph.Logits(tokens);
        return all[^checkpoint.Config.VocabSize..];
    }

    private static int[] EngineGreedy(string folder, int[] prompt, int count)
    {
        using LlamaCheckpoint checkpoint = LlamaCheckpoint.Open(folder);
        using Context context = Backend.Load("cpu").CreateContext();
        using LlamaWeights weights = LlamaWeights.Load(context, checkpoint, LpDType.F32);
        using var generator = new TokenGenerator(weights, null);
        var options = new GenerationOptions { MaxNewTokens = count };
        return [.. generator.Generate(prompt, options, new Sampler(new SamplingOptions { Greedy = true }, seed: 0))];
    }
}
