// BiasedModelTests.cs — a Qwen2 checkpoint (q/k/v biases, tied embeddings) written to disk loads into
// LlamaWeights with its biases as f32 tensors (also beside bf16 projections and in a trainable arena),
// and the engine's logits of that checkpoint match the float64 reference model.
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Native;
using LoRAPrune.Tests.Conformance;
using LoRAPrune.Tests.IO;

namespace LoRAPrune.Tests.Model;

public sealed class BiasedModelTests
{
    [Theory]
    [InlineData("F32", false)]
    [InlineData("BF16", false)]
    [InlineData("F32", true)]
    public void Qwen2_checkpoint_loads_with_its_biases(string dtypeName, bool trainable)
    {
        var dtype = Enum.Parse<LpDType>(dtypeName);
        using var dir = new TempFolder();
        var written = TinyLlama.SaveModel(dir.Path, TinyLlama.Qwen2Config());
        using var checkpoint = LlamaCheckpoint.Open(dir.Path);
        using var ctx = TestBackends.Get("cpu").CreateContext();
        using var weights = LlamaWeights.Load(ctx, checkpoint, dtype, trainable);

        var named = weights.Named().ToDictionary(n => n.Name, n => n.Tensor);
        Assert.Equal(written.Keys.Order(), named.Keys.Order());
        Assert.Equal(written.Values.Sum(w => (long)w.Values.Length), weights.ParameterCount);
        for (int l = 0; l < checkpoint.Config.NumHiddenLayers; l++)
            foreach (LlamaLinear lin in LlamaLinears.All)
            {
                var bias = weights.Layers[l].Bias(lin);
                if (!lin.HasBias(checkpoint.Config))
                {
                    Assert.Null(bias);
                    continue;
                }
                Assert.NotNull(bias);
                Assert.Equal(LpDType.F32, bias.DType);
                Assert.Equal(written[LlamaTensorLayout.Bias(lin, l)].Values, bias.ToFloatArray());
                if (trainable) Assert.Equal(bias.ToFloatArray(), weights.Arena![LlamaTensorLayout.Bias(lin, l)].ToFloatArray());
            }
    }

    [Theory, MemberData(nameof(EngineGradientTests.Backends), MemberType = typeof(EngineGradientTests))]
    public void Qwen2_logits_match_the_float64_model(string backend)
    {
        const int batch = 1, seq = 6;
        using var dir = new TempFolder();
        var config = TinyLlama.Qwen2Config();
        var written = TinyLlama.SaveModel(dir.Path, config);
        using var checkpoint = LlamaCheckpoint.Open(dir.Path);
        using var ctx = TestBackends.Get(backend).CreateContext();
        using var weights = LlamaWeights.Load(ctx, checkpoint, LpDType.F32);
        using var graph = new LlamaGraph(weights, lora: null, masks: null, batch, seq, activations: LpDType.F32); // f32 arithmetic under test
        var tokens = Enumerable.Range(0, batch * seq).Select(i => (i * 7 + 1) % config.VocabSize).ToArray();
        var targets = tokens.Skip(1).Append(LlamaGraph.IgnoreIndex).ToArray();
        var loss = graph.Forward(tokens, targets);

        var reference = new ReferenceLlama
        {
            Config = config, Base = written.ToDictionary(w => w.Key, w => w.Value.Values.Select(x => (double)x).ToArray()),
            Lora = new(), Masks = new(), Rank = 0, Scale = 0, Dropout = 0, StepSeed = 0,
            InvFreq = config.RopeInverseFrequencies().Select(x => (double)x).ToArray(),
        };
        var (refLoss, _) = reference.LossAndGrads(tokens, targets, batch, seq);
        Assert.True(Math.Abs(loss.Mean - refLoss) <= 1e-5 * Math.Abs(refLoss), $"loss {loss.Mean:R} vs reference {refLoss:R}");

        // Without its biases the same model gives a clearly different loss: the biases are really applied.
        var unbiased = new ReferenceLlama
        {
            Config = config with { ModelType = "llama", QkvBias = false }, Base = reference.Base, Lora = new(), Masks = new(), Rank = 0, Scale = 0,
            Dropout = 0, StepSeed = 0, InvFreq = reference.InvFreq,
        };
        Assert.True(Math.Abs(unbiased.LossAndGrads(tokens, targets, batch, seq).Loss - refLoss) > 1e-3 * Math.Abs(refLoss));
    }
}
