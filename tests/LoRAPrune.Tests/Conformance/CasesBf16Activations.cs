// CasesBf16Activations.cs — the ops whose activation tensors may be bf16 (lp.h "f32|bf16"
// activations; the CUDA backend stores them so, DESIGN §4), each with bf16 activations on every
// backend: the CUDA kernels read and write bf16 themselves, the cpu backend widens to f32 in the
// API layer. Inputs are bf16-representable values, so the float64 reference sees exactly what the
// backend sees; a bf16 output is compared within one bf16 rounding (Tol.Bf16Round), an f32 output
// computed from bf16 inputs within the op's f32 tolerance. Shapes cross the CUDA tiles and reach
// each head-dim path of attention (D <= 32, 33..64, 65..128) with the bf16 element type. Case names
// start "op(act=bf16 ...": the conformance table of build.sh lists them as separate rows, op[bf16].
using LoRAPrune.Native;
using LoRAPrune.Reference;
using static LoRAPrune.Tests.Conformance.Gen;

namespace LoRAPrune.Tests.Conformance;

public static class CasesBf16Activations
{
    private const LpDType Bf = LpDType.BF16;

    private static float[] Single(double[] r) => r.Select(v => (float)v).ToArray();

    public static IEnumerable<OpCase> All()
    {
        foreach (var (n, c) in new[] { (5, 13), (1100, 40), (3, 4096) })
        {
            yield return new($"rmsnorm_forward(act=bf16 y,rows={n},cols={c})", h =>
            {
                const float eps = 1e-5f;
                var x = Floats(211, n * c);
                var w = Floats(212, c, 0.5f, 1.5f);
                var y = h.OutTyped("y", Bf, n, c);
                var rstd = h.Out("rstd", n);
                h.Context.RmsNormForward(h.In("x", x, n, c), h.In("weight", w, c), eps, y, rstd);
                var (ry, rr) = Ref.RmsNormForward(D(x), n, c, D(w), eps);
                h.Expect(y, ry, Tol.Bf16Round);
                h.Expect(rstd, rr, Tol.Reduction);
            });
        }

        foreach (var (b, t, nh, d) in new[] { (2, 5, 3, 6), (1, 129, 2, 128) })
        {
            foreach (var backward in new[] { false, true })
            {
                yield return new($"rope_{(backward ? "backward" : "forward")}(act=bf16 x y,B={b},T={t},NH={nh},D={d})", h =>
                {
                    var x = Bf16(221, b * t * nh * d);
                    var y = h.OutTyped("y", Bf, b, t, nh, d);
                    var tx = h.InBf16("x", x, b, t, nh, d);
                    if (backward) h.Context.RopeBackward(tx, y, null, 10000f, 0);
                    else h.Context.RopeForward(tx, y, null, 10000f, 0);
                    var freq = Ref.RopeInvFreq(d, 10000.0);
                    h.Expect(y, backward ? Ref.RopeBackward(D(x), b, t, nh, d, freq, 0) : Ref.RopeForward(D(x), b, t, nh, d, freq, 0), Tol.Bf16Round);
                });
            }
        }
        yield return new("rope_forward(act=bf16 x=y in place,B=1,T=4,NH=2,D=4,pos_offset=3)", h =>
        {
            var x = Bf16(223, 32);
            var xy = h.InOutTyped("x=y", Bf, x, 1, 4, 2, 4);
            h.Context.RopeForward(xy, xy, null, 10000f, 3);
            h.Expect(xy, Ref.RopeForward(D(x), 1, 4, 2, 4, Ref.RopeInvFreq(4, 10000.0), 3), Tol.Bf16Round);
        });

        foreach (var c in CasesElementwise.SwiGluCases(Bf, [(5, 13), (3, 11008)])) yield return c;

        foreach (var c in CasesAttention.AttentionCases(Bf, [(1, 5, 4, 2, 6), (1, 70, 4, 2, 40), (1, 35, 2, 1, 65)])) yield return c;

        foreach (var (n, inF, outF, r, mask, p, wBf16) in new[]
                 {
                     (5, 13, 7, 3, true, 0f, false), (7, 16, 12, 16, true, 0.25f, true), (20, 300, 96, 8, false, 0.1f, false),
                     (6, 32, 20, 0, true, 0f, true),
                 })
        {
            string args = $"act=bf16 x y,N={n},IN={inF},OUT={outF}" + (r == 0 ? ",no LoRA" : $",R={r}") + (mask ? ",mask" : "") +
                          (p > 0 ? $",dropout={p}" : "") + (wBf16 ? ",W=bf16" : "");
            const float scale = 2f;
            const ulong seed = 0xBEEF, offset = 77;
            yield return new($"lora_linear_forward({args})", h =>
            {
                var (x, w, a, bm, m, tx, tw, ta, tb, tm) = LoraInputs(h, n, inF, outF, r, mask, wBf16);
                var y = h.OutTyped("y", Bf, n, outF);
                var xa = r == 0 ? null : h.Out("xa", n, r);
                h.Context.LoraLinearForward(tx, tw, ta, tb, tm, scale, p, seed, offset, y, xa);
                var (ry, rxa) = Ref.LoraLinearForward(D(x), n, inF, D(w), outF, a, bm, r, m, scale, p, seed, offset);
                h.Expect(y, ry, Tol.Bf16Round);
                if (xa is not null) h.Expect(xa, rxa, Tol.Gemm);
            });
            yield return new($"lora_linear_backward({args},dW)", h =>
            {
                var (x, w, a, bm, m, tx, tw, ta, tb, tm) = LoraInputs(h, n, inF, outF, r, mask, wBf16);
                var (_, rxa) = Ref.LoraLinearForward(D(x), n, inF, D(w), outF, a, bm, r, m, scale, p, seed, offset);
                var dy = Floats(258, n * outF);
                var txa = r == 0 ? null : h.In("xa", Single(rxa), n, r);
                var dx = h.Out("dx", n, inF);
                var da = r == 0 ? null : h.InOut("da", new float[r * inF], r, inF);
                var db = r == 0 ? null : h.InOut("db", new float[outF * r], outF, r);
                var dw = h.InOut("dw", new float[outF * inF], outF, inF);
                h.Context.LoraLinearBackward(h.In("dy", dy, n, outF), tx, tw, ta, tb, tm, txa, scale, p, seed, offset, dx, da, db, dw);
                var (rdx, rda, rdb, rdw) = Ref.LoraLinearBackward(D(dy), D(x), n, inF, D(w), outF, a, bm, r, m, scale, p, seed, offset);
                h.Expect(dx, rdx, wBf16 ? Tol.Bf16Weights(h, Tol.Gemm) : Tol.Gemm);
                if (da is not null) h.Expect(da, rda!, Tol.Gemm);
                if (db is not null) h.Expect(db, rdb!, Tol.Gemm);
                h.Expect(dw, rdw, Tol.Gemm);
            });
        }

        foreach (var (n, outF, masked) in new[] { (5, 13, false), (129, 4096, true) })
        {
            yield return new($"bias_add(act=bf16 y,N={n},OUT={outF}{(masked ? ",mask" : "")})", h =>
            {
                var y = Bf16(261, n * outF);
                var bias = Floats(262, outF);
                var mask = masked ? Enumerable.Range(0, outF).Select(o => o % 3 == 1 ? 0f : 1f).ToArray() : null;
                var ty = h.InOutTyped("y", Bf, y, n, outF);
                h.Context.BiasAdd(ty, h.In("bias", bias, outF), mask is null ? null : h.In("mask", mask, outF));
                h.Expect(ty, Ref.BiasAdd(D(y), n, outF, D(bias), mask is null ? null : D(mask)), Tol.Bf16Round);
            });
        }
    }

