// CasesLinear.cs — conformance cases of the matrix ops: strided/batched GEMM, the LoRA linear
// layer forward and backward (masks, dropout, rank 1..80, bf16 base weights, no-LoRA), merge, and
// the projection bias that follows a biased LoRA linear (f32/bf16 bias, masks with zeros). The
// larger shapes cross the CUDA kernels' tiles (IN over 256-column chunks, R over 64-rank chunks,
// rows of a gradient split over 32-row steps, merge rows over the 1024-block grid) and include
// LLaMA rows (IN = 4096, R = 8 and 64).
using LoRAPrune.Native;
using LoRAPrune.Reference;
using static LoRAPrune.Tests.Conformance.Gen;

namespace LoRAPrune.Tests.Conformance;

public static class CasesLinear
{
    private sealed record GemmCase(int Batch, int M, int N, int K, bool TA, bool TB, int Pad, bool BroadcastB, float Alpha, float Beta, bool Bf16)
    {
        public override string ToString() =>
            $"gemm(batch={Batch},M={M},N={N},K={K},{(TA ? "T" : "N")}{(TB ? "T" : "N")}" +
            $"{(Pad > 0 ? $",pad={Pad}" : "")}{(BroadcastB ? ",B broadcast" : "")},alpha={Alpha},beta={Beta}{(Bf16 ? ",bf16" : "")})";
    }

    public static IEnumerable<OpCase> Gemm()
    {
        var cases = new List<GemmCase>();
        foreach (var ta in new[] { false, true })
            foreach (var tb in new[] { false, true })
                cases.Add(new(1, 5, 7, 13, ta, tb, 0, false, 1f, 0f, false));
        cases.Add(new(1, 1, 1, 1, false, false, 0, false, 1f, 0f, false));
        cases.Add(new(3, 5, 7, 13, false, true, 3, false, 0.5f, 0.25f, false));
        cases.Add(new(4, 7, 5, 6, true, false, 2, true, 1f, 1f, false));
        cases.Add(new(2, 16, 24, 32, false, false, 0, false, 1f, 0f, false));
        cases.Add(new(1, 5, 7, 13, false, true, 0, false, 1f, 0f, true));
        cases.Add(new(3, 8, 5, 64, true, true, 1, false, 2f, 0.5f, true));
        foreach (var g in cases) yield return new(g.ToString(), h => RunGemm(h, g));
    }

    private static void RunGemm(OpHarness h, GemmCase g)
    {
        // Stored shapes: op(A) is (M,K), so A is (K,M) when transposed; op(B) is (K,N).
        int ar = g.TA ? g.K : g.M, ac = g.TA ? g.M : g.K;
        int br = g.TB ? g.N : g.K, bc = g.TB ? g.K : g.N;
        int lda = ac + g.Pad, ldb = bc + g.Pad, ldc = g.N + g.Pad;
        int bBatches = g.BroadcastB ? 1 : g.Batch;
        var dtype = g.Bf16 ? LpDType.BF16 : LpDType.F32;
        var aData = RoundTo(dtype, Floats(71, g.Batch * ar * lda));
        var bData = RoundTo(dtype, Floats(72, bBatches * br * ldb));
        var cData = Floats(73, g.Batch * g.M * ldc);
        var aBack = h.InTyped("a", dtype, aData, g.Batch, ar, lda);
        var bBack = h.InTyped("b", dtype, bData, bBatches, br, ldb);
        var cBack = h.InOut("c", cData, g.Batch, g.M, ldc);
        bool is3d = g.Batch > 1 || g.BroadcastB;
        Tensor View(Tensor back, int batches, int rows, int cols, int ld, bool broadcast) => is3d
            ? Tensor.Strided(back.Buffer, back.OffsetBytes, back.DType, new long[] { g.Batch, rows, cols }, new long[] { broadcast ? 0 : (long)rows * ld, ld, 1 })
            : Tensor.Strided(back.Buffer, back.OffsetBytes, back.DType, new long[] { rows, cols }, new long[] { ld, 1 });
        h.Context.Gemm(View(aBack, g.Batch, ar, ac, lda, false), View(bBack, bBatches, br, bc, ldb, g.BroadcastB),
                       View(cBack, g.Batch, g.M, g.N, ldc, false), g.TA, g.TB, g.Alpha, g.Beta);

        // Expected: the padded C buffer with only the logical (M,N) part of every batch replaced.
        var expect = D(cData);
        for (int bi = 0; bi < g.Batch; bi++)
        {
            var a = Slice(aData, bi * ar * lda, ar, ac, lda);
            var b = Slice(bData, (g.BroadcastB ? 0 : bi) * br * ldb, br, bc, ldb);
            var c = Slice(cData, bi * g.M * ldc, g.M, g.N, ldc);
            var r = Ref.Gemm(a, ar, ac, b, br, bc, g.TA, g.TB, g.Alpha, g.Beta, c);
            for (int i = 0; i < g.M; i++)
                for (int j = 0; j < g.N; j++)
                    expect[bi * g.M * ldc + i * ldc + j] = r[i * g.N + j];
        }
        h.Expect(cBack, expect, Tol.Gemm);
    }

