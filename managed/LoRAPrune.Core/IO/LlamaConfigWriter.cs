// LlamaConfigWriter.cs — writes a LlamaConfig as Hugging Face config.json (sorted keys, two-space
// indent, Python-style numbers), atomically. Uniform mode emits only stock fields, so transformers'
// LlamaForCausalLM (or Mistral/Qwen2) loads a uniformly pruned model unchanged; per-layer mode adds the
// loraprune_* width lists documented on LlamaConfig.
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LoRAPrune.Core.IO;

/// <summary>Serialises <see cref="LlamaConfig"/> to config.json.</summary>
public static class LlamaConfigWriter
{
    /// <summary>Writes <paramref name="config"/> to <paramref name="path"/> atomically.</summary>
    public static void Save(LlamaConfig config, string path, ConfigLayout layout = ConfigLayout.Auto) =>
        AtomicFile.WriteText(path, ToJson(config, layout));

    /// <summary>The config.json text for <paramref name="config"/> in <paramref name="layout"/>.</summary>
    public static string ToJson(LlamaConfig config, ConfigLayout layout = ConfigLayout.Auto)
    {
        config.Validate("config.json");
        bool uniform = layout switch
        {
            ConfigLayout.Uniform => config.IsUniform ? true : throw new InvalidOperationException(
                "config.json: uniform layout needs every layer to have the same heads, KV heads and MLP width"),
            ConfigLayout.PerLayer => false,
            _ => config.IsUniform,
        };

        var fields = new SortedDictionary<string, Action<Utf8JsonWriter>>(StringComparer.Ordinal);
        void Int(string name, int value) => fields[name] = w => w.WriteNumberValue(value);
        void Real(string name, double value) => fields[name] = w => w.WriteRawValue(PythonFloat(value));
        void Bool(string name, bool value) => fields[name] = w => w.WriteBooleanValue(value);
        void Str(string name, string value) => fields[name] = w => w.WriteStringValue(value);
        void Ints(string name, IEnumerable<int> values) => fields[name] = w =>
        {
            w.WriteStartArray();
            foreach (int v in values) w.WriteNumberValue(v);
            w.WriteEndArray();
        };

        fields["architectures"] = w =>
        {
            w.WriteStartArray();
            w.WriteStringValue(ArchitectureOf(config.ModelType));
            w.WriteEndArray();
        };
        Str("model_type", config.ModelType);
        Str("hidden_act", "silu");
        Int("hidden_size", config.HiddenSize);
        Int("head_dim", config.HeadDim);
        Int("num_hidden_layers", config.NumHiddenLayers);
        Int("vocab_size", config.VocabSize);
        Int("max_position_embeddings", config.MaxPositionEmbeddings);
        Real("rms_norm_eps", config.RmsNormEps);
        Real("rope_theta", config.RopeTheta);
        fields["rope_scaling"] = w => WriteRopeScaling(w, config.RopeScaling);
        Bool("tie_word_embeddings", config.TieWordEmbeddings);
        Real("attention_dropout", 0.0);
        Bool("use_cache", true);
        if (config.BosTokenId is { } bos) Int("bos_token_id", bos);
        if (config.EosTokenIds.Count == 1) Int("eos_token_id", config.EosTokenIds[0]);
        else if (config.EosTokenIds.Count > 1) Ints("eos_token_id", config.EosTokenIds);
        if (config.PadTokenId is { } pad) Int("pad_token_id", pad);
        if (config.TorchDtype is { } dtype) Str("torch_dtype", dtype);
        switch (config.ModelType)
        {
            case "llama":
                Bool("attention_bias", config.QkvBias);
                Bool("mlp_bias", config.MlpBias);
                break;
            case "mistral":
                fields["sliding_window"] = w => WriteOptionalInt(w, config.SlidingWindow);
                break;
            case "qwen2":
                Bool("use_sliding_window", config.SlidingWindow is not null);
                fields["sliding_window"] = w => WriteOptionalInt(w, config.SlidingWindow);
                break;
        }

        int L = config.NumHiddenLayers;
        if (uniform)
        {
            Int("num_attention_heads", config.AttentionHeads(0));
            Int("num_key_value_heads", config.KeyValueHeads(0));
            Int("intermediate_size", config.Intermediate(0));
        }
        else
        {
            Int("num_attention_heads", config.NumAttentionHeads);
            Int("num_key_value_heads", config.NumKeyValueHeads);
            Int("intermediate_size", config.IntermediateSize);
            Ints(LlamaConfigReader.LayerAttentionHeadsField, Enumerable.Range(0, L).Select(config.AttentionHeads));
            Ints(LlamaConfigReader.LayerKeyValueHeadsField, Enumerable.Range(0, L).Select(config.KeyValueHeads));
            Ints(LlamaConfigReader.LayerIntermediateSizeField, Enumerable.Range(0, L).Select(config.Intermediate));
        }

        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            foreach ((string name, Action<Utf8JsonWriter> write) in fields)
            {
                json.WritePropertyName(name);
                write(json);
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    /// <summary>The transformers class name for a model_type.</summary>
    public static string ArchitectureOf(string modelType) => modelType switch
    {
        "llama" => "LlamaForCausalLM",
        "mistral" => "MistralForCausalLM",
        "qwen2" => "Qwen2ForCausalLM",
        _ => throw new ArgumentException($"model_type '{modelType}' is not supported", nameof(modelType)),
    };

    /// <summary>A double as Python's repr writes it ("1e-05", "500000.0"), so values round-trip exactly.</summary>
    public static string PythonFloat(double value)
    {
        string s = value.ToString("R", CultureInfo.InvariantCulture).Replace('E', 'e');
        return s.Contains('.') || s.Contains('e') ? s : s + ".0";
    }

    private static void WriteRopeScaling(Utf8JsonWriter w, RopeScaling? scaling)
    {
        if (scaling is null)
        {
            w.WriteNullValue();
            return;
        }
        w.WriteStartObject();
        w.WritePropertyName("factor");
        w.WriteRawValue(PythonFloat(scaling.Factor));
        if (scaling.RopeType == "llama3")
        {
            w.WritePropertyName("high_freq_factor");
            w.WriteRawValue(PythonFloat(scaling.HighFreqFactor));
            w.WritePropertyName("low_freq_factor");
            w.WriteRawValue(PythonFloat(scaling.LowFreqFactor));
            w.WriteNumber("original_max_position_embeddings", scaling.OriginalMaxPositionEmbeddings);
        }
        w.WriteString("rope_type", scaling.RopeType);
        w.WriteEndObject();
    }

    private static void WriteOptionalInt(Utf8JsonWriter w, int? value)
    {
        if (value is { } v) w.WriteNumberValue(v);
        else w.WriteNullValue();
    }
}
