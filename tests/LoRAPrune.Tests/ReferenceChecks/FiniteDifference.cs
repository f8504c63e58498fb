// FiniteDifference.cs — the gradient check used by the reference checks: central differences of a
// scalar probe L = sum(forward(inputs) .* R) with a fixed random R, compared with the oracle's
// analytic backward by relative L2 error.
using Xunit;
using Xunit.Abstractions;

namespace LoRAPrune.Tests.ReferenceChecks;

static class FiniteDifference
{
    /// <summary>Step of the central differences; the inputs of every check are O(1).</summary>
    public const double Step = 1e-6;

    /// <summary>
    /// Largest accepted relative L2 error between the analytic gradient and central differences.
    /// Reason: in float64 with h = 1e-6 the truncation error is h^2/6 * |f'''| ~ 1e-13 and the
    /// rounding error is ~ 1e-16 * |L| / h ~ 1e-10 * |L| per component, so a correct gradient of a
    /// smooth op agrees to ~1e-8 relative (the observed values are 1e-11 to 3e-9). 1e-6 keeps two
    /// orders of margin, while a real mistake (a wrong sign, factor or missing term) shows as 1e-3 or more.
    /// </summary>
    public const double Tolerance = 1e-6;

    /// <summary>Uniform values in [lo, hi) from a seeded generator.</summary>
    public static double[] Uniform(Random rng, int count, double lo = -1.0, double hi = 1.0)
    {
        var values = new double[count];
        for (int i = 0; i < count; i++)
            values[i] = lo + (hi - lo) * rng.NextDouble();
        return values;
    }

    /// <summary>sum_i output[i] * weights[i]: the scalar probe whose gradient the backward gives.</summary>
    public static double Probe(double[] output, double[] weights)
    {
        Assert.Equal(weights.Length, output.Length);
        double sum = 0.0;
        for (int i = 0; i < output.Length; i++)
            sum += output[i] * weights[i];
        return sum;
    }

    /// <summary>dL/dx_i ~ (L(x + h e_i) - L(x - h e_i)) / 2h for every i; x is restored afterwards.</summary>
    public static double[] Gradient(Func<double[], double> loss, double[] x)
    {
        var gradient = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double saved = x[i];
            x[i] = saved + Step;
            double plus = loss(x);
            x[i] = saved - Step;
            double minus = loss(x);
            x[i] = saved;
            gradient[i] = (plus - minus) / (2.0 * Step);
        }
        return gradient;
    }

    /// <summary>||actual - expected||_2 / ||expected||_2 (absolute when expected is zero).</summary>
    public static double RelativeError(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double diff = 0.0, norm = 0.0;
        for (int i = 0; i < expected.Length; i++)
        {
            diff += (actual[i] - expected[i]) * (actual[i] - expected[i]);
            norm += expected[i] * expected[i];
        }
        return norm > 0.0 ? Math.Sqrt(diff / norm) : Math.Sqrt(diff);
    }

    /// <summary>
    /// Asserts that <paramref name="analytic"/> is the gradient of <paramref name="loss"/> at x
    /// (x is perturbed in place and restored) and writes the observed error to the test output.
    /// </summary>
    public static void AssertGradient(ITestOutputHelper output, string name, double[] analytic, Func<double[], double> loss, double[] x)
    {
        double[] numeric = Gradient(loss, x);
        double error = RelativeError(numeric, analytic);
        output.WriteLine($"{name}: relative error vs central differences {error:E2} (n={x.Length})");
        Assert.True(error < Tolerance, $"{name}: relative error {error:E3} >= {Tolerance:E0}");
    }
}
