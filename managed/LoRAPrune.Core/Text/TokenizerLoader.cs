// TokenizerLoader — finds and loads the tokenizer of a model folder (tokenizer.json first, then
// tokenizer.model, with tokenizer_config.json for special-token names) and hands out the embedded LLaMA-2 one.
using System.Text.Json;

namespace LoRAPrune.Core.Text;

/// <summary>Entry points for getting an <see cref="ITokenizer"/>.</summary>
public static class TokenizerLoader
{
    static readonly Lazy<LlamaSentencePieceTokenizer> Llama2 = new(LlamaSentencePieceTokenizer.FromEmbeddedLlama2);

    /// <summary>The LLaMA-1/2 tokenizer embedded in LoRAPrune.Core (built once, then shared).</summary>
    public static LlamaSentencePieceTokenizer LoadLlama2Default() => Llama2.Value;

    /// <summary>Loads the tokenizer of a HF-style model folder: tokenizer.json if present, else tokenizer.model.</summary>
    public static ITokenizer Load(string modelDir)
    {
        if (!Directory.Exists(modelDir))
            throw new TokenizerFileException(modelDir, "model folder does not exist");
        string json = Path.Combine(modelDir, "tokenizer.json");
        if (File.Exists(json))
            return HfTokenizerJson.Load(json, ReadConfigNames(Path.Combine(modelDir, "tokenizer_config.json")));
        string model = Path.Combine(modelDir, "tokenizer.model");
        if (File.Exists(model))
            return LlamaSentencePieceTokenizer.FromModelFile(model);
        throw new TokenizerFileException(modelDir, $"no tokenizer.json or tokenizer.model in {modelDir}");
    }

    /// <summary>Loads one tokenizer file: *.json as HF tokenizer.json, anything else as a SentencePiece model.</summary>
    public static ITokenizer LoadFile(string path)
    {
        if (!File.Exists(path))
            throw new TokenizerFileException(path, "file does not exist");
        return path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
            ? HfTokenizerJson.Load(path, ReadConfigNames(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "tokenizer_config.json")))
            : LlamaSentencePieceTokenizer.FromModelFile(path);
    }

    // bos_token / eos_token / pad_token of tokenizer_config.json: a string, or an object whose "content" is one.
    static SpecialTokenNames ReadConfigNames(string path)
    {
        if (!File.Exists(path))
            return new SpecialTokenNames();
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            string? Name(string key) =>
                doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty(key, out var v) ? null
                : v.ValueKind == JsonValueKind.String ? v.GetString()
                : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()
                : null;
            return new SpecialTokenNames(Name("bos_token"), Name("eos_token"), Name("pad_token"));
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new TokenizerFileException(path, $"cannot read special-token names: {e.Message}", e);
        }
    }
}
