// LlamaCppFactAttribute.cs — a test that needs llama.cpp (the npm-installed libllama in tests/llama-cpp) and,
// when asked, the default model folder; it is reported as skipped, with the reason, where either is missing.
namespace LoRAPrune.Tests.LlamaCpp;

/// <summary>[LlamaCppFact]: skipped with the reason when llama.cpp (or, with NeedsDefaultModel, the default model) is absent.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class LlamaCppFactAttribute : FactAttribute
{
    /// <summary>The model folder under models/ that the default-model case runs on.</summary>
    public const string DefaultModel = "lp-llama-14m";

    /// <summary>The test runs on models/lp-llama-14m and is skipped when that folder is absent.</summary>
    public bool NeedsDefaultModel { get; set; }

    /// <summary>models/lp-llama-14m of this checkout.</summary>
    public static string DefaultModelFolder => Path.Combine(Conformance.RepoFiles.Root, "models", DefaultModel);

    public override string? Skip
    {
        get => base.Skip ?? LlamaCppLibrary.MissingReason() ?? (NeedsDefaultModel ? DefaultModelMissingReason() : null);
        set => base.Skip = value;
    }

    private static string? DefaultModelMissingReason() =>
        File.Exists(Path.Combine(DefaultModelFolder, "config.json")) ? null
            : $"the default model is not in this checkout (no models/{DefaultModel}/config.json); its llama.cpp comparison runs once that folder exists";
}
