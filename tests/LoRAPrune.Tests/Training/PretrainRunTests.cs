// PretrainRunTests.cs — pretraining in-process on the cpu backend with the tiny GQA config: a repeating pattern
// is learned, weight decay spares the RMSNorm weights, the saved model folder reloads to the same logits (to f16
// rounding), recompute and a stop + resume are bit-identical to a plain uninterrupted run, and the embedded
// LLaMA-2 tokenizer is saved so the model folder tokenizes text alone.
using LoRAPrune.Core.Data;
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Core.Text;
using LoRAPrune.Core.Training;
using LoRAPrune.Native;
using LoRAPrune.Tests.Conformance;
using Xunit.Abstractions;

namespace LoRAPrune.Tests.Training;

public sealed class PretrainRunTests(ITestOutputHelper output) : IDisposable
{
    private const int Seq = 16;
    private readonly TrainingFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    // A config file of the tiny model and a token file of the learnable pattern; settings for a run into <out>.
    private PretrainSettings Settings(string outName, int steps, LlamaConfig? config = null)
    {
        string configFile = _folder.Sub($"config-{outName}.json");
        LlamaConfigWriter.Save(config ?? TrainingFixtures.Tiny, configFile);
        string tokens = _folder.Sub("train.u32");
        if (!File.Exists(tokens)) TrainingFixtures.WriteTokens(tokens, TrainingFixtures.Pattern(48 * Seq + 1, TrainingFixtures.Tiny.VocabSize));
        return new PretrainSettings
        {
            ConfigFile = configFile,
            Run = new RunSettings
            {
                OutputFolder = _folder.Sub(outName), Data = new DataSpec(DataSpec.Tokens, [tokens]), Steps = steps,
                Batch = 4, MicroBatch = 2, Seq = Seq, LearningRate = 1e-2, WarmupSteps = 2, SaveEvery = 4, Seed = 5,
            },
        };
    }

    private static PretrainRun Open(Context ctx, PretrainSettings settings)
    {
        LlamaConfig config = settings.LoadConfig();
        ModelTokenizer? tokenizer = ModelTokenizer.Resolve(settings.Tokenizer, settings.InitModel, config, settings.Run.Data.NeedsTokenizer);
        return new PretrainRun(ctx, settings, config, TrainingData.Open(settings.Run, tokenizer?.Tokenizer, config), tokenizer);
    }

    [Fact]
    public void Pretraining_a_repeating_pattern_drives_the_loss_down()
    {
        using Context ctx = TestBackends.Get("cpu").CreateContext();
        using PretrainRun run = Open(ctx, Settings("out", steps: 40));
        var losses = new List<double>();
        TrainingOutcome outcome = run.Run((r, _) => losses.Add(r.Loss), CancellationToken.None);
        output.WriteLine($"loss {losses[0]:F4} -> {losses[^1]:F4} (ln V = {Math.Log(TrainingFixtures.Tiny.VocabSize):F4})");
        Assert.True(outcome.Completed);
        Assert.Equal(40, losses.Count);
        // A random start with std 0.02 predicts nearly uniformly; the pattern makes every next id certain.
        Assert.InRange(losses[0], Math.Log(TrainingFixtures.Tiny.VocabSize) - 0.05, Math.Log(TrainingFixtures.Tiny.VocabSize) + 0.05);
        Assert.True(losses[^1] < 0.25 * losses[0], $"the loss only went from {losses[0]:F4} to {losses[^1]:F4}");
        Assert.True(File.Exists(Path.Combine(run.ModelFolder, PretrainRun.RecipeFileName)));
        Assert.False(Directory.Exists(_folder.Sub(Path.Combine("out", ".model.partial"))));
    }

    /// <summary>Samples whose targets are all ignored: the step has no gradient, so AdamW only decays.</summary>
    private sealed class NoLossSamples(int count, int seq) : ISampleSource
    {
        public int Count => count;
        public int SequenceLength => seq;
        public string Description => "no-loss samples";
        public TrainingSample this[int index] => new(new int[seq], Enumerable.Repeat(TrainingSample.IgnoreIndex, seq).ToArray());
    }

