// CasesTraining.cs — conformance cases of the loss, the optimizer, gradient clipping and the
// LoRAPrune importance ops (fused accumulation in all modes and axes, group normalisation, EMA).
// The larger shapes cross the CUDA kernels' tiles and grids: loss rows over the 1024-block grid and
// LLaMA's vocabulary, more gradient blocks than the norm's 512 partial sums, R over 16-rank chunks,
// W over several 32 x 128 tiles in both axes (IN = 4096), more than 256 groups.
using LoRAPrune.Native;
using LoRAPrune.Reference;
using static LoRAPrune.Tests.Conformance.Gen;

namespace LoRAPrune.Tests.Conformance;

public static class CasesTraining
{
    private const int Ignore = -100;

    public static IEnumerable<OpCase> CrossEntropy()
    {
        foreach (var (n, v, ignored) in new[] { (1, 2, false), (5, 13, true), (7, 100, true), (3, 1000, false), (1030, 40, true), (3, 32000, false) })
        {
            string args = $"N={n},V={v}{(ignored ? ",ignore" : "")}";
            int[] Targets()
            {
                var t = Ints(111, n, 0, v);
                if (ignored) t[n / 2] = Ignore;
                return t;
            }
            yield return new($"cross_entropy_forward({args})", h =>
            {
                var logits = Floats(112, n * v, -8f, 8f);
                var targets = Targets();
                var losses = h.Out("losses", n);
                var lse = h.Out("lse", n);
                h.Context.CrossEntropyForward(h.In("logits", logits, n, v), h.InInt("targets", targets, n), Ignore, losses, lse);
                var (rl, rlse) = Ref.CrossEntropyForward(D(logits), n, v, targets, Ignore);
                // loss = lse - logit[target] cancels when the target dominates (loss 1e-3 from lse ~ 8):
                // its absolute error is a few ulp of lse, so it is measured against ||lse||.
                h.Expect(losses, rl, Tol.Reduction, scaleOf: rlse);
                h.Expect(lse, rlse, Tol.Reduction);
            });
            yield return new($"cross_entropy_backward({args})", h =>
            {
                var logits = Floats(113, n * v, -8f, 8f);
                var targets = Targets();
                var (_, rlse) = Ref.CrossEntropyForward(D(logits), n, v, targets, Ignore);
                float dloss = 1f / n;
                var dlogits = h.Out("dlogits", n, v);
                h.Context.CrossEntropyBackward(h.In("logits", logits, n, v), h.InInt("targets", targets, n), h.In("lse", rlse.Select(x => (float)x).ToArray(), n),
                    Ignore, dloss, dlogits);
                h.Expect(dlogits, Ref.CrossEntropyBackward(D(logits), n, v, targets, Ignore, dloss), Tol.Reduction);
            });
        }
        // V = 1000 and 32000 cross the CPU's 8-lane blocks of 256 with a tail; in place is how the model engine calls it.
        foreach (var (n, v, ignored, inPlace) in new[] { (1, 2, false, false), (5, 13, true, true), (7, 100, true, false), (3, 1003, false, true), (2, 32000, true, true) })
        {
            string args = $"N={n},V={v}{(ignored ? ",ignore" : "")}{(inPlace ? ",in place" : "")}";
            yield return new($"cross_entropy_forward_backward({args})", h =>
            {
                var logits = Floats(115, n * v, -8f, 8f);
                var targets = Ints(116, n, 0, v);
                if (ignored) targets[n / 2] = Ignore;
                float dloss = 1f / n;
                var losses = h.Out("losses", n);
                var lse = h.Out("lse", n);
                var tlogits = inPlace ? h.InOut("logits=dlogits", logits, n, v) : h.In("logits", logits, n, v);
                var dlogits = inPlace ? tlogits : h.Out("dlogits", n, v);
                h.Context.CrossEntropyForwardBackward(tlogits, h.InInt("targets", targets, n), Ignore, dloss, losses, lse, dlogits);
                var (rl, rlse, rd) = Ref.CrossEntropyForwardBackward(D(logits), n, v, targets, Ignore, dloss);
                // losses against ||lse||, as for cross_entropy_forward: a loss is a difference of larger quantities.
                h.Expect(losses, rl, Tol.Reduction, scaleOf: rlse);
                h.Expect(lse, rlse, Tol.Reduction);
                h.Expect(dlogits, rd, Tol.Reduction);
            });
        }
        yield return new("cross_entropy_forward_backward(target out of range)", h =>
        {
            var losses = h.Out("losses", 2);
            var lse = h.Out("lse", 2);
            var dlogits = h.Out("dlogits", 2, 5);
            var ex = Assert.Throws<NativeException>(() =>
                h.Context.CrossEntropyForwardBackward(h.In("logits", Floats(117, 10), 2, 5), h.InInt("targets", new[] { 5, 1 }, 2), Ignore, 1f, losses, lse, dlogits));
            h.ExpectTrue(ex.Status == LpStatus.InvalidArgument && ex.NativeMessage.Contains("targets"), $"error names targets: {ex.Message}");
        });
        yield return new("cross_entropy_forward(target out of range)", h =>
        {
            var losses = h.Out("losses", 2);
            var lse = h.Out("lse", 2);
            var ex = Assert.Throws<NativeException>(() =>
                h.Context.CrossEntropyForward(h.In("logits", Floats(114, 10), 2, 5), h.InInt("targets", new[] { 1, 5 }, 2), Ignore, losses, lse));
            h.ExpectTrue(ex.Status == LpStatus.InvalidArgument && ex.NativeMessage.Contains("targets"), $"error names targets: {ex.Message}");
        });
    }

