// TrainableArena.cs — one trainable parameter arena, the gradient arena of the same layout that
// backward accumulates into, and which entries AdamW's weight decay applies to. The trainer sweeps a
// list of these (LoRA A/B; base weights when pretraining), so one loop serves every kind of training.
using LoRAPrune.Core.Model;

namespace LoRAPrune.Core.Training;

/// <param name="Decays">Whether AdamW's decoupled weight decay applies to an entry; null: to every entry.
/// Pretraining decays only the 2-D weights (<see cref="MatricesOnly"/>), as nanoGPT and HF do.</param>
public sealed record TrainableArena(TensorArena Params, TensorArena Grads, Func<TensorArena.Entry, bool>? Decays = null)
{
    /// <summary>Weight decay for matrices (projections, embedding, lm_head), none for 1-D tensors (RMSNorm weights, biases).</summary>
    public static bool MatricesOnly(TensorArena.Entry entry) => entry.Shape.Length >= 2;

    /// <summary>True when weight decay applies to <paramref name="entry"/>.</summary>
    public bool DecaysEntry(TensorArena.Entry entry) => Decays?.Invoke(entry) ?? true;

    /// <summary>Checks that the two arenas share a layout (same names, shapes and offsets).</summary>
    public void Validate()
    {
        if (Params.Count != Grads.Count || Params.Entries.Count != Grads.Entries.Count)
            throw new ArgumentException("a gradient arena must have the layout of its parameter arena");
        for (int i = 0; i < Params.Entries.Count; i++)
        {
            TensorArena.Entry p = Params.Entries[i], g = Grads.Entries[i];
            if (p.Name != g.Name || p.Offset != g.Offset || !p.Shape.SequenceEqual(g.Shape))
                throw new ArgumentException($"gradient arena entry '{g.Name}' does not match parameter entry '{p.Name}'");
        }
    }
}