    private static double[] Slice(float[] data, int start, int rows, int cols, int ld)
    {
        var s = new double[rows * cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                s[i * cols + j] = data[start + i * ld + j];
        return s;
    }

    private sealed record LoraCase(int N, int In, int Out, int R, bool Mask, float P, bool Bf16, bool Dw, bool NoLora = false)
    {
        public string Args =>
            $"N={N},IN={In},OUT={Out}" + (NoLora ? ",no LoRA" : $",R={R}") + (Mask ? ",mask" : "") + (P > 0 ? $",dropout={P}" : "") +
            (Bf16 ? ",W=bf16" : "") + (Dw ? ",dW" : "");
    }

    private static readonly LoraCase[] LoraCases =
    {
        new(5, 13, 7, 1, false, 0f, false, false),
        new(5, 13, 7, 3, true, 0f, false, false),
        new(7, 16, 12, 16, true, 0.25f, false, false),
        new(1, 5, 3, 3, false, 0.05f, false, true),
        new(13, 8, 8, 4, true, 0.25f, true, false),
        new(6, 32, 20, 8, false, 0f, true, false),
        new(5, 11, 9, 0, false, 0f, false, true, NoLora: true),
        new(20, 300, 96, 80, true, 0.1f, false, false),
        new(300, 4096, 24, 8, true, 0.1f, false, true),
        new(144, 4096, 40, 64, false, 0f, true, false),
        // OUT wider than one column tile of the cpu backward's staged (masked) dy, 4194304 / max(N, IN) columns, with bf16 W
        new(3, 4100, 1030, 2, true, 0.1f, true, true),
    };

    private const float Scale = 2f;
    private const ulong Seed = 0xC0FFEE;
    private const ulong Offset = 12345;

    public static IEnumerable<OpCase> LoraLinear()
    {
        foreach (var lc in LoraCases)
        {
            yield return new($"lora_linear_forward({lc.Args})", h => RunLora(h, lc, backward: false));
            yield return new($"lora_linear_backward({lc.Args})", h => RunLora(h, lc, backward: true));
        }
    }

    private static void RunLora(OpHarness h, LoraCase lc, bool backward)
    {
        int n = lc.N, inF = lc.In, outF = lc.Out, r = lc.R;
        var x = Floats(81, n * inF);
        var w = lc.Bf16 ? Bf16(82, outF * inF) : Floats(82, outF * inF);
        var a = lc.NoLora ? null : Floats(83, r * inF, -0.5f, 0.5f);
        var b = lc.NoLora ? null : Floats(84, outF * r, -0.5f, 0.5f);
        var mask = lc.Mask ? Mask(85, outF) : null;
        var tol = Tol.Bf16Weights(h, Tol.Gemm);

        var tx = h.In("x", x, n, inF);
        var tw = lc.Bf16 ? h.InBf16("w", w, outF, inF) : h.In("w", w, outF, inF);
        var ta = a is null ? null : h.In("a", a, r, inF);
        var tb = b is null ? null : h.In("b", b, outF, r);
        var tm = mask is null ? null : h.In("mask", mask, outF);
        var (ry, rxa) = Ref.LoraLinearForward(D(x), n, inF, D(w), outF, a is null ? null : D(a), b is null ? null : D(b), r,
                                              mask is null ? null : D(mask), Scale, lc.P, Seed, Offset);
        if (!backward)
        {
            var y = h.Out("y", n, outF);
            var xa = lc.NoLora ? null : h.Out("xa", n, r);
            h.Context.LoraLinearForward(tx, tw, ta, tb, tm, Scale, lc.P, Seed, Offset, y, xa);
            h.Expect(y, ry, tol);
            if (xa is not null) h.Expect(xa, rxa, Tol.Gemm);
            return;
        }
        var dy = Floats(86, n * outF);
        var daInit = lc.NoLora ? null : Floats(87, r * inF);
        var dbInit = lc.NoLora ? null : Floats(88, outF * r);
        var dwInit = lc.Dw ? Floats(89, outF * inF) : null;
        var txa = lc.NoLora ? null : h.In("xa", rxa.Select(v => (float)v).ToArray(), n, r);
        var dx = h.Out("dx", n, inF);
        var da = daInit is null ? null : h.InOut("da", daInit, r, inF);
        var db = dbInit is null ? null : h.InOut("db", dbInit, outF, r);
        var dw = dwInit is null ? null : h.InOut("dw", dwInit, outF, inF);
        h.Context.LoraLinearBackward(h.In("dy", dy, n, outF), tx, tw, ta, tb, tm, txa, Scale, lc.P, Seed, Offset, dx, da, db, dw);
        var (rdx, rda, rdb, rdw) = Ref.LoraLinearBackward(D(dy), D(x), n, inF, D(w), outF, a is null ? null : D(a), b is null ? null : D(b), r,
                                                          mask is null ? null : D(mask), Scale, lc.P, Seed, Offset);
        h.Expect(dx, rdx, tol);
        if (da is not null) h.Expect(da, Plus(D(daInit!), rda!), Tol.Gemm);
        if (db is not null) h.Expect(db, Plus(D(dbInit!), rdb!), Tol.Gemm);
        if (dw is not null) h.Expect(dw, Plus(D(dwInit!), rdw), Tol.Gemm);
    }

    public static IEnumerable<OpCase> LoraMerge()
    {
        var shapes = new[]
        {
            (7, 13, 3, false), (5, 5, 1, false), (16, 12, 16, false), (7, 13, 3, true), (9, 33, 8, true),
            (6, 300, 300, true), (1030, 5, 3, false), (8, 4096, 64, false),
        };
        foreach (var (outF, inF, r, bf16) in shapes)
        {
            yield return new($"lora_merge(OUT={outF},IN={inF},R={r}{(bf16 ? ",W=bf16" : "")})", h =>
            {
                var w = bf16 ? Bf16(91, outF * inF) : Floats(91, outF * inF);
                var a = Floats(92, r * inF, -0.5f, 0.5f);
                var b = Floats(93, outF * r, -0.5f, 0.5f);
                var tw = h.InOutTyped("w", bf16 ? LpDType.BF16 : LpDType.F32, w, outF, inF);
                h.Context.LoraMerge(tw, h.In("a", a, r, inF), h.In("b", b, outF, r), Scale);
                h.Expect(tw, Ref.LoraMerge(D(w), outF, inF, D(a), D(b), r, Scale), bf16 ? Tol.Bf16Round : Tol.Gemm);
            });
        }
    }

    // A pruning mask with zeros (every third output pruned) or, when absent, all ones.
    private static float[] BiasMask(int outF) => Enumerable.Range(0, outF).Select(o => o % 3 == 1 ? 0f : 1f).ToArray();

    public static IEnumerable<OpCase> Bias()
    {
        foreach (var (n, outF) in new[] { (1, 1), (5, 13), (7, 64), (13, 5), (300, 37), (129, 4096) })
        {
            foreach (var (bf16, masked) in new[] { (false, false), (false, true), (true, false), (true, true) })
            {
                string tag = $"N={n},OUT={outF}{(bf16 ? ",bias=bf16" : "")}{(masked ? ",mask" : "")}";
                yield return new($"bias_add({tag})", h =>
                {
                    var y = Floats(101, n * outF);
                    var bias = bf16 ? Bf16(102, outF) : Floats(102, outF);
                    var mask = masked ? BiasMask(outF) : null;
                    var ty = h.InOut("y", y, n, outF);
                    var tb = bf16 ? h.InBf16("bias", bias, outF) : h.In("bias", bias, outF);
                    h.Context.BiasAdd(ty, tb, mask is null ? null : h.In("mask", mask, outF));
                    h.Expect(ty, Ref.BiasAdd(D(y), n, outF, D(bias), mask is null ? null : D(mask)), Tol.Elementwise);
                });
                if (bf16) continue; // the backward never reads the bias
                yield return new($"bias_backward({tag})", h =>
                {
                    var dy = Floats(103, n * outF);
                    var dbInit = Floats(104, outF);
                    var mask = masked ? BiasMask(outF) : null;
                    var db = h.InOut("dbias", dbInit, outF);
                    h.Context.BiasBackward(h.In("dy", dy, n, outF), mask is null ? null : h.In("mask", mask, outF), db);
                    h.Expect(db, Plus(D(dbInit), Ref.BiasBackward(D(dy), n, outF, mask is null ? null : D(mask))), Tol.Reduction);
                });
            }
        }
        // After a masked LoRA linear the pruned outputs are exactly zero; adding bias (.) mask keeps them so.
        yield return new("bias_add(pruned outputs stay exactly zero,N=6,OUT=10,bias=bf16)", h =>
        {
            const int n = 6, outF = 10;
            var mask = BiasMask(outF);
            var y = Floats(105, n * outF).Select((v, i) => mask[i % outF] == 0f ? 0f : v).ToArray();
            var bias = Bf16(106, outF);
            var ty = h.InOut("y", y, n, outF);
            h.Context.BiasAdd(ty, h.InBf16("bias", bias, outF), h.In("mask", mask, outF));
            h.ExpectExact(ty, y.Select((v, i) => mask[i % outF] == 0f ? 0f : v + bias[i % outF]).ToArray());
        });
    }
}