    private static readonly Tolerance AdamTol = new(2e-6,
        "per element: two moment updates, a sqrt and a division in f32 (a few roundings of 6e-8)");

    public static IEnumerable<OpCase> AdamW()
    {
        foreach (var (n, step, wd) in new[] { (1, 1L, 0f), (13, 3L, 0.01f), (1000, 10L, 0.1f) })
        {
            yield return new($"adamw_step(n={n},step={step},weight_decay={wd})", h =>
            {
                var p = Floats(121, n);
                var g = Floats(122, n);
                var m = Floats(123, n, -0.1f, 0.1f);
                var v = Floats(124, n, 0f, 0.01f);
                var tp = h.InOut("param", p, n);
                var tm = h.InOut("m", m, n);
                var tv = h.InOut("v", v, n);
                h.Context.AdamWStep(tp, h.In("grad", g, n), tm, tv, 1e-3f, 0.9f, 0.999f, 1e-8f, wd, step);
                double[] rp = D(p), rm = D(m), rv = D(v);
                Ref.AdamWStep(rp, D(g), rm, rv, 1e-3f, 0.9f, 0.999f, 1e-8f, wd, step);
                h.Expect(tp, rp, AdamTol);
                h.Expect(tm, rm, AdamTol);
                h.Expect(tv, rv, AdamTol);
            });
        }
    }

    public static IEnumerable<OpCase> GradNorm()
    {
        foreach (var (n, maxNorm) in new[] { (1, 0.1f), (13, 100f), (1000, 1f), (4099, 5f), (140000, 50f) })
        {
            yield return new($"grad_norm_accumulate(n={n})", h =>
            {
                var g = Floats(131, n);
                var sumsq = h.InOut("sumsq", new[] { 0.5f }, 1);
                h.Context.GradNormAccumulate(h.In("grad", g, n), sumsq);
                h.Expect(sumsq, new[] { 0.5 + Ref.SumSquares(D(g)) }, Tol.Reduction);
            });
            yield return new($"grad_clip(n={n},max_norm={maxNorm})", h =>
            {
                var g = Floats(132, n);
                double ss = Ref.SumSquares(D(g));
                var tg = h.InOut("grad", g, n);
                h.Context.GradClip(tg, h.In("sumsq", new[] { (float)ss }, 1), maxNorm);
                h.Expect(tg, Ref.GradClip(D(g), (float)ss, maxNorm), Tol.Elementwise);
            });
        }
    }

    private sealed record ImpCase(int Out, int In, int R, ImportanceMode Mode, int Axis, bool Bf16, bool NoLora = false)
    {
        public override string ToString() =>
            $"importance_accumulate(OUT={Out},IN={In}{(NoLora ? ",no LoRA" : $",R={R}")},mode={Mode.ToString().ToLowerInvariant()},axis={Axis}{(Bf16 ? ",W=bf16" : "")})";
    }

