// Enums.cs — managed mirrors of the enums of lp.h and the ABI version this host was written for.
// Values are identical to the C definitions so they cross the boundary as plain int32.
namespace LoRAPrune.Native;

/// <summary>lp_status: 0 = ok, negative = error.</summary>
public enum LpStatus
{
    Ok = 0,
    InvalidArgument = -1,
    ShapeMismatch = -2,
    Unsupported = -3,
    OutOfMemory = -4,
    Device = -5,
    DeviceSticky = -6,
    AbiMismatch = -7,
    Internal = -8,
}

/// <summary>lp_dtype: element type of a tensor.</summary>
public enum LpDType
{
    F32 = 0,
    F16 = 1,
    BF16 = 2,
    I32 = 3,
}

/// <summary>lp_backend_kind: what a backend library runs on.</summary>
public enum BackendKind
{
    Cpu = 0,
    Cuda = 1,
    CudaEmulated = 2,
}

/// <summary>lp_importance_mode: the gradient estimate G of lp_op_importance_accumulate.</summary>
public enum ImportanceMode
{
    Lora = 0,
    Grad = 1,
    Magnitude = 2,
}

/// <summary>Barrier thread order of the emulated CUDA backend (lp_context_set_emulation_order).</summary>
public enum EmulationOrder
{
    Forward = 0,
    Reverse = 1,
    Shuffled = 2,
}

/// <summary>The lp.h ABI version this host binds; a library with another major is refused.</summary>
public static class LpAbi
{
    public const int Major = 1;
    public const int Minor = 3;

    /// <summary>Splits lp_get_abi_version() = (major &lt;&lt; 16) | minor.</summary>
    public static (int Major, int Minor) Split(uint version) => ((int)(version >> 16), (int)(version & 0xffff));
}

/// <summary>Element sizes of the dtypes.</summary>
public static class LpDTypeExtensions
{
    public static int Size(this LpDType dtype) => dtype switch
    {
        LpDType.F32 => 4,
        LpDType.F16 => 2,
        LpDType.BF16 => 2,
        LpDType.I32 => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not an lp_dtype"),
    };
}
