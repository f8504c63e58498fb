// Ref.Linear.cs — float64 reference of the matrix ops of lp.h: one 2-D GEMM problem, the LoRA
// linear layer (docs/method.md §1.3) forward and backward, and the LoRA merge, written with MathNet
// matrices so each line reads like the formula in lp.h.
using MathNet.Numerics.LinearAlgebra;

namespace LoRAPrune.Reference;

public static partial class Ref
{
    /// <summary>
    /// C = alpha * op(A) * op(B) + beta * C for one 2-D problem. a is stored (aRows, aCols), b is stored
    /// (bRows, bCols); op transposes when trans* is set. c is the (M,N) input; as in BLAS, beta == 0
    /// means C is not read (c may then be null, and NaN in it does not propagate). Returns (M,N).
    /// </summary>
    public static double[] Gemm(double[] a, int aRows, int aCols, double[] b, int bRows, int bCols,
                                bool transA, bool transB, double alpha, double beta, double[]? c)
    {
        Matrix<double> opA = transA ? Mat(a, aRows, aCols).Transpose() : Mat(a, aRows, aCols); // (M, K)
        Matrix<double> opB = transB ? Mat(b, bRows, bCols).Transpose() : Mat(b, bRows, bCols); // (K, N)
        if (opA.ColumnCount != opB.RowCount)
            throw new ArgumentException($"b: op(A) is {opA.RowCount}x{opA.ColumnCount} but op(B) is {opB.RowCount}x{opB.ColumnCount}");
        Matrix<double> result = alpha * (opA * opB); // (M, N)
        if (beta != 0.0)
        {
            ArgumentNullException.ThrowIfNull(c);
            result += beta * Mat(c, opA.RowCount, opB.ColumnCount);
        }
        return Flat(result);
    }

    /// <summary>
    /// LoRA linear forward: y = (x W^T + scale * (drop(x) A^T) B^T) (.) mask, xa = drop(x) A^T.
    /// x (N,IN), w (OUT,IN), a (R,IN), b (OUT,R) (both null: plain linear), mask (OUT) (null = ones).
    /// drop is <see cref="Dropout"/> of x at (p, seed, offset). Returns y (N,OUT) and xa (N,R); xa is
    /// empty when there is no LoRA.
    /// </summary>
    public static (double[] y, double[] xa) LoraLinearForward(
        double[] x, int N, int IN, double[] w, int OUT, double[]? a, double[]? b, int R,
        double[]? mask, double scale, float p, ulong seed, ulong offset)
    {
        Matrix<double> X = Mat(x, N, IN);    // (N, IN)
        Matrix<double> W = Mat(w, OUT, IN);  // (OUT, IN)
        Matrix<double> Y = X * W.Transpose(); // (N, OUT)
        double[] xa = [];
        if (HasLora(a, b))
        {
            Matrix<double> A = Mat(a!, R, IN);   // (R, IN)
            Matrix<double> Bm = Mat(b!, OUT, R); // (OUT, R)
            Matrix<double> Xd = Mat(Dropout(x, p, seed, offset), N, IN); // (N, IN)
            Matrix<double> XA = Xd * A.Transpose(); // (N, R)
            Y += scale * (XA * Bm.Transpose());
            xa = Flat(XA);
        }
        return (Flat(ScaleColumns(Y, mask)), xa);
    }

    /// <summary>
    /// LoRA linear backward, with g = dy (.) mask:
    ///   dx = g W + scale * ((g B) A) (.) dropfactor,   da = scale * (g B)^T drop(x),
    ///   db = scale * g^T xa (xa = drop(x) A^T),       dw = g^T x.
    /// da/db/dw are the contributions to add (da/db null when there is no LoRA).
    /// </summary>
    public static (double[] dx, double[]? da, double[]? db, double[] dw) LoraLinearBackward(
        double[] dy, double[] x, int N, int IN, double[] w, int OUT, double[]? a, double[]? b, int R,
        double[]? mask, double scale, float p, ulong seed, ulong offset)
    {
        Matrix<double> G = ScaleColumns(Mat(dy, N, OUT), mask); // (N, OUT)
        Matrix<double> X = Mat(x, N, IN);   // (N, IN)
        Matrix<double> W = Mat(w, OUT, IN); // (OUT, IN)
        Matrix<double> dX = G * W;          // (N, IN)
        Matrix<double> dW = G.Transpose() * X; // (OUT, IN)
        if (!HasLora(a, b))
            return (Flat(dX), null, null, Flat(dW));

        Matrix<double> A = Mat(a!, R, IN);   // (R, IN)
        Matrix<double> Bm = Mat(b!, OUT, R); // (OUT, R)
        Matrix<double> factors = Mat(DropoutFactors(N * IN, p, seed, offset), N, IN); // (N, IN) 0 or 1/(1-p)
        Matrix<double> Xd = X.PointwiseMultiply(factors); // (N, IN) drop(x)
        Matrix<double> GB = G * Bm;           // (N, R)
        Matrix<double> XA = Xd * A.Transpose(); // (N, R)
        dX += scale * (GB * A).PointwiseMultiply(factors);
        Matrix<double> dA = scale * (GB.Transpose() * Xd); // (R, IN)
        Matrix<double> dB = scale * (G.Transpose() * XA);  // (OUT, R)
        return (Flat(dX), Flat(dA), Flat(dB), Flat(dW));
    }

    /// <summary>LoRA merge: returns w + scale * B A. w (OUT,IN), a (R,IN), b (OUT,R).</summary>
    public static double[] LoraMerge(double[] w, int OUT, int IN, double[] a, double[] b, int R, double scale)
    {
        Matrix<double> merged = Mat(w, OUT, IN) + scale * (Mat(b, OUT, R) * Mat(a, R, IN)); // (OUT, IN)
        return Flat(merged);
    }

    /// <summary>m with column j multiplied by mask[j] (mask null = all ones).</summary>
    static Matrix<double> ScaleColumns(Matrix<double> m, double[]? mask)
    {
        if (mask is null)
            return m;
        Need(mask, m.ColumnCount, nameof(mask));
        return m * Matrix<double>.Build.DiagonalOfDiagonalArray(mask);
    }
}