    // x bf16 (as the graph stores it), W f32 or bf16, LoRA and mask f32.
    private static (float[] X, float[] W, double[]? A, double[]? B, double[]? Mask, Tensor Tx, Tensor Tw, Tensor? Ta, Tensor? Tb, Tensor? Tm)
        LoraInputs(OpHarness h, int n, int inF, int outF, int r, bool mask, bool wBf16)
    {
        var x = Bf16(251, n * inF);
        var w = wBf16 ? Bf16(252, outF * inF) : Floats(252, outF * inF);
        var a = r == 0 ? null : Floats(253, r * inF, -0.5f, 0.5f);
        var b = r == 0 ? null : Floats(254, outF * r, -0.5f, 0.5f);
        var m = mask ? Mask(255, outF) : null;
        var tx = h.InBf16("x", x, n, inF);
        var tw = wBf16 ? h.InBf16("w", w, outF, inF) : h.In("w", w, outF, inF);
        var ta = a is null ? null : h.In("a", a, r, inF);
        var tb = b is null ? null : h.In("b", b, outF, r);
        var tm = m is null ? null : h.In("mask", m, outF);
        return (x, w, a is null ? null : D(a), b is null ? null : D(b), m is null ? null : D(m), tx, tw, ta, tb, tm);
    }
}
