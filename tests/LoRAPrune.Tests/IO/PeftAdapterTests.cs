// PeftAdapterTests.cs — LoRA adapters in PEFT layout: adapter_config.json + adapter_model.safetensors
// with base_model.model.model.layers.{i}.{block}.{module}.lora_A/B.weight, round-tripped bit-exactly,
// validated against the (possibly pruned) model config, with PEFT variants we cannot run refused.
using System.Text.Json;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Tests.IO;

public sealed class PeftAdapterTests
{
    private static readonly PeftAdapterConfig AllSeven = new()
    {
        Rank = 8,
        Alpha = 16,
        Dropout = 0.05,
        TargetModules = LlamaLinears.All,
        BaseModelNameOrPath = "tiny-llama",
    };

    private static PeftAdapter RandomAdapter(PeftAdapterConfig config, LlamaConfig model, int seed = 7)
    {
        var rng = new Random(seed);
        return PeftAdapter.Create(config, model, (layer, linear) =>
        {
            (int outF, int inF) = linear.Shape(model, layer);
            float[] a = [.. Enumerable.Range(0, config.Rank * inF).Select(_ => rng.NextSingle() - 0.5f)];
            float[] b = [.. Enumerable.Range(0, outF * config.Rank).Select(_ => rng.NextSingle() - 0.5f)];
            return new LoraWeights(config.Rank, inF, outF, a, b);
        });
    }

