// CasesElementwise.cs — conformance cases of the row-wise and elementwise ops: embedding,
// RMSNorm, RoPE, SwiGLU, dropout, gathers and the add/axpy/convert helpers; with LLaMA rows
// (C = 4096, D = 128, F = 11008) and more rows than the CUDA kernels' 1024-block grids (RMSNorm
// with two warps a row, so its block sums are called twice per block; embedding; gathers).
using LoRAPrune.Native;
using LoRAPrune.Reference;
using static LoRAPrune.Tests.Conformance.Gen;

namespace LoRAPrune.Tests.Conformance;

public static class CasesElementwise
{
    public static IEnumerable<OpCase> Embedding()
    {
        foreach (var (v, c, n) in new[] { (11, 13, 5), (7, 1, 1), (32, 16, 7), (300, 4096, 9), (50, 5, 1100) })
        {
            foreach (var bf16 in new[] { false, true })
            {
                string tag = bf16 ? ",table=bf16" : "";
                yield return new($"embedding_forward(V={v},C={c},N={n}{tag})", h =>
                {
                    var table = bf16 ? Bf16(1, v * c) : Floats(1, v * c);
                    var ids = Ints(2, n, 0, v);
                    var tTable = bf16 ? h.InBf16("table", table, v, c) : h.In("table", table, v, c);
                    var output = h.Out("out", n, c);
                    h.Context.EmbeddingForward(tTable, h.InInt("ids", ids, n), output);
                    h.Expect(output, Ref.EmbeddingForward(D(table), v, c, ids), Tol.Copy);
                });
            }
            yield return new($"embedding_backward(V={v},C={c},N={n})", h =>
            {
                var dout = Floats(3, n * c);
                var ids = Ints(4, n, 0, v);
                if (n > 1) ids[n - 1] = ids[0]; // a repeated id must accumulate twice
                var init = Floats(5, v * c);
                var dtable = h.InOut("dtable", init, v, c);
                h.Context.EmbeddingBackward(h.In("dout", dout, n, c), h.InInt("ids", ids, n), dtable);
                h.Expect(dtable, Plus(D(init), Ref.EmbeddingBackward(D(dout), ids, v, c)), Tol.Elementwise);
            });
        }
        yield return new("embedding_forward(id out of range)", h =>
        {
            var output = h.Out("out", 2, 3);
            var ex = Assert.Throws<NativeException>(() =>
                h.Context.EmbeddingForward(h.In("table", Floats(1, 12), 4, 3), h.InInt("ids", new[] { 1, 4 }, 2), output));
            h.ExpectTrue(ex.Status == LpStatus.InvalidArgument && ex.NativeMessage.Contains("ids"), $"error names ids: {ex.Message}");
        });
    }

    public static IEnumerable<OpCase> RmsNorm()
    {
        foreach (var (n, c) in new[] { (1, 1), (5, 13), (7, 64), (13, 5), (1100, 40), (129, 4096) })
        {
            // With one column dx = r*w*dy*eps/(x^2+eps): at eps=1e-5 that is f32 cancellation of
            // 1 - r^2 x^2, so the single-column case uses a large eps to measure the op, not the cancellation.
            float eps = c == 1 ? 0.5f : 1e-5f;
            yield return new($"rmsnorm_forward(rows={n},cols={c},eps={eps})", h =>
            {
                var x = Floats(11, n * c);
                var w = Floats(12, c, 0.5f, 1.5f);
                var y = h.Out("y", n, c);
                var rstd = h.Out("rstd", n);
                h.Context.RmsNormForward(h.In("x", x, n, c), h.In("weight", w, c), eps, y, rstd);
                var (ry, rr) = Ref.RmsNormForward(D(x), n, c, D(w), eps);
                h.Expect(y, ry, Tol.Reduction);
                h.Expect(rstd, rr, Tol.Reduction);
            });
            foreach (var withDw in new[] { true, false })
            {
                yield return new($"rmsnorm_backward(rows={n},cols={c},eps={eps}{(withDw ? "" : ",dweight=null")})", h =>
                {
                    var x = Floats(13, n * c);
                    var w = Floats(14, c, 0.5f, 1.5f);
                    var dy = Floats(15, n * c);
                    var dwInit = Floats(16, c);
                    var (_, rstdRef) = Ref.RmsNormForward(D(x), n, c, D(w), eps);
                    var rstd = h.In("rstd", rstdRef.Select(r => (float)r).ToArray(), n);
                    var dx = h.Out("dx", n, c);
                    var dw = withDw ? h.InOut("dweight", dwInit, c) : null;
                    h.Context.RmsNormBackward(h.In("dy", dy, n, c), h.In("x", x, n, c), h.In("weight", w, c), rstd, dx, dw);
                    var (rdx, rdw) = Ref.RmsNormBackward(D(dy), D(x), n, c, D(w), eps);
                    h.Expect(dx, rdx, Tol.Reduction);
                    if (dw is not null) h.Expect(dw, Plus(D(dwInit), rdw), Tol.Reduction);
                });
            }
        }
        yield return new("rmsnorm_forward(in place,rows=3,cols=7)", h =>
        {
            const float eps = 1e-5f;
            var x = Floats(17, 21);
            var w = Floats(18, 7, 0.5f, 1.5f);
            var xy = h.InOut("x=y", x, 3, 7);
            var rstd = h.Out("rstd", 3);
            h.Context.RmsNormForward(xy, h.In("weight", w, 7), eps, xy, rstd);
            h.Expect(xy, Ref.RmsNormForward(D(x), 3, 7, D(w), eps).y, Tol.Reduction);
        });
    }

