// PerplexityProtocolTests.cs — the perplexity protocol of docs/method.md §5.2 checked step by step: the
// join/BOS rule, window and prediction counts by hand, and the NLL of a tiny random model against an
// independent loop (one window at a time, log-softmax of the logits in float64), for any batch size,
// with and without LoRA. Also the model fingerprint against a hand-built sha256sum listing.
using System.Security.Cryptography;
using System.Text;
using LoRAPrune.Core.Eval;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;
using LoRAPrune.Tests.Conformance;
using LoRAPrune.Tests.Data;
using LoRAPrune.Tests.IO;
using LoRAPrune.Tests.Model;

namespace LoRAPrune.Tests.Eval;

public sealed class PerplexityProtocolTests
{
    [Fact]
    public void Texts_are_joined_by_a_blank_line_and_tokenized_once_with_one_BOS()
    {
        Assert.Equal([1, .. ByteTokenizer.Ids("ab\n\nc")], PerplexityProtocol.Tokenize(["ab", "c"], new ByteTokenizer()));
        Assert.Equal(ByteTokenizer.Ids("ab\n\nc"), PerplexityProtocol.Tokenize(["ab", "c"], new ByteTokenizer(hasBos: false)));
    }

    [Fact]
    public void Windows_do_not_overlap_drop_the_remainder_and_predict_window_minus_one_tokens()
    {
        Assert.Equal(7, PerplexityProtocol.WindowCount(1000, 128)); // 896 tokens used, 104 dropped
        Assert.Equal(7 * 127, PerplexityProtocol.PredictedTokens(1000, 128));
        Assert.Equal(0, PerplexityProtocol.WindowCount(127, 128));
        Assert.Equal(1, PerplexityProtocol.WindowCount(128, 128));

        int[] ids = Enumerable.Range(0, 10).ToArray();
        var tokens = new int[4];
        var targets = new int[4];
        PerplexityProtocol.FillWindow(ids, 4, 1, tokens, targets);
        Assert.Equal([4, 5, 6, 7], tokens);
        Assert.Equal([5, 6, 7, LlamaGraph.IgnoreIndex], targets); // no context crosses into the next window
    }

    [Fact]
    public void Perplexity_is_exp_of_the_mean_NLL_of_an_independent_window_by_window_loop_for_any_batch()
    {
        using Context ctx = TestBackends.Get("cpu").CreateContext();
        LlamaConfig config = EngineGradientTests.TinyConfig;
        using LlamaWeights weights = LlamaWeights.Random(ctx, config, seed: 11, LpDType.F32, std: 0.3);
        int[] ids = RandomIds(3 * 8 + 5, config.VocabSize, seed: 3); // 3 windows of 8, 5 tokens dropped

        (double manualSum, int manualCount) = ManualNll(weights, null, ids, window: 8);
        Assert.Equal(3 * 7, manualCount);
        foreach (int batch in new[] { 1, 2, 3, 5 }) // 2: a last partial batch; 5: more rows than windows
        {
            PerplexityResult r = PerplexityProtocol.Evaluate(weights, null, ids, window: 8, batch);
            Assert.Equal(8, r.Window);
            Assert.Equal(8, r.Stride);
            Assert.Equal(3, r.Windows);
            Assert.Equal(21, r.PredictedTokens);
            Assert.Equal(manualSum, r.NllSum, manualSum * 1e-5);
            Assert.Equal(manualSum / 21, r.MeanNll, 1e-5);
            Assert.Equal(Math.Exp(manualSum / 21), r.Perplexity, Math.Exp(manualSum / 21) * 1e-5);
            Assert.Equal(Math.Exp(r.MeanNll), r.Perplexity);
        }
    }

