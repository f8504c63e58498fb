// ExpectedTensor.cs — one tensor a LLaMA checkpoint must contain according to its config: the name,
// the shape, and the config fact that requires it (quoted when the tensor is missing).
namespace LoRAPrune.Core.IO;

/// <summary>A tensor the config requires, with its shape and the reason it is required.</summary>
/// <param name="Name">Hugging Face tensor name.</param>
/// <param name="Shape">Expected shape, row-major.</param>
/// <param name="Reason">Why config.json requires it, e.g. "config.json says 4 layers".</param>
public sealed record ExpectedTensor(string Name, IReadOnlyList<long> Shape, string Reason);