    private static readonly Tolerance RopeTol = new(5e-6,
        "the angle (pos*f) is formed in f32 as Hugging Face does: its rounding (pos*f*6e-8, ~1e-6 at pos 20) moves sin/cos by as much");

    public static IEnumerable<OpCase> Rope()
    {
        foreach (var (b, t, nh, d, off, custom) in new[] { (1, 1, 1, 2, 0L, false), (2, 5, 3, 6, 0L, false), (1, 7, 4, 8, 13L, true), (1, 3, 2, 16, 5L, false), (1, 129, 2, 128, 0L, false) })
        {
            string tag = $"B={b},T={t},NH={nh},D={d},pos_offset={off}{(custom ? ",inv_freq" : ",theta=10000")}";
            foreach (var backward in new[] { false, true })
            {
                yield return new($"rope_{(backward ? "backward" : "forward")}({tag})", h =>
                {
                    var x = Floats(21, b * t * nh * d);
                    float[] invF = custom ? Floats(22, d / 2, 0.01f, 0.9f) : Array.Empty<float>();
                    double[] freq = custom ? D(invF) : Ref.RopeInvFreq(d, 10000.0);
                    var y = h.Out("y", b, t, nh, d);
                    var tx = h.In("x", x, b, t, nh, d);
                    var tf = custom ? h.In("inv_freq", invF, d / 2) : null;
                    if (backward) h.Context.RopeBackward(tx, y, tf, 10000f, off);
                    else h.Context.RopeForward(tx, y, tf, 10000f, off);
                    var r = backward ? Ref.RopeBackward(D(x), b, t, nh, d, freq, off) : Ref.RopeForward(D(x), b, t, nh, d, freq, off);
                    h.Expect(y, r, RopeTol);
                });
            }
        }
        yield return new("rope_forward(in place,B=1,T=4,NH=2,D=4,pos_offset=3)", h =>
        {
            var x = Floats(23, 32);
            var xy = h.InOut("x=y", x, 1, 4, 2, 4);
            h.Context.RopeForward(xy, xy, null, 10000f, 3);
            h.Expect(xy, Ref.RopeForward(D(x), 1, 4, 2, 4, Ref.RopeInvFreq(4, 10000.0), 3), RopeTol);
        });
    }

    public static IEnumerable<OpCase> SwiGlu() => SwiGluCases(LpDType.F32, [(1, 1), (5, 13), (7, 32), (3, 11008)]);

