// PretrainRecipe.cs — RECIPE.md of a pretrained model folder: how the model was made, for a person, rendered from
// the same JSON as recipe.json (commands, architecture, data files with SHA-256, every training setting, the result)
// with the training curve, so the two can never disagree.
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Core.Training;

public static class PretrainRecipe
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Markdown(JsonObject recipe, LlamaConfig c, long parameters, double seconds)
    {
        var md = new StringBuilder();
        md.AppendLine("# How this model was made").AppendLine();
        md.AppendLine($"A LLaMA-architecture decoder trained from {(recipe["init_model"] is null ? "a random start" : $"`{recipe["init_model"]}`")} " +
                      $"by `loraprune pretrain` ({recipe["tool"]}). `recipe.json` beside this file holds the same facts as data.").AppendLine();
        md.AppendLine("## Commands").AppendLine().AppendLine("```bash");
        foreach (JsonNode? command in recipe["commands"]!.AsArray()) md.AppendLine(command!.GetValue<string>());
        md.AppendLine("```").AppendLine();
        md.AppendLine("Each line is one session; later ones continued the run with `--resume`, which ends bit-identical to an uninterrupted run on the CPU backend.").AppendLine();

        md.AppendLine("## Architecture").AppendLine();
        md.AppendLine($"hidden {c.HiddenSize}, {c.NumHiddenLayers} layers, {c.NumAttentionHeads} query heads / {c.NumKeyValueHeads} key-value heads of {c.HeadDim} " +
                      $"(GQA, {c.NumAttentionHeads / c.NumKeyValueHeads} query heads per group), SwiGLU MLP {c.IntermediateSize}, vocabulary {c.VocabSize}, " +
                      $"RoPE theta {c.RopeTheta.ToString(Inv)}, context {c.MaxPositionEmbeddings}, {(c.TieWordEmbeddings ? "tied" : "separate")} input/output embeddings: " +
                      $"**{parameters:N0} parameters**, stored as {recipe["save_dtype"]}. Tokenizer: {recipe["tokenizer"]?["name"] ?? "none"}.").AppendLine();

        md.AppendLine("## Data").AppendLine();
        md.AppendLine("| role | spec | bytes | SHA-256 |").AppendLine("|---|---|---:|---|");
        foreach ((string role, string key) in new[] { ("train", "data"), ("held-out", "eval_data") })
            foreach (JsonNode? f in recipe[key]?["files"]?.AsArray() ?? [])
                md.AppendLine($"| {role} | `{f!["spec"]}` | {(long)f["bytes"]!:N0} | `{f["sha256"]}` |");
        md.AppendLine();
        md.AppendLine($"Training samples: {recipe["data"]?["description"]}. Held-out: {recipe["eval_data"]?["description"] ?? "none"}.").AppendLine();

        md.AppendLine("## Training").AppendLine();
        md.AppendLine("| setting | value |").AppendLine("|---|---|");
        foreach ((string key, JsonNode? value) in recipe["training"]!.AsObject()) md.AppendLine($"| {key} | {value?.ToJsonString() ?? "null"} |");
        md.AppendLine($"| device | \"{recipe["device"]}\" |");
        md.AppendLine();

        JsonObject result = recipe["result"]!.AsObject();
        md.AppendLine("## Result").AppendLine();
        md.AppendLine($"- {(long)result["steps"]!:N0} optimizer steps, {(long)result["tokens_trained"]!:N0} tokens trained in {TimeSpan.FromSeconds(seconds):hh\\:mm\\:ss}");
        md.AppendLine($"- final training loss {Num(result["final_train_loss"])}");
        if (result["eval_loss"] is { } evalLoss)
            md.AppendLine($"- held-out loss {Num(evalLoss)}, perplexity {Num(result["eval_perplexity"], "F2")} ({result["eval_protocol"]})");
        md.AppendLine().AppendLine("![training curve](training.png)");
        return md.ToString();
    }

    private static string Num(JsonNode? v, string format = "F4") => v is null ? "n/a" : ((double)v).ToString(format, Inv);
}
