// SafetensorsDType.cs — the element types a safetensors header may name and this project accepts.
// Any other dtype string in a header is an error that names the tensor and the dtype.
namespace LoRAPrune.Core.IO;

/// <summary>Element type of a safetensors tensor; names match the header's "dtype" strings.</summary>
public enum SafetensorsDType
{
    Bool,
    U8,
    I8,
    I16,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
}
