// Ref.Helpers.cs — shared plumbing of the float64 oracle: row-major arrays <-> MathNet matrices and
// argument checks. The oracle (class Ref) mirrors every op of lp.h in double precision, written for
// clarity; the conformance suite compares each native backend against it and `bench kernels` validates
// the cpu backend with it before timing.
using MathNet.Numerics.LinearAlgebra;

namespace LoRAPrune.Reference;

/// <summary>
/// Float64 reference of every op of <c>lp.h</c>. All tensors are row-major <c>double[]</c> with their
/// shape passed explicitly; every function returns new arrays (outputs marked (+=) in lp.h are
/// returned as the contribution to add) except <see cref="AdamWStep"/>, which updates in place
/// like the op it mirrors.
/// </summary>
public static partial class Ref
{
    /// <summary>A (rows, cols) matrix view of a row-major array (copied).</summary>
    static Matrix<double> Mat(double[] data, int rows, int cols)
    {
        Need(data, rows * cols, nameof(data));
        return Matrix<double>.Build.DenseOfRowMajor(rows, cols, data);
    }

    /// <summary>The row-major array of a matrix.</summary>
    static double[] Flat(Matrix<double> m) => m.ToRowMajorArray();

    /// <summary>Throws unless <paramref name="data"/> holds exactly <paramref name="count"/> elements.</summary>
    static void Need(double[] data, long count, string name)
    {
        ArgumentNullException.ThrowIfNull(data, name);
        if (data.LongLength != count)
            throw new ArgumentException($"{name}: expected {count} elements, got {data.LongLength}", name);
    }

    static void Need(int[] data, long count, string name)
    {
        ArgumentNullException.ThrowIfNull(data, name);
        if (data.LongLength != count)
            throw new ArgumentException($"{name}: expected {count} elements, got {data.LongLength}", name);
    }

    static void NeedSameLength(double[] a, double[] b, string nameA, string nameB)
    {
        ArgumentNullException.ThrowIfNull(a, nameA);
        ArgumentNullException.ThrowIfNull(b, nameB);
        if (a.Length != b.Length)
            throw new ArgumentException($"{nameB}: length {b.Length} differs from {nameA} ({a.Length})", nameB);
    }

    /// <summary>Throws unless the LoRA pair is given together (both or neither).</summary>
    static bool HasLora(double[]? a, double[]? b)
    {
        if ((a is null) != (b is null))
            throw new ArgumentException("a, b: must be both given or both null");
        return a is not null;
    }
}