    public static IEnumerable<OpCase> Importance()
    {
        var cases = new List<ImpCase>();
        foreach (var mode in new[] { ImportanceMode.Lora, ImportanceMode.Grad, ImportanceMode.Magnitude })
            foreach (var axis in new[] { 0, 1 })
            {
                cases.Add(new(7, 13, 3, mode, axis, false));
                cases.Add(new(5, 5, 1, mode, axis, false));
            }
        cases.Add(new(16, 12, 16, ImportanceMode.Lora, 0, false));
        cases.Add(new(33, 70, 8, ImportanceMode.Lora, 1, false));
        cases.Add(new(7, 13, 3, ImportanceMode.Lora, 0, true));
        cases.Add(new(9, 40, 4, ImportanceMode.Lora, 1, true));
        cases.Add(new(6, 11, 0, ImportanceMode.Magnitude, 0, false, NoLora: true));
        cases.Add(new(6, 11, 0, ImportanceMode.Grad, 1, false, NoLora: true));
        cases.Add(new(40, 300, 24, ImportanceMode.Lora, 0, false));
        cases.Add(new(40, 300, 24, ImportanceMode.Lora, 1, false));
        cases.Add(new(64, 4096, 64, ImportanceMode.Lora, 0, true));
        cases.Add(new(64, 4096, 8, ImportanceMode.Grad, 1, false));
        cases.Add(new(33, 4096, 17, ImportanceMode.Magnitude, 1, true));
        foreach (var c in cases) yield return new(c.ToString(), h => RunImportance(h, c));

        foreach (var (n, group) in new[] { (12, 4L), (13, 1L), (8, 8L), (96, 6L), (600, 2L) })
        {
            yield return new($"importance_group_normalize(n={n},group_size={group})", h =>
            {
                var v = Floats(141, n, 0f, 3f);
                var init = Floats(142, n / group);
                var output = h.InOut("out", init, n / group);
                h.Context.ImportanceGroupNormalize(h.In("v", v, n), group, output);
                h.Expect(output, Plus(D(init), Ref.ImportanceGroupNormalize(D(v), group)), Tol.Reduction);
            });
        }
        foreach (var (n, withNan) in new[] { (7, false), (7, true), (1000, false), (1000, true) })
        {
            yield return new($"importance_ema(n={n}{(withNan ? ",fresh has NaN" : "")})", h =>
            {
                var ema = Floats(143, n, 0f, 1f);
                var fresh = Floats(144, n, 0f, 1f);
                if (withNan) fresh[n - 1] = float.NaN;
                var tema = h.InOut("ema", ema, n);
                bool applied = h.Context.ImportanceEma(tema, h.In("fresh", fresh, n), 0.9f);
                var (rema, rapplied) = Ref.ImportanceEma(D(ema), D(fresh), 0.9f);
                h.ExpectTrue(applied == rapplied, $"applied={applied}, reference {rapplied}");
                if (withNan) h.ExpectExact(tema, ema);
                else h.Expect(tema, rema, Tol.Elementwise);
            });
        }
    }

    private static void RunImportance(OpHarness h, ImpCase c)
    {
        int o = c.Out, i = c.In, r = c.R;
        const float scale = 2f;
        var w = c.Bf16 ? Bf16(151, o * i) : Floats(151, o * i);
        float[]? a = c.NoLora ? null : Floats(152, r * i, -0.5f, 0.5f);
        float[]? b = c.NoLora ? null : Floats(153, o * r, -0.5f, 0.5f);
        bool lora = c.Mode == ImportanceMode.Lora;
        float[]? ga = lora ? Floats(154, r * i, -0.1f, 0.1f) : null;
        float[]? gb = lora ? Floats(155, o * r, -0.1f, 0.1f) : null;
        float[]? gw = c.Mode == ImportanceMode.Grad ? Floats(156, o * i, -0.1f, 0.1f) : null;
        int len = c.Axis == 0 ? o : i;
        var init = Floats(157, len, 0f, 1f);
        var acc = h.InOut("acc", init, len);
        h.Context.ImportanceAccumulate(
            c.Bf16 ? h.InBf16("w", w, o, i) : h.In("w", w, o, i),
            a is null ? null : h.In("a", a, r, i), b is null ? null : h.In("b", b, o, r),
            ga is null ? null : h.In("ga", ga, r, i), gb is null ? null : h.In("gb", gb, o, r),
            gw is null ? null : h.In("gw", gw, o, i), scale, c.Mode, c.Axis, acc);
        var contrib = Ref.ImportanceAccumulate(D(w), o, i, a is null ? null : D(a), b is null ? null : D(b), r,
            ga is null ? null : D(ga), gb is null ? null : D(gb), gw is null ? null : D(gw), scale, (int)c.Mode, c.Axis);
        h.Expect(acc, Plus(D(init), contrib), Tol.Importance);
    }
}
