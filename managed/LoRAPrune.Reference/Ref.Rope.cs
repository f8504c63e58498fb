// Ref.Rope.cs — float64 reference of the rotary embedding (lp_op_rope_forward/backward), Hugging
// Face rotate-half layout. The default frequencies and the rotation angle are the f32 values lp.h
// prescribes; everything else, cos/sin included, is evaluated in double.
namespace LoRAPrune.Reference;

public static partial class Ref
{
    /// <summary>
    /// f_i = theta^(-2i/D) for i &lt; D/2 as lp.h builds it when inv_freq is NULL, in f32 like Hugging
    /// Face: 1.0f / powf(theta, (float)(2i) / (float)D), with powf taken as the f32 rounding of the
    /// double power. Each value is an f32 value within 2 f32 ulps of the real theta^(-2i/D); keeping
    /// the f32 construction matters because the angle multiplies f_i by positions up to 1e5 and more.
    /// </summary>
    public static double[] RopeInvFreq(int D, double theta)
    {
        if (D <= 0 || D % 2 != 0)
            throw new ArgumentException($"D: head dim must be positive and even, got {D}", nameof(D));
        var invFreq = new double[D / 2]; // (D/2)
        for (int i = 0; i < D / 2; i++)
        {
            float exponent = (float)(2 * i) / (float)D;
            float power = (float)Math.Pow((float)theta, exponent);
            invFreq[i] = 1.0f / power;
        }
        return invFreq;
    }

    /// <summary>
    /// For i &lt; D/2, with angle = (posOffset + t) * f_i:
    ///   y[i] = x[i] cos - x[i+D/2] sin,   y[i+D/2] = x[i+D/2] cos + x[i] sin.
    /// x (B,T,NH,D), invFreq (D/2). Returns y (B,T,NH,D).
    /// </summary>
    public static double[] RopeForward(double[] x, int B, int T, int NH, int D, double[] invFreq, long posOffset)
        => Rotate(x, B, T, NH, D, invFreq, posOffset, +1.0);

    /// <summary>The transpose of the forward rotation (rotation by -angle): dx = R^T dy. Returns (B,T,NH,D).</summary>
    public static double[] RopeBackward(double[] dy, int B, int T, int NH, int D, double[] invFreq, long posOffset)
        => Rotate(dy, B, T, NH, D, invFreq, posOffset, -1.0);

    /// <summary>
    /// The angle of frequency f at position pos as lp.h defines it: "cos/sin are evaluated in f32 of
    /// the f32 angle, as Hugging Face does", i.e. float(pos) * float(f) rounded to f32. The oracle
    /// keeps that rounding because at large positions it moves the angle by up to half an f32 ulp
    /// of pos*f (2.4e-4 rad at 4096), far more than any backend's own error.
    /// </summary>
    public static double RopeAngle(long pos, double invFreq) => (double)((float)pos * (float)invFreq);

    static double[] Rotate(double[] x, int B, int T, int NH, int D, double[] invFreq, long posOffset, double direction)
    {
        Need(x, (long)B * T * NH * D, nameof(x));
        if (D % 2 != 0)
            throw new ArgumentException($"D: head dim must be even, got {D}", nameof(D));
        Need(invFreq, D / 2, nameof(invFreq));
        int half = D / 2;
        var y = new double[x.Length]; // (B, T, NH, D)
        for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
        for (int h = 0; h < NH; h++)
        {
            int row = ((b * T + t) * NH + h) * D;
            for (int i = 0; i < half; i++)
            {
                double angle = RopeAngle(posOffset + t, invFreq[i]);
                double cos = Math.Cos(angle), sin = direction * Math.Sin(angle);
                double lo = x[row + i], hi = x[row + i + half];
                y[row + i] = lo * cos - hi * sin;
                y[row + i + half] = hi * cos + lo * sin;
            }
        }
        return y;
    }
}
