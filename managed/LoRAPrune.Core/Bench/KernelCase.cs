// KernelCase.cs — one benchmarked op at one shape: how to set it up on a context, how much work one
// call does (bytes moved, FLOPs: formulas next to each case), which roof bounds it, its validation
// tolerance and its float64 spot check. KernelInstance is the case set up on one backend.
using LoRAPrune.Native;

namespace LoRAPrune.Core.Bench;

/// <summary>Which measured compute roof an op is held against (its memory roof is always the copy bandwidth).</summary>
public enum ComputeRoof
{
    /// <summary>No arithmetic worth a roof: gathers and copies, measured against bandwidth only.</summary>
    None,
    /// <summary>f32 operands: the f32 GEMM probe.</summary>
    GemmF32,
    /// <summary>bf16 base weights: the bf16 GEMM probe.</summary>
    GemmBf16,
}

/// <summary>A normalised-error limit and the reason it is that large.</summary>
public sealed record Tolerance(double Limit, string Reason)
{
    public static readonly Tolerance F32 = new(1e-4,
        "f32 results summed in another order (BLAS blocking, parallel or fused reductions) over up to ~1e4 terms: " +
        "about sqrt(K)*6e-8 = 1e-5 typical, so 1e-4 leaves a 10x margin");

    public static readonly Tolerance Bf16Weights = new(2e-2,
        "identical bf16 weights on both sides, but a GPU backend may also round the activation operand to bf16 for its " +
        "tensor-core GEMM (2^-9 relative per element, ~3e-3 over a dot product); 2e-2 leaves a margin");

    public static readonly Tolerance Exact = new(0,
        "a gather copies values: any difference is a bug");
}

/// <summary>One sampled output element with its float64 expected value.</summary>
public readonly record struct SpotSample(string Output, long Index, double Got, double Expected);

/// <summary>
/// The float64 spot check of a case on the cpu backend: given the downloaded outputs (name -> values)
/// and a seeded generator, returns a few sampled elements with their float64 expected values.
/// </summary>
public delegate IEnumerable<SpotSample> SpotCheck(IReadOnlyDictionary<string, float[]> outputs, Random rng);

/// <param name="Op">The op name as in the table ("lora_linear_fwd").</param>
/// <param name="Variant">What distinguishes this row ("f32 W", "axis 1", ...), or "".</param>
/// <param name="Shape">The tensors' shapes in the legend of lp.h.</param>
/// <param name="Bytes">Bytes one call must move at least (each input read once, each output written once).</param>
/// <param name="Flops">Floating-point operations of one call (0 for pure data movement).</param>
/// <param name="Roof">The compute roof it is held against.</param>
/// <param name="Tolerance">Validation threshold on the normalised L2 error.</param>
/// <param name="Build">Uploads the case's inputs into an instance and sets its launch and outputs.</param>
/// <param name="Spot">The float64 spot check that validates the cpu backend.</param>
public sealed record KernelCase(string Op, string Variant, string Shape, double Bytes, double Flops, ComputeRoof Roof,
                                Tolerance Tolerance, Action<KernelInstance> Build, SpotCheck Spot)
{
    /// <summary>"lora_linear_fwd (bf16 W)" or just the op.</summary>
    public string Title => Variant.Length == 0 ? Op : $"{Op} ({Variant})";

    public override string ToString() => Title;
}

/// <summary>
/// A case set up on one context: the tensors it owns, the action that launches the op once and the
/// outputs compared by validation. Disposing frees every tensor.
/// </summary>
public sealed class KernelInstance : IDisposable
{
    private readonly List<Tensor> _owned = new();
    private readonly List<(string Name, Func<float[]> Read)> _outputs = new();

    public KernelInstance(Context context) => Context = context;

    public Context Context { get; }

    /// <summary>Launches the op once (asynchronously on device backends). Set by the case's Build.</summary>
    public Action Launch { get; set; } = () => throw new InvalidOperationException("the case did not set its launch");

    /// <summary>An f32 tensor holding data.</summary>
    public Tensor F32(float[] data, params long[] shape) => Own(Context.Upload(data, shape));

    /// <summary>A bf16 tensor holding data (already bf16-representable, so nothing is rounded).</summary>
    public Tensor Bf16(float[] data, params long[] shape) => Own(Context.UploadBf16(data, shape));

    /// <summary>An f32 or bf16 tensor holding data, by dtype.</summary>
    public Tensor Weight(LpDType dtype, float[] data, params long[] shape) => dtype == LpDType.BF16 ? Bf16(data, shape) : F32(data, shape);

    public Tensor I32(int[] data, params long[] shape) => Own(Context.Upload(data, shape));

    /// <summary>An f32 tensor of zeros (for (=) outputs and zero-initialised (+=) outputs).</summary>
    public Tensor Zeros(params long[] shape)
    {
        Tensor tensor = Own(Context.NewTensor(LpDType.F32, shape));
        tensor.Buffer.Fill(0, tensor.OffsetBytes, tensor.ByteCount);
        return tensor;
    }

    /// <summary>Marks a tensor as an output compared by validation under this name.</summary>
    public void Output(string name, Tensor tensor) => _outputs.Add((name, tensor.ToFloatArray));

    /// <summary>Marks a host value produced by the launch (e.g. the applied flag of importance_ema) as an output.</summary>
    public void Output(string name, Func<float[]> read) => _outputs.Add((name, read));

    /// <summary>Waits for the op and downloads every output.</summary>
    public IReadOnlyDictionary<string, float[]> ReadOutputs()
    {
        Context.Synchronize();
        var result = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach ((string name, Func<float[]> read) in _outputs) result[name] = read();
        return result;
    }

    public void Dispose()
    {
        foreach (Tensor tensor in _owned) tensor.Dispose();
        _owned.Clear();
    }

    private Tensor Own(Tensor tensor)
    {
        _owned.Add(tensor);
        return tensor;
    }
}