    [Fact]
    public void Weight_decay_shrinks_matrices_and_spares_norm_weights()
    {
        using Context ctx = TestBackends.Get("cpu").CreateContext();
        LlamaConfig config = TrainingFixtures.Tiny;
        using LlamaWeights weights = LlamaWeights.Random(ctx, config, seed: 3, LpDType.F32, std: 0.3, trainable: true);
        using TensorArena grads = weights.Arena!.CloneLayout();
        using var graph = new LlamaGraph(weights, null, null, 2, Seq, grads);
        var data = new NoLossSamples(4, Seq);
        const double Lr = 0.1, Decay = 0.5;
        var options = new TrainerOptions { MicroBatch = 2, GradAccum = 1, MaxSteps = 1, LearningRate = Lr, WeightDecay = Decay };
        using var trainer = new Trainer(graph, [new TrainableArena(weights.Arena, grads, TrainableArena.MatricesOnly)], data, new DataCursor(4, 1), options);
        float[] before = weights.Arena.Download();
        trainer.RunStep();
        float[] after = weights.Arena.Download();
        int norms = 0, matrices = 0;
        foreach (TensorArena.Entry e in weights.Arena.Entries)
        {
            bool norm = e.Shape.Length == 1;
            for (long i = e.Offset; i < e.Offset + e.Count; i++)
            {
                double expected = norm ? before[i] : before[i] * (1 - Lr * Decay);
                Assert.True(Math.Abs(after[i] - expected) <= 1e-6 * Math.Abs(expected), $"{e.Name}[{i - e.Offset}]: {before[i]} -> {after[i]}, expected {expected}");
            }
            if (norm) norms++;
            else matrices++;
        }
        Assert.Equal(2 * config.NumHiddenLayers + 1, norms);
        Assert.Equal(7 * config.NumHiddenLayers + 2, matrices);
    }

    [Fact]
    public void Saved_model_folder_reloads_to_the_same_logits()
    {
        using Context ctx = TestBackends.Get("cpu").CreateContext();
        int[] tokens = TrainingFixtures.Pattern(Seq, TrainingFixtures.Tiny.VocabSize, phase: 5);
        foreach (SafetensorsDType dtype in new[] { SafetensorsDType.F32, SafetensorsDType.F16 })
        {
            string name = $"out-{dtype.HeaderName()}";
            using PretrainRun run = Open(ctx, Settings(name, steps: 6) with { SaveDType = dtype });
            Assert.True(run.Run(null, CancellationToken.None).Completed);
            float[] trained = run.Weights.Arena!.Download();

            // The in-memory model, with its weights rounded as the file stores them.
            using LlamaWeights rounded = LlamaWeights.Random(ctx, run.Config, seed: 0, LpDType.F32, trainable: true);
            rounded.Arena!.Upload(dtype == SafetensorsDType.F16 ? trained.Select(v => (float)(Half)v).ToArray() : trained);
            float[] expected = Logits(rounded, tokens);

            using LlamaCheckpoint saved = LlamaCheckpoint.Open(run.ModelFolder);
            Assert.Equal(dtype == SafetensorsDType.F16 ? "float16" : "float32", saved.Config.TorchDtype);
            Assert.All(saved.Tensors.TensorNames, n => Assert.Equal(dtype, saved.Tensors.GetTensor(n).DType));
            using LlamaWeights reloaded = LlamaWeights.Load(ctx, saved, LpDType.F32);
            float[] actual = Logits(reloaded, tokens);
            Assert.Equal(expected, actual);

            // And rounding to f16 moves the logits of the unrounded model only a little.
            float[] exact = Logits(run.Weights, tokens);
            double maxDiff = exact.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
            output.WriteLine($"{dtype.HeaderName()}: max |logit difference| to the unrounded model {maxDiff:E2}");
            Assert.True(maxDiff <= (dtype == SafetensorsDType.F16 ? 5e-3 : 0), $"max logit difference {maxDiff}");
        }
    }

    private static float[] Logits(LlamaWeights weights, int[] tokens)
    {
        using var graph = new LlamaGraph(weights, null, null, 1, tokens.Length);
        return graph.Logits(tokens);
    }

