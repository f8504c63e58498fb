// RopeFrequencyTests.cs — RoPE inverse frequencies: plain, linear and Llama 3.1 scaling, checked
// against values worked out by hand from transformers' formula for a small case, and against a
// float64 evaluation of the same formula for Llama 3.1's real parameters.
using LoRAPrune.Core.IO;

namespace LoRAPrune.Tests.IO;

public sealed class RopeFrequencyTests
{
    /// <summary>The formula of _compute_llama3_parameters evaluated in float64.</summary>
    private static double[] Llama3Reference(int dim, double theta, double factor, double low, double high, double oldContext)
    {
        var result = new double[dim / 2];
        for (int i = 0; i < result.Length; i++)
        {
            double inv = 1.0 / Math.Pow(theta, 2.0 * i / dim);
            double wavelen = 2 * Math.PI / inv;
            if (wavelen < oldContext / high) result[i] = inv;
            else if (wavelen > oldContext / low) result[i] = inv / factor;
            else
            {
                double smooth = (oldContext / wavelen - low) / (high - low);
                result[i] = (1 - smooth) * inv / factor + smooth * inv;
            }
        }
        return result;
    }

    private static void AssertClose(IReadOnlyList<double> expected, float[] actual, double relative)
    {
        Assert.Equal(expected.Count, actual.Length);
        for (int i = 0; i < actual.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]) / Math.Abs(expected[i]);
            Assert.True(err <= relative, $"[{i}] got {actual[i]:R}, expected {expected[i]:R} (relative error {err:E2})");
        }
    }

    [Fact]
    public void Plain_rope_is_theta_to_the_minus_2i_over_d()
    {
        float[] inv = RopeFrequencies.Compute(8, 10000.0, null);
        AssertClose([1.0, 0.1, 0.01, 0.001], inv, 1e-7);
        Assert.Equal(1.0f, inv[0]);
    }

    [Fact]
    public void Llama3_small_case_worked_by_hand()
    {
        // D=8, theta=1e4 -> inv = [1, 0.1, 0.01, 0.001], wavelengths 2*pi/inv = [6.28, 62.8, 628, 6283].
        // original context 64, low 1, high 4: keep below 64/4 = 16, divide by 8 above 64/1 = 64, blend between:
        // i=1: smooth = (64/62.8319 - 1)/3 = 0.0061972, (1 - smooth) * 0.1/8 + smooth * 0.1 = 0.0130422560
        float[] inv = RopeFrequencies.Compute(8, 10000.0, RopeScaling.Llama3(8.0, 1.0, 4.0, 64));
        AssertClose([1.0, 0.013042256043820465, 0.00125, 0.000125], inv, 1e-6);
    }

    [Fact]
    public void Llama31_parameters_match_the_formula_in_float64()
    {
        var scaling = RopeScaling.Llama3(8.0, 1.0, 4.0, 8192);
        float[] inv = RopeFrequencies.Compute(128, 500000.0, scaling);
        AssertClose(Llama3Reference(128, 500000.0, 8.0, 1.0, 4.0, 8192), inv, 2e-6);

        float[] plain = RopeFrequencies.Compute(128, 500000.0, null);
        int kept = 0, divided = 0, blended = 0;
        for (int i = 0; i < inv.Length; i++)
        {
            if (inv[i] == plain[i]) kept++;
            else if (inv[i] == plain[i] / 8f) divided++;
            else blended++;
        }
        Assert.True(kept > 0 && divided > 0 && blended > 0, $"kept {kept}, divided {divided}, blended {blended}");
        Assert.Equal(64, kept + divided + blended);
    }

    [Fact]
    public void Linear_scaling_divides_every_frequency()
    {
        float[] plain = RopeFrequencies.Compute(16, 10000.0, null);
        float[] scaled = RopeFrequencies.Compute(16, 10000.0, RopeScaling.Linear(4.0));
        for (int i = 0; i < plain.Length; i++) Assert.Equal(plain[i] / 4f, scaled[i]);
    }

    [Fact]
    public void Config_uses_its_head_dim_and_theta()
    {
        LlamaConfig c = TinyLlama.Config() with { RopeTheta = 500000.0, RopeScaling = RopeScaling.Linear(2.0) };
        Assert.Equal(RopeFrequencies.Compute(4, 500000.0, RopeScaling.Linear(2.0)), c.RopeInverseFrequencies());
    }
}
