// PeftAdapterConfig.cs — adapter_config.json of a PEFT LoRA adapter: rank, alpha, dropout, target
// modules and optional layer subset. Reading rejects the PEFT variants this project cannot reproduce
// (DoRA, rsLoRA, per-module ranks, fan_in_fan_out, biases, extra saved modules) with a clear error;
// writing emits the fields PEFT's LoraConfig reads, sorted as PEFT writes them.
using System.Text;
using System.Text.Json;

namespace LoRAPrune.Core.IO;

/// <summary>The LoRA settings of a PEFT adapter.</summary>
public sealed record PeftAdapterConfig
{
    /// <summary>R, the LoRA rank ("r").</summary>
    public required int Rank { get; init; }

    /// <summary>lora_alpha; the LoRA branch is scaled by Alpha / Rank.</summary>
    public required double Alpha { get; init; }

    /// <summary>lora_dropout on the input of the LoRA branch.</summary>
    public double Dropout { get; init; }

    /// <summary>The adapted projections (target_modules).</summary>
    public required IReadOnlyList<LlamaLinear> TargetModules { get; init; }

    /// <summary>The base model's name or path, when known.</summary>
    public string? BaseModelNameOrPath { get; init; }

    /// <summary>The adapted layers (layers_to_transform), or null for every layer.</summary>
    public IReadOnlyList<int>? LayersToTransform { get; init; }

    /// <summary>s = alpha / r.</summary>
    public double Scaling => Alpha / Rank;

    /// <summary>Reads and validates adapter_config.json.</summary>
    public static PeftAdapterConfig Load(string path)
    {
        using JsonDocument doc = JsonFields.ParseObjectFile(path);
        return Parse(doc.RootElement, Path.GetFileName(path));
    }

    /// <summary>Parses adapter_config.json text; <paramref name="file"/> names it in errors.</summary>
    public static PeftAdapterConfig Parse(string json, string file = "adapter_config.json")
    {
        using JsonDocument doc = JsonFields.ParseObject(Encoding.UTF8.GetBytes(json), file);
        return Parse(doc.RootElement, file);
    }

    /// <summary>Throws a <see cref="ModelFormatException"/> naming <paramref name="file"/> for the first broken invariant;
    /// with <paramref name="model"/>, also checks layers_to_transform against its layer count.</summary>
    public void Validate(string file, LlamaConfig? model = null)
    {
        if (Rank <= 0) throw new ModelFormatException(file, $"r={Rank}, expected a positive integer");
        if (!(double.IsFinite(Alpha) && Alpha > 0)) throw new ModelFormatException(file, $"lora_alpha={Alpha} must be a positive number");
        if (!(double.IsFinite(Dropout) && Dropout >= 0 && Dropout < 1)) throw new ModelFormatException(file, $"lora_dropout={Dropout} must be in [0, 1)");
        if (TargetModules.Count == 0) throw new ModelFormatException(file, "target_modules is empty");
        if (TargetModules.Distinct().Count() != TargetModules.Count) throw new ModelFormatException(file, "target_modules lists a module twice");
        if (LayersToTransform is null) return;
        if (LayersToTransform.Count == 0) throw new ModelFormatException(file, "layers_to_transform is empty");
        if (LayersToTransform.Distinct().Count() != LayersToTransform.Count) throw new ModelFormatException(file, "layers_to_transform lists a layer twice");
        foreach (int layer in LayersToTransform)
        {
            if (layer < 0) throw new ModelFormatException(file, $"layers_to_transform has layer {layer}, expected a layer index >= 0");
            if (model is not null && layer >= model.NumHiddenLayers)
                throw new ModelFormatException(file, $"layers_to_transform has layer {layer}, but config.json says {model.NumHiddenLayers} layers");
        }
    }

