// Tol.cs — the conformance thresholds, each with the reason it is that size. Errors are
// normalised: ||backend - reference||_2 / ||reference||_2, reference in float64 on the same
// (f32- or bf16-representable) inputs, so the only error measured is the backend's own rounding.
using LoRAPrune.Native;

namespace LoRAPrune.Tests.Conformance;

public static class Tol
{
    public static readonly Tolerance Copy =
        new(0, "a gather/copy/convert of representable values must be exact");

    public static readonly Tolerance Elementwise =
        new(2e-6, "a few f32 roundings per element (unit roundoff 6e-8) plus libm exp/sin/cos/rsqrt differences of a few ulp");

    public static readonly Tolerance Reduction =
        new(1e-5, "f32 sums in which one thread adds at most a few hundred terms in sequence (longer rows, up to a 32000-word " +
                  "vocabulary, are split over a block and added as a tree): rounding grows like sqrt(n)*6e-8 on average and n*6e-8 at worst");

    public static readonly Tolerance Gemm =
        new(1e-5, "f32 dot products accumulated in f32 (BLAS/cuBLAS may reorder; no TF32): rounding grows like sqrt(K)*6e-8, " +
                  "4e-6 at LLaMA's K = 4096");

    public static readonly Tolerance Attention =
        new(3e-5, "two chained f32 GEMMs around an exp/normalise; the backward adds dP - rowsum(dO*O), which cancels");

    public static readonly Tolerance Importance =
        new(2e-5, "rank-R dot products, a product, an abs and a row/column sum of up to 4096 positive terms, all f32 " +
                  "(sqrt(4096)*6e-8 = 4e-6 on average)");

    public static readonly Tolerance Bf16Round =
        new(4e-3, "one rounding of the result to bf16, whose 8-bit significand has relative error up to 2^-9 = 2e-3");

    /// <summary>Paths that read bf16 base weights. The CPU widens them to f32 exactly, so f32 rounding
    /// is all it may add; CUDA may also round the activation operand to bf16 for the tensor-core GEMM.</summary>
    public static Tolerance Bf16Weights(OpHarness h, Tolerance f32) =>
        h.Variant.Backend.Kind == BackendKind.Cpu
            ? f32
            : new(1.5e-2, "CUDA rounds activations to bf16 for the bf16 tensor-core GEMM: 2^-9 relative per element, " +
                          "averaging to ~3e-3 over a dot product; 1.5e-2 leaves a 5x margin");
}
