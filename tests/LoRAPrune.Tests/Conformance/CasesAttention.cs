// CasesAttention.cs — conformance cases of causal grouped-query attention, forward and backward:
// multi-head (KVH = H), grouped (1 < KVH < H), multi-query (KVH = 1), T = 1 and odd T; and shapes
// that cross the CUDA kernels' tiles: T over 32-key/query tiles (every tile loop runs 2 to 5
// times) at each head-dim path (D <= 32, 33..64, 65..128), up to LLaMA's D = 128 at T = 129.
using LoRAPrune.Reference;
using static LoRAPrune.Tests.Conformance.Gen;

namespace LoRAPrune.Tests.Conformance;

public static class CasesAttention
{
    public static IEnumerable<OpCase> Attention()
    {
        var shapes = new[]
        {
            (1, 1, 1, 1, 1), (1, 5, 4, 2, 6), (2, 7, 4, 1, 8), (1, 13, 2, 2, 5), (1, 16, 8, 2, 16), (2, 3, 6, 3, 4),
            (2, 45, 2, 2, 32), (1, 70, 4, 2, 40), (1, 35, 2, 1, 65), (1, 129, 2, 1, 128),
        };
        foreach (var (b, t, hq, kvh, d) in shapes)
        {
            string args = $"B={b},T={t},H={hq},KVH={kvh},D={d}";
            double scale = 1.0 / Math.Sqrt(d);
            yield return new($"attention_forward({args})", h =>
            {
                var q = Floats(101, b * t * hq * d);
                var k = Floats(102, b * t * kvh * d);
                var v = Floats(103, b * t * kvh * d);
                var output = h.Out("out", b, t, hq, d);
                var lse = h.Out("lse", b, hq, t);
                h.Context.AttentionForward(h.In("q", q, b, t, hq, d), h.In("k", k, b, t, kvh, d), h.In("v", v, b, t, kvh, d), (float)scale, output, lse);
                var (ro, rl) = Ref.AttentionForward(D(q), D(k), D(v), b, t, hq, kvh, d, (float)scale);
                h.Expect(output, ro, Tol.Attention);
                h.Expect(lse, rl, Tol.Attention);
            });
            yield return new($"attention_backward({args})", h =>
            {
                var q = Floats(104, b * t * hq * d);
                var k = Floats(105, b * t * kvh * d);
                var v = Floats(106, b * t * kvh * d);
                var dout = Floats(107, b * t * hq * d);
                var (ro, rl) = Ref.AttentionForward(D(q), D(k), D(v), b, t, hq, kvh, d, (float)scale);
                var dq = h.Out("dq", b, t, hq, d);
                var dk = h.Out("dk", b, t, kvh, d);
                var dv = h.Out("dv", b, t, kvh, d);
                h.Context.AttentionBackward(h.In("q", q, b, t, hq, d), h.In("k", k, b, t, kvh, d), h.In("v", v, b, t, kvh, d),
                    h.In("out", ro.Select(x => (float)x).ToArray(), b, t, hq, d), h.In("lse", rl.Select(x => (float)x).ToArray(), b, hq, t),
                    h.In("dout", dout, b, t, hq, d), (float)scale, dq, dk, dv);
                var (rdq, rdk, rdv) = Ref.AttentionBackward(D(q), D(k), D(v), D(dout), b, t, hq, kvh, d, (float)scale);
                h.Expect(dq, rdq, Tol.Attention);
                h.Expect(dk, rdk, Tol.Attention);
                h.Expect(dv, rdv, Tol.Attention);
            });
        }
    }
}