    /// <summary>SwiGLU with gate, up and out of activation dtype <paramref name="act"/> (f32, or bf16: CasesBf16Activations).</summary>
    public static IEnumerable<OpCase> SwiGluCases(LpDType act, (int N, int F)[] shapes)
    {
        string tag = act == LpDType.BF16 ? "act=bf16 gate up out," : "";
        foreach (var (n, f) in shapes)
        {
            yield return new($"swiglu_forward({tag}rows={n},cols={f})", h =>
            {
                var g = RoundTo(act, Floats(31, n * f, -4f, 4f));
                var u = RoundTo(act, Floats(32, n * f));
                var output = h.OutTyped("out", act, n, f);
                h.Context.SwiGluForward(h.InTyped("gate", act, g, n, f), h.InTyped("up", act, u, n, f), output);
                h.Expect(output, Ref.SwiGluForward(D(g), D(u)), act == LpDType.BF16 ? Tol.Bf16Round : Tol.Elementwise);
            });
            yield return new($"swiglu_backward({tag}rows={n},cols={f})", h =>
            {
                var g = RoundTo(act, Floats(33, n * f, -4f, 4f));
                var u = RoundTo(act, Floats(34, n * f));
                var dout = Floats(35, n * f);
                var dg = h.Out("dgate", n, f);
                var du = h.Out("dup", n, f);
                h.Context.SwiGluBackward(h.In("dout", dout, n, f), h.InTyped("gate", act, g, n, f), h.InTyped("up", act, u, n, f), dg, du);
                var (rdg, rdu) = Ref.SwiGluBackward(D(dout), D(g), D(u));
                h.Expect(dg, rdg, Tol.Elementwise);
                h.Expect(du, rdu, Tol.Elementwise);
            });
        }
    }

    public static IEnumerable<OpCase> Dropout()
    {
        foreach (var (n, c, p, seed, off) in new[] { (5, 13, 0.25f, 7UL, 0UL), (1, 1, 0.5f, 1UL, 99UL), (16, 64, 0.05f, 123456789UL, 1UL << 40), (3, 7, 0f, 5UL, 0UL) })
        {
            yield return new($"dropout(rows={n},cols={c},p={p},seed={seed},offset={off})", h =>
            {
                var x = Floats(41, n * c);
                var y = h.Out("y", n, c);
                h.Context.Dropout(h.In("x", x, n, c), y, p, seed, off);
                // Same draw, same scale: the kept values must be x/(1-p) to f32 rounding, the rest exactly 0.
                var r = Ref.Dropout(D(x), p, seed, off);
                h.Expect(y, r, Tol.Elementwise);
                var got = y.ToFloatArray();
                h.ExpectTrue(got.Select((g, i) => (g == 0f) == (r[i] == 0.0)).All(ok => ok), "the same elements are dropped as in the reference RNG");
            });
        }
    }

    public static IEnumerable<OpCase> Gather()
    {
        foreach (var dtype in new[] { LpDType.F32, LpDType.BF16, LpDType.I32 })
        {
            foreach (var (r, c, k) in new[] { (7, 13, 4), (5, 1, 5), (1, 3, 1), (1100, 3, 1030) })
            {
                yield return new($"gather_rows(R={r},C={c},K={k},{dtype.ToString().ToLowerInvariant()})", h =>
                {
                    var idx = Ints(51, k, 0, r);
                    var (src, values) = TypedInput(h, dtype, r * c, r, c);
                    var dst = h.OutTyped("dst", dtype, k, c);
                    h.Context.GatherRows(src, h.InInt("idx", idx, k), dst);
                    ExpectTyped(h, dst, dtype, Ref.GatherRows(D(values), r, c, idx));
                });
                yield return new($"gather_cols(R={r},C={c},K={k},{dtype.ToString().ToLowerInvariant()})", h =>
                {
                    var idx = Ints(52, k, 0, c);
                    var (src, values) = TypedInput(h, dtype, r * c, r, c);
                    var dst = h.OutTyped("dst", dtype, r, k);
                    h.Context.GatherCols(src, h.InInt("idx", idx, k), dst);
                    ExpectTyped(h, dst, dtype, Ref.GatherCols(D(values), r, c, idx));
                });
            }
        }
        yield return new("gather_rows(1-D src,R=9,K=4)", h =>
        {
            var values = Floats(53, 9);
            var idx = new[] { 8, 0, 3, 3 };
            var dst = h.Out("dst", 4);
            h.Context.GatherRows(h.In("src", values, 9), h.InInt("idx", idx, 4), dst);
            h.Expect(dst, Ref.GatherRows(D(values), 9, 1, idx), Tol.Copy);
        });
        yield return new("gather_cols(index out of range)", h =>
        {
            var dst = h.Out("dst", 2, 2);
            var ex = Assert.Throws<NativeException>(() => h.Context.GatherCols(h.In("src", Floats(54, 6), 2, 3), h.InInt("idx", new[] { 0, 3 }, 2), dst));
            h.ExpectTrue(ex.Status == LpStatus.InvalidArgument && ex.NativeMessage.Contains("idx"), $"error names idx: {ex.Message}");
        });
    }