    [Fact]
    public void Stop_and_resume_and_recompute_give_the_uninterrupted_weights_bit_for_bit()
    {
        const int Steps = 16; // 48 samples, 4 a step: the run crosses an epoch boundary after the resume
        using Context ctx = TestBackends.Get("cpu").CreateContext();
        float[] Final(PretrainRun run) => run.Weights.Arena!.Download();

        PretrainSettings whole = Settings("whole", Steps) with { SaveDType = SafetensorsDType.F32 };
        float[] expected;
        using (PretrainRun run = Open(ctx, whole))
        {
            Assert.True(run.Run(null, CancellationToken.None).Completed);
            expected = Final(run);
        }

        PretrainSettings stopped = Settings("stopped", Steps) with { SaveDType = SafetensorsDType.F32 };
        using (var stop = new CancellationTokenSource())
        using (PretrainRun run = Open(ctx, stopped))
        {
            TrainingOutcome first = run.Run((r, _) => { if (r.Step == 5) stop.Cancel(); }, stop.Token);
            Assert.False(first.Completed);
            Assert.Equal(5, first.Step);
            Assert.False(Directory.Exists(run.ModelFolder));
        }
        using (PretrainRun run = Open(ctx, stopped with { Run = stopped.Run with { Resume = true } }))
        {
            Assert.Equal(5, run.StartStep);
            Assert.True(run.Run(null, CancellationToken.None).Completed);
            Assert.Equal(expected, Final(run));
        }
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole.Run.OutputFolder, PretrainRun.ModelFolderName, "model.safetensors")),
                     File.ReadAllBytes(Path.Combine(stopped.Run.OutputFolder, PretrainRun.ModelFolderName, "model.safetensors")));
        Assert.Equal(Steps, File.ReadAllLines(Path.Combine(stopped.Run.OutputFolder, MetricsLog.FileName)).Length);

        using (PretrainRun run = Open(ctx, Settings("recompute", Steps) with { Recompute = true }))
        {
            Assert.True(run.Run(null, CancellationToken.None).Completed);
            Assert.Equal(expected, Final(run));
        }
    }

    [Fact]
    public void Resume_with_other_settings_is_refused_naming_the_setting()
    {
        using Context ctx = TestBackends.Get("cpu").CreateContext();
        PretrainSettings settings = Settings("out", steps: 6);
        using (var stop = new CancellationTokenSource())
        using (PretrainRun run = Open(ctx, settings))
            Assert.False(run.Run((r, _) => { if (r.Step == 2) stop.Cancel(); }, stop.Token).Completed);
        var e = Assert.Throws<TrainingSetupException>(() => Open(ctx, settings with { Run = settings.Run with { Resume = true }, WeightDecay = 0.01 }));
        output.WriteLine(e.Message);
        Assert.Contains("weight_decay = 0.1, this run has weight_decay = 0.01", e.Message);
        e = Assert.Throws<TrainingSetupException>(() => Open(ctx, settings));
        Assert.Contains("already holds a run", e.Message);
    }

    [Fact]
    public void Text_data_with_the_embedded_llama2_tokenizer_saves_a_self_contained_model_folder()
    {
        using Context ctx = TestBackends.Get("cpu").CreateContext();
        string text = _folder.Sub("train.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. Ünïcödé — 日本語!\n", 20)));
        LlamaConfig config = TrainingFixtures.Tiny with { VocabSize = 32000 };
        PretrainSettings text2 = Settings("text", steps: 2, config);
        PretrainSettings settings = text2 with { Run = text2.Run with { Data = new DataSpec(DataSpec.Text, [text]) }, Tokenizer = ModelTokenizer.Llama2 };
        using (PretrainRun run = Open(ctx, settings)) Assert.True(run.Run(null, CancellationToken.None).Completed);

        string model = Path.Combine(settings.Run.OutputFolder, PretrainRun.ModelFolderName);
        Assert.True(File.Exists(Path.Combine(model, "tokenizer.model")));
        ITokenizer saved = TokenizerLoader.Load(model);
        ITokenizer embedded = TokenizerLoader.LoadLlama2Default();
        foreach (string sample in new[] { "Hello world", "  leading spaces and\ttabs\n", "Ünïcödé — 日本語 🦙", "" })
            Assert.Equal(embedded.Encode(sample, addBos: true), saved.Encode(sample, addBos: true));
        LlamaConfig savedConfig = LlamaConfig.Load(Path.Combine(model, LlamaCheckpoint.ConfigFileName));
        Assert.Equal(1, savedConfig.BosTokenId);
        Assert.Equal(new[] { 2 }, savedConfig.EosTokenIds);
        string recipe = File.ReadAllText(Path.Combine(model, PretrainRun.RecipeFileName));
        Assert.Contains("\"source\": \"llama2\"", recipe);
        Assert.Contains(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(text))), recipe);
    }

    [Fact]
    public void A_tokenizer_with_more_ids_than_the_vocabulary_is_refused()
    {
        LlamaConfig config = Settings("out", steps: 2).LoadConfig();
        var e = Assert.Throws<TrainingSetupException>(() => ModelTokenizer.Resolve(ModelTokenizer.Llama2, null, config, required: true));
        Assert.Equal($"--tokenizer: the tokenizer ({TokenizerLoader.LoadLlama2Default().Name}) has 32000 ids but the config's vocab_size is 50", e.Message);
        e = Assert.Throws<TrainingSetupException>(() => ModelTokenizer.Resolve(null, null, config, required: true));
        Assert.StartsWith("--tokenizer: the text data needs a tokenizer and vocab_size 50 is not LLaMA-2's 32000", e.Message);
    }
}