    /// <summary>The adapter_config.json text (sorted keys, two-space indent).</summary>
    public string ToJson()
    {
        Validate("adapter_config.json");
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("alpha_pattern");
            w.WriteEndObject();
            w.WriteNull("auto_mapping");
            if (BaseModelNameOrPath is null) w.WriteNull("base_model_name_or_path");
            else w.WriteString("base_model_name_or_path", BaseModelNameOrPath);
            w.WriteString("bias", "none");
            w.WriteBoolean("fan_in_fan_out", false);
            w.WriteBoolean("inference_mode", true);
            w.WriteBoolean("init_lora_weights", true);
            w.WriteNull("layers_pattern");
            if (LayersToTransform is null) w.WriteNull("layers_to_transform");
            else
            {
                w.WriteStartArray("layers_to_transform");
                foreach (int l in LayersToTransform) w.WriteNumberValue(l);
                w.WriteEndArray();
            }
            w.WritePropertyName("lora_alpha");
            w.WriteRawValue(Alpha == Math.Floor(Alpha) && Math.Abs(Alpha) < 1e15 ? ((long)Alpha).ToString(System.Globalization.CultureInfo.InvariantCulture) : LlamaConfigWriter.PythonFloat(Alpha));
            w.WritePropertyName("lora_dropout");
            w.WriteRawValue(LlamaConfigWriter.PythonFloat(Dropout));
            w.WriteNull("modules_to_save");
            w.WriteString("peft_type", "LORA");
            w.WriteNumber("r", Rank);
            w.WriteStartObject("rank_pattern");
            w.WriteEndObject();
            w.WriteNull("revision");
            w.WriteStartArray("target_modules");
            foreach (LlamaLinear m in LlamaLinears.All.Where(TargetModules.Contains)) w.WriteStringValue(m.ModuleName());
            w.WriteEndArray();
            w.WriteString("task_type", "CAUSAL_LM");
            w.WriteBoolean("use_dora", false);
            w.WriteBoolean("use_rslora", false);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static PeftAdapterConfig Parse(JsonElement root, string file)
    {
        string peftType = JsonFields.String(root, "peft_type", file) ?? throw new ModelFormatException(file, "missing field 'peft_type'");
        if (peftType != "LORA") throw new ModelFormatException(file, $"peft_type {ModelFormatException.Quote(peftType)} is not supported (only LORA)");
        string? task = JsonFields.String(root, "task_type", file);
        if (task is not null && task != "CAUSAL_LM") throw new ModelFormatException(file, $"task_type {ModelFormatException.Quote(task)} is not supported (only CAUSAL_LM)");
        string bias = JsonFields.String(root, "bias", file) ?? "none";
        if (bias != "none") throw new ModelFormatException(file, $"bias {ModelFormatException.Quote(bias)} is not supported (only none)");
        Reject(root, "use_dora", "DoRA adapters are not supported", file);
        Reject(root, "use_rslora", "rsLoRA scaling (alpha / sqrt(r)) is not supported", file);
        Reject(root, "fan_in_fan_out", "fan_in_fan_out (transposed weights) is not supported", file);
        RejectNonEmpty(root, "rank_pattern", file);
        RejectNonEmpty(root, "alpha_pattern", file);
        RejectNonEmpty(root, "modules_to_save", file);

        var config = new PeftAdapterConfig
        {
            Rank = JsonFields.RequiredPositiveInt(root, "r", file),
            Alpha = JsonFields.Number(root, "lora_alpha", file) ?? throw new ModelFormatException(file, "missing field 'lora_alpha'"),
            Dropout = JsonFields.Number(root, "lora_dropout", file) ?? 0.0,
            TargetModules = ReadTargets(root, file),
            BaseModelNameOrPath = JsonFields.String(root, "base_model_name_or_path", file),
            LayersToTransform = JsonFields.IntList(root, "layers_to_transform", file),
        };
        config.Validate(file);
        return config;
    }

    private static List<LlamaLinear> ReadTargets(JsonElement root, string file)
    {
        JsonElement targets = JsonFields.Get(root, "target_modules") ?? throw new ModelFormatException(file, "missing field 'target_modules'");
        if (targets.ValueKind == JsonValueKind.String)
        {
            string s = targets.GetString()!;
            return s == "all-linear" ? [.. LlamaLinears.All]
                : throw new ModelFormatException(file, $"target_modules {ModelFormatException.Quote(s)} is a regular expression, which is not supported; list module names such as [\"q_proj\", \"v_proj\"]");
        }
        if (targets.ValueKind != JsonValueKind.Array)
            throw new ModelFormatException(file, $"target_modules is {JsonFields.Describe(targets.ValueKind)}, expected a list of module names");
        var result = new List<LlamaLinear>();
        foreach (JsonElement e in targets.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.String || !LlamaLinears.TryParse(e.GetString()!, out LlamaLinear linear))
                throw new ModelFormatException(file, $"target_modules entry {JsonFields.Show(e)} is not one of {string.Join(", ", LlamaLinears.All.Select(m => m.ModuleName()))}");
            result.Add(linear);
        }
        return result;
    }

    private static void Reject(JsonElement root, string field, string why, string file)
    {
        if (JsonFields.Bool(root, field, file) == true) throw new ModelFormatException(file, $"{field}=true: {why}");
    }

    private static void RejectNonEmpty(JsonElement root, string field, string file)
    {
        if (JsonFields.Get(root, field) is not { } v) return;
        bool empty = v.ValueKind switch
        {
            JsonValueKind.Object => !v.EnumerateObject().Any(),
            JsonValueKind.Array => v.GetArrayLength() == 0,
            _ => false,
        };
        if (!empty) throw new ModelFormatException(file, $"{field} is set, which is not supported (one rank and alpha for every adapted projection, no extra saved modules)");
    }
}