    [Fact]
    public void Perplexity_with_LoRA_matches_the_independent_loop_with_the_same_adapters()
    {
        using Context ctx = TestBackends.Get("cpu").CreateContext();
        LlamaConfig config = EngineGradientTests.TinyConfig;
        using LlamaWeights weights = LlamaWeights.Random(ctx, config, seed: 11, LpDType.F32, std: 0.3);
        using LoraAdapters lora = LoraAdapters.Create(ctx, config, new LoraOptions { Rank = 2, Alpha = 4, Dropout = 0.5 }, seed: 4);
        float[] values = lora.Params.Download();
        var rng = new Random(9);
        for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() - 0.5);
        lora.Params.Upload(values);
        int[] ids = RandomIds(40, config.VocabSize, seed: 4);

        (double manualSum, _) = ManualNll(weights, lora, ids, window: 10);
        PerplexityResult with = PerplexityProtocol.Evaluate(weights, lora, ids, window: 10, batch: 3);
        PerplexityResult without = PerplexityProtocol.Evaluate(weights, null, ids, window: 10, batch: 3);
        Assert.Equal(manualSum, with.NllSum, manualSum * 1e-5); // no dropout at evaluation despite Dropout = 0.5
        Assert.True(Math.Abs(without.NllSum - with.NllSum) > 1e-3, $"LoRA changed nothing: {without.NllSum} vs {with.NllSum}");
    }

    [Fact]
    public void Evaluation_rejects_ids_outside_the_vocabulary_and_streams_shorter_than_a_window()
    {
        using Context ctx = TestBackends.Get("cpu").CreateContext();
        LlamaConfig config = EngineGradientTests.TinyConfig;
        using LlamaWeights weights = LlamaWeights.Random(ctx, config, seed: 1, LpDType.F32);
        Assert.Contains("token id 50 at position 2", Assert.Throws<ArgumentException>(() => PerplexityProtocol.Evaluate(weights, null, [1, 2, 50, 3], 2, 1)).Message);
        Assert.Contains("do not fill one window of 8", Assert.Throws<ArgumentException>(() => PerplexityProtocol.Evaluate(weights, null, [1, 2, 3], 8, 1)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => PerplexityProtocol.Evaluate(weights, null, [1, 2, 3], 1, 1));
    }

    [Fact]
    public void The_model_fingerprint_is_the_sha256_of_the_sha256sum_listing()
    {
        using var dir = new TempFolder();
        TinyLlama.SaveModel(dir.Path, TinyLlama.Config());
        using LlamaCheckpoint checkpoint = LlamaCheckpoint.Open(dir.Path);
        Fingerprint f = ModelFingerprint.OfModel(checkpoint);

        string Hash(string file) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(dir.File(file))));
        string listing = $"{Hash("config.json")}  config.json\n{Hash("model.safetensors")}  model.safetensors\n";
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(listing))), f.Sha256);
        Assert.Equal(["config.json", "model.safetensors"], f.Files.Select(x => x.Name));
        Assert.Equal(Hash("model.safetensors"), f.Files[1].Sha256);
    }

    // One window per forward pass, NLL from the logits in float64: sum over positions 0..window-2 of
    // logsumexp(logits) - logits[next id].
    private static (double Sum, int Count) ManualNll(LlamaWeights weights, LoraAdapters? lora, int[] ids, int window)
    {
        int v = weights.Config.VocabSize;
        using var graph = new LlamaGraph(weights, lora, null, 1, window);
        double sum = 0;
        int count = 0;
        for (int start = 0; start + window <= ids.Length; start += window)
        {
            float[] logits = graph.Logits(ids.AsSpan(start, window));
            for (int j = 0; j < window - 1; j++)
            {
                ReadOnlySpan<float> row = logits.AsSpan(j * v, v);
                double max = double.NegativeInfinity;
                foreach (float x in row) max = Math.Max(max, x);
                double z = 0;
                foreach (float x in row) z += Math.Exp(x - max);
                sum += max + Math.Log(z) - row[ids[start + j + 1]];
                count++;
            }
        }
        return (sum, count);
    }

    internal static int[] RandomIds(int count, int vocab, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.Next(vocab)).ToArray();
    }
}
