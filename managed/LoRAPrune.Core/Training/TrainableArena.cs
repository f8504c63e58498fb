// TrainableArena.cs — one trainable parameter arena and the gradient arena of the same layout that
// backward accumulates into. The trainer sweeps a list of these (LoRA A/B now; base weights too
// when pretraining), so one loop serves every kind of training.
using LoRAPrune.Core.Model;

namespace LoRAPrune.Core.Training;

public sealed record TrainableArena(TensorArena Params, TensorArena Grads)
{
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
