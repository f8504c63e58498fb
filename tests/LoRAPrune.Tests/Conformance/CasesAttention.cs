// CasesAttention.cs — conformance cases of causal grouped-query attention, forward and backward:
// multi-head (KVH = H), grouped (1 < KVH < H), multi-query (KVH = 1), T = 1 and odd T; and shapes
// that cross the CUDA kernels' tiles: T over 32-key/query tiles (every tile loop runs 2 to 5
// times) at each head-dim path (D <= 32, 33..64, 65..128), up to LLaMA's D = 128 at T = 129.
using LoRAPrune.Native;
using LoRAPrune.Reference;
using static LoRAPrune.Tests.Conformance.Gen;

namespace LoRAPrune.Tests.Conformance;

public static class CasesAttention
{
    public static IEnumerable<OpCase> Attention() => AttentionCases(LpDType.F32,
    [
        (1, 1, 1, 1, 1), (1, 5, 4, 2, 6), (2, 7, 4, 1, 8), (1, 13, 2, 2, 5), (1, 16, 8, 2, 16), (2, 3, 6, 3, 4),
        (2, 45, 2, 2, 32), (1, 70, 4, 2, 40), (1, 35, 2, 1, 65), (1, 129, 2, 1, 128),
    ]);

    private static readonly Tolerance Bf16OutBackward = new(5e-3,
        "out is read as the forward stored it, rounded to bf16 (2^-9 relative): rowsum(dO*O) carries that error into dS = P (dP - rowsum), " +
        "where it does not cancel as it does with f32 out (measured up to 1.4e-3)");

    /// <summary>Attention with q, k, v and out of activation dtype <paramref name="act"/> (f32, or bf16: CasesBf16Activations);
    /// a bf16 backward reads out rounded to bf16, as the forward stores it.</summary>
    public static IEnumerable<OpCase> AttentionCases(LpDType act, (int B, int T, int H, int KVH, int D)[] shapes)
    {
        bool bf16 = act == LpDType.BF16;
        foreach (var (b, t, hq, kvh, d) in shapes)
        {
            string args = $"{(bf16 ? "act=bf16 q k v out," : "")}B={b},T={t},H={hq},KVH={kvh},D={d}";
            double scale = 1.0 / Math.Sqrt(d);
            yield return new($"attention_forward({args})", h =>
            {
                var q = RoundTo(act, Floats(101, b * t * hq * d));
                var k = RoundTo(act, Floats(102, b * t * kvh * d));
                var v = RoundTo(act, Floats(103, b * t * kvh * d));
                var output = h.OutTyped("out", act, b, t, hq, d);
                var lse = h.Out("lse", b, hq, t);
                h.Context.AttentionForward(h.InTyped("q", act, q, b, t, hq, d), h.InTyped("k", act, k, b, t, kvh, d), h.InTyped("v", act, v, b, t, kvh, d),
                                           (float)scale, output, lse);
                var (ro, rl) = Ref.AttentionForward(D(q), D(k), D(v), b, t, hq, kvh, d, (float)scale);
                h.Expect(output, ro, bf16 ? Tol.Bf16Round : Tol.Attention);
                h.Expect(lse, rl, Tol.Attention);
            });
            yield return new($"attention_backward({args})", h =>
            {
                var q = RoundTo(act, Floats(104, b * t * hq * d));
                var k = RoundTo(act, Floats(105, b * t * kvh * d));
                var v = RoundTo(act, Floats(106, b * t * kvh * d));
                var dout = Floats(107, b * t * hq * d);
                var (ro, rl) = Ref.AttentionForward(D(q), D(k), D(v), b, t, hq, kvh, d, (float)scale);
                var dq = h.Out("dq", b, t, hq, d);
                var dk = h.Out("dk", b, t, kvh, d);
                var dv = h.Out("dv", b, t, kvh, d);
                h.Context.AttentionBackward(h.InTyped("q", act, q, b, t, hq, d), h.InTyped("k", act, k, b, t, kvh, d), h.InTyped("v", act, v, b, t, kvh, d),
                    h.InTyped("out", act, RoundTo(act, ro.Select(x => (float)x).ToArray()), b, t, hq, d), h.In("lse", rl.Select(x => (float)x).ToArray(), b, hq, t),
                    h.In("dout", dout, b, t, hq, d), (float)scale, dq, dk, dv);
                var (rdq, rdk, rdv) = Ref.AttentionBackward(D(q), D(k), D(v), D(dout), b, t, hq, kvh, d, (float)scale);
                h.Expect(dq, rdq, bf16 ? Bf16OutBackward : Tol.Attention);
                h.Expect(dk, rdk, bf16 ? Bf16OutBackward : Tol.Attention);
                h.Expect(dv, rdv, Tol.Attention);
            });
        }
    }
}
