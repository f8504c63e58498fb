// ModelFingerprint.cs — the SHA-256 that pins which weights a result was measured on. Several files
// are combined the way `sha256sum` lists them: the SHA-256 of the text "<hex>  <name>\n" per file, so
//   cd MODEL && LC_ALL=C sha256sum config.json *.safetensors | sha256sum
// reproduces a model's value (adapter: sha256sum adapter_config.json adapter_model.safetensors | sha256sum).
using System.Security.Cryptography;
using System.Text;
using LoRAPrune.Core.IO;

namespace LoRAPrune.Core.Eval;

/// <summary>The SHA-256 of one file.</summary>
public sealed record FileHash(string Name, string Sha256);

/// <summary>The combined SHA-256 of a file set and each file's own.</summary>
public sealed record Fingerprint(string Sha256, IReadOnlyList<FileHash> Files);

/// <summary>Fingerprints of model and adapter folders.</summary>
public static class ModelFingerprint
{
    /// <summary>config.json, then the safetensors files the model is read from in ordinal name order.</summary>
    public static Fingerprint OfModel(LlamaCheckpoint checkpoint) =>
        Of([Path.Combine(checkpoint.Folder, LlamaCheckpoint.ConfigFileName),
            .. checkpoint.Tensors.Shards.Select(s => s.FullPath).OrderBy(Path.GetFileName, StringComparer.Ordinal)]);

    /// <summary>adapter_config.json, then adapter_model.safetensors.</summary>
    public static Fingerprint OfAdapter(string folder) =>
        Of([Path.Combine(folder, PeftAdapter.ConfigFileName), Path.Combine(folder, PeftAdapter.WeightsFileName)]);

    /// <summary>The files in the given order, combined as sha256sum lists them (file names without folders).</summary>
    public static Fingerprint Of(IReadOnlyList<string> paths)
    {
        var files = new List<FileHash>(paths.Count);
        var listing = new StringBuilder();
        foreach (string path in paths)
        {
            using FileStream stream = File.OpenRead(path);
            var hash = new FileHash(Path.GetFileName(path), Convert.ToHexStringLower(SHA256.HashData(stream)));
            files.Add(hash);
            listing.Append(hash.Sha256).Append("  ").Append(hash.Name).Append('\n');
        }
        return new Fingerprint(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(listing.ToString()))), files);
    }
}