    [Fact]
    public void Round_trip_with_peft_names_and_shapes()
    {
        using var dir = new TempFolder();
        LlamaConfig model = TinyLlama.Config();
        PeftAdapter adapter = RandomAdapter(AllSeven, model);
        adapter.Save(dir.Path);
        Assert.Equal(["adapter_config.json", "adapter_model.safetensors"], dir.Entries());

        using (SafetensorsFile file = SafetensorsFile.Open(dir.File("adapter_model.safetensors")))
        {
            Assert.Equal(2 * 2 * 7, file.Tensors.Count);
            Assert.Equal([8L, 16L], file.GetTensor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").Shape);
            Assert.Equal([16L, 8L], file.GetTensor("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight").Shape);
            Assert.Equal([8L, 8L], file.GetTensor("base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight").Shape);
            Assert.Equal([8L, 24L], file.GetTensor("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight").Shape);
            Assert.Equal([24L, 8L], file.GetTensor("base_model.model.model.layers.1.mlp.gate_proj.lora_B.weight").Shape);
            Assert.Equal("pt", file.Metadata["format"]);
        }

        PeftAdapter back = PeftAdapter.Load(dir.Path, model);
        Assert.Equal(AllSeven.ToJson(), back.Config.ToJson());
        Assert.Equal(2.0, back.Config.Scaling);
        foreach (((int layer, LlamaLinear linear), LoraWeights w) in adapter.Weights)
        {
            LoraWeights r = back.Weights[(layer, linear)];
            Assert.Equal(w.A, r.A);
            Assert.Equal(w.B, r.B);
        }
    }

    [Fact]
    public void Adapter_config_has_the_fields_peft_reads()
    {
        using JsonDocument doc = JsonDocument.Parse(AllSeven.ToJson());
        JsonElement r = doc.RootElement;
        Assert.Equal("LORA", r.GetProperty("peft_type").GetString());
        Assert.Equal("CAUSAL_LM", r.GetProperty("task_type").GetString());
        Assert.Equal("none", r.GetProperty("bias").GetString());
        Assert.Equal(8, r.GetProperty("r").GetInt32());
        Assert.Equal("16", r.GetProperty("lora_alpha").GetRawText());
        Assert.Equal(0.05, r.GetProperty("lora_dropout").GetDouble());
        Assert.Equal(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            r.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("tiny-llama", r.GetProperty("base_model_name_or_path").GetString());
    }

    [Fact]
    public void Adapter_of_a_pruned_model_and_a_layer_subset()
    {
        using var dir = new TempFolder();
        LlamaConfig pruned = TinyLlama.Config(layers: 3).WithLayerWidths([4, 2, 2], [2, 1, 1], [24, 8, 16]);
        PeftAdapterConfig subset = AllSeven with { TargetModules = [LlamaLinear.QProj, LlamaLinear.DownProj], LayersToTransform = [1, 2] };
        RandomAdapter(subset, pruned).Save(dir.Path, SafetensorsDType.BF16);
        PeftAdapter back = PeftAdapter.Load(dir.Path, pruned);
        Assert.Equal(4, back.Weights.Count);
        Assert.Equal((8, 16), (back.Weights[(1, LlamaLinear.QProj)].Out, back.Weights[(1, LlamaLinear.QProj)].In));
        Assert.Equal((16, 8), (back.Weights[(1, LlamaLinear.DownProj)].Out, back.Weights[(1, LlamaLinear.DownProj)].In));

        var e = Assert.Throws<ModelFormatException>(() => PeftAdapter.Load(dir.Path, TinyLlama.Config(layers: 3)));
        Assert.Equal("adapter_model.safetensors: tensor 'base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight': has shape [8, 8] but adapter_config.json (r=8) and config.json imply [16, 8]", e.Message);
    }

    [Fact]
    public void Missing_and_unexpected_adapter_tensors()
    {
        using var dir = new TempFolder();
        LlamaConfig model = TinyLlama.Config();
        RandomAdapter(AllSeven with { TargetModules = [LlamaLinear.QProj, LlamaLinear.VProj] }, model).Save(dir.Path);
        string config = File.ReadAllText(dir.File("adapter_config.json"));

        File.WriteAllText(dir.File("adapter_config.json"), config.Replace("\"v_proj\"", "\"v_proj\",\n    \"k_proj\""));
        var missing = Assert.Throws<ModelFormatException>(() => PeftAdapter.Load(dir.Path, model));
        Assert.Equal("adapter_model.safetensors: missing tensor 'base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight' (adapter_config.json targets k_proj)", missing.Message);

        File.WriteAllText(dir.File("adapter_config.json"), config.Replace(",\n    \"v_proj\"", ""));
        var extra = Assert.Throws<ModelFormatException>(() => PeftAdapter.Load(dir.Path, model));
        Assert.Equal("adapter_model.safetensors: tensor 'base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight': unexpected tensor (adapter_config.json targets q_proj in all 2 layers)", extra.Message);
    }

    [Theory]
    [InlineData("\"use_dora\": false", "\"use_dora\": true", "use_dora=true: DoRA adapters are not supported")]
    [InlineData("\"use_rslora\": false", "\"use_rslora\": true", "use_rslora=true: rsLoRA scaling (alpha / sqrt(r)) is not supported")]
    [InlineData("\"peft_type\": \"LORA\"", "\"peft_type\": \"IA3\"", "peft_type 'IA3' is not supported (only LORA)")]
    [InlineData("\"bias\": \"none\"", "\"bias\": \"all\"", "bias 'all' is not supported (only none)")]
    [InlineData("\"r\": 8", "\"r\": 0", "r=0, expected a positive integer")]
    [InlineData("\"rank_pattern\": {}", "\"rank_pattern\": {\"q_proj\": 4}", "rank_pattern is set, which is not supported (one rank and alpha for every adapted projection, no extra saved modules)")]
    [InlineData("\"layers_to_transform\": null", "\"layers_to_transform\": [5]", "layers_to_transform has layer 5, but config.json says 2 layers")]
    [InlineData("\"lora_dropout\": 0.05", "\"lora_dropout\": 1.5", "lora_dropout=1.5 must be in [0, 1)")]
    public void Unsupported_or_broken_adapter_config(string from, string to, string problem)
    {
        using var dir = new TempFolder();
        LlamaConfig model = TinyLlama.Config();
        RandomAdapter(AllSeven, model).Save(dir.Path);
        string config = File.ReadAllText(dir.File("adapter_config.json"));
        Assert.Contains(from, config);
        File.WriteAllText(dir.File("adapter_config.json"), config.Replace(from, to));
        var e = Assert.Throws<ModelFormatException>(() => PeftAdapter.Load(dir.Path, model));
        Assert.Equal("adapter_config.json: " + problem, e.Message);
    }

    [Fact]
    public void Target_module_spellings()
    {
        string Config(string targets) => $$"""{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": {{targets}}}""";
        Assert.Equal(LlamaLinears.All, PeftAdapterConfig.Parse(Config("\"all-linear\"")).TargetModules);
        Assert.Equal("adapter_config.json: target_modules '.*proj' is a regular expression, which is not supported; list module names such as [\"q_proj\", \"v_proj\"]",
            Assert.Throws<ModelFormatException>(() => PeftAdapterConfig.Parse(Config("\".*proj\""))).Message);
        Assert.Equal("adapter_config.json: target_modules entry 'lm_head' is not one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj",
            Assert.Throws<ModelFormatException>(() => PeftAdapterConfig.Parse(Config("[\"q_proj\", \"lm_head\"]"))).Message);
    }

    [Fact]
    public void Pickle_adapters_are_refused_with_a_hint()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("adapter_config.json"), AllSeven.ToJson());
        File.WriteAllBytes(dir.File("adapter_model.bin"), [0x80, 0x02]);
        var e = Assert.Throws<ModelFormatException>(() => PeftAdapter.Load(dir.Path, TinyLlama.Config()));
        Assert.Equal("adapter_model.safetensors: not found; adapter_model.bin (pickle) is not supported, save the adapter as safetensors", e.Message);
    }

    [Fact]
    public void Create_checks_shapes_against_the_model()
    {
        LlamaConfig model = TinyLlama.Config();
        Assert.Throws<ArgumentException>(() => PeftAdapter.Create(AllSeven, model, (_, _) => new LoraWeights(8, 16, 4, new float[128], new float[32])));
        Assert.Throws<ArgumentException>(() => new LoraWeights(8, 16, 16, new float[127], new float[128]));
    }
}