    private static (Tensor, float[]) TypedInput(OpHarness h, LpDType dtype, long n, params long[] shape)
    {
        if (dtype == LpDType.I32)
        {
            var ints = Ints(55, n, -1000, 1000);
            return (h.InInt("src", ints, shape), ints.Select(i => (float)i).ToArray());
        }
        var values = RoundTo(dtype, Floats(56, n));
        return (h.InTyped("src", dtype, values, shape), values);
    }

    private static void ExpectTyped(OpHarness h, Tensor dst, LpDType dtype, double[] expected)
    {
        if (dtype == LpDType.I32)
        {
            var got = dst.ToIntArray();
            h.ExpectTrue(got.Length == expected.Length && got.Select((g, i) => g == (int)expected[i]).All(ok => ok), "gathered i32 values are exact");
        }
        else
        {
            h.ExpectExact(dst, expected.Select(e => (float)e).ToArray());
        }
    }

    public static IEnumerable<OpCase> Elementwise()
    {
        foreach (var shape in new[] { new long[] { 1 }, new long[] { 5, 13 }, new long[] { 2, 3, 7 } })
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            string s = string.Join("x", shape);
            yield return new($"add(shape={s})", h =>
            {
                var a = Floats(61, n);
                var b = Floats(62, n);
                var output = h.Out("out", shape);
                h.Context.Add(h.In("a", a, shape), h.In("b", b, shape), output);
                h.Expect(output, Ref.Add(D(a), D(b)), Tol.Elementwise);
            });
            yield return new($"add(in place,shape={s})", h =>
            {
                var a = Floats(63, n);
                var b = Floats(64, n);
                var ta = h.InOut("a=out", a, shape);
                h.Context.Add(ta, h.In("b", b, shape), ta);
                h.Expect(ta, Ref.Add(D(a), D(b)), Tol.Elementwise);
            });
            yield return new($"mul(shape={s})", h =>
            {
                var a = Floats(67, n);
                var b = Floats(68, n);
                var output = h.Out("out", shape);
                h.Context.Mul(h.In("a", a, shape), h.In("b", b, shape), output);
                h.Expect(output, Ref.Mul(D(a), D(b)), Tol.Elementwise);
            });
            yield return new($"mul(in place by a 0/1 mask,shape={s})", h =>
            {
                var a = Floats(69, n);
                var mask = Enumerable.Range(0, (int)n).Select(i => i % 3 == 1 ? 0f : 1f).ToArray();
                var ta = h.InOut("a=out", a, shape);
                h.Context.Mul(ta, h.In("mask", mask, shape), ta);
                h.ExpectExact(ta, a.Select((v, i) => v * mask[i]).ToArray());
            });
            yield return new($"axpy(shape={s},alpha=-0.75)", h =>
            {
                var x = Floats(65, n);
                var y = Floats(66, n);
                var ty = h.InOut("y", y, shape);
                h.Context.Axpy(-0.75f, h.In("x", x, shape), ty);
                h.Expect(ty, Ref.Axpy(-0.75, D(x), D(y)), Tol.Elementwise);
            });
            foreach (var (from, to) in new[] { (LpDType.F32, LpDType.BF16), (LpDType.BF16, LpDType.F32), (LpDType.F32, LpDType.F16), (LpDType.F16, LpDType.BF16) })
            {
                yield return new($"convert(shape={s},{from.ToString().ToLowerInvariant()}->{to.ToString().ToLowerInvariant()})", h =>
                {
                    var values = RoundTo(from, Floats(67, n, -300f, 300f));
                    var dst = h.OutTyped("dst", to, shape);
                    h.Context.Convert(h.InTyped("src", from, values, shape), dst);
                    // Expected: the host's round-to-nearest-even of the same values (Half16 mirrors lp_scalar.h).
                    h.ExpectExact(dst, RoundTo(to, values));
                });
            }
        }
    }
}
