// ReferenceLlama.cs — the whole LLaMA+LoRA forward and backward in float64, composed from the
// reference ops (Ref.*), written in the order of the model's math rather than the engine's code.
// It is the oracle for the engine's loss, LoRA gradients and base gradients (projection biases
// included); its own gradients are checked against central finite differences.
using LoRAPrune.Core.IO;
using LoRAPrune.Core.Model;
using LoRAPrune.Reference;

namespace LoRAPrune.Tests.Model;

public sealed class ReferenceLlama
{
    public required LlamaConfig Config { get; init; }
    public required Dictionary<string, double[]> Base { get; init; }   // HF names
    public required Dictionary<string, double[]> Lora { get; init; }   // PEFT names (A and B)
    public required Dictionary<(int, LlamaLinear), double[]> Masks { get; init; }
    public required int Rank { get; init; }
    public required double Scale { get; init; }
    public required float Dropout { get; init; }
    public required ulong StepSeed { get; init; }
    public required double[] InvFreq { get; init; }

    private double[]? A(int l, LlamaLinear m) => Lora.GetValueOrDefault(LoraAdapters.Name(l, m, false));
    private double[]? B(int l, LlamaLinear m) => Lora.GetValueOrDefault(LoraAdapters.Name(l, m, true));
    private double[]? Mask(int l, LlamaLinear m) => Masks.GetValueOrDefault((l, m));
    private double[] W(int l, LlamaLinear m) => Base[LlamaTensorLayout.Weight(m, l)];
    private double[]? Bias(int l, LlamaLinear m) => m.HasBias(Config) ? Base[LlamaTensorLayout.Bias(m, l)] : null;

    /// <summary>Mean token loss and its gradient with respect to every LoRA matrix (PEFT names).</summary>
    public (double Loss, Dictionary<string, double[]> Grads) LossAndGrads(int[] tokens, int[] targets, int batch, int seq)
    {
        var (loss, lora, _) = LossAndAllGrads(tokens, targets, batch, seq);
        return (loss, lora);
    }

    /// <summary>Mean token loss, LoRA gradients (PEFT names) and base-weight gradients (HF names).</summary>
    public (double Loss, Dictionary<string, double[]> Lora, Dictionary<string, double[]> Base) LossAndAllGrads(int[] tokens, int[] targets, int batch, int seq)
    {
        var c = Config;
        int n = batch * seq, C = c.HiddenSize, D = c.HeadDim, V = c.VocabSize, R = Rank;
        double eps = c.RmsNormEps;
        (double[] Y, double[] Xa) Lin(int l, LlamaLinear m, double[] x)
        {
            var (outF, inF) = m.Shape(c, l);
            var (y, xa) = Ref.LoraLinearForward(x, n, inF, W(l, m), outF, A(l, m), B(l, m), A(l, m) is null ? 0 : R, Mask(l, m), Scale, Dropout,
                LlamaGraph.DropoutSeed(StepSeed, l, m), 0);
            // (linear + bias) (.) mask, the bias of Qwen2 q/k/v, attention_bias and mlp_bias models.
            return (Bias(l, m) is { } bias ? Ref.BiasAdd(y, n, outF, bias, Mask(l, m)) : y, xa);
        }

        // ---- forward, keeping what the backward needs
        var xs = new List<double[]> { Ref.EmbeddingForward(Base["model.embed_tokens.weight"], V, C, tokens) };
        var saved = new List<Dictionary<string, double[]>>();
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            int H = c.AttentionHeads(l), KVH = c.KeyValueHeads(l);
            var x = xs[^1];
            var xn1 = Ref.RmsNormForward(x, n, C, Base[LlamaTensorLayout.InputNorm(l)], eps).y;
            var q = Lin(l, LlamaLinear.QProj, xn1).Y;
            var k = Lin(l, LlamaLinear.KProj, xn1).Y;
            var v = Lin(l, LlamaLinear.VProj, xn1).Y;
            var qr = Ref.RopeForward(q, batch, seq, H, D, InvFreq, 0);
            var kr = Ref.RopeForward(k, batch, seq, KVH, D, InvFreq, 0);
            var att = Ref.AttentionForward(qr, kr, v, batch, seq, H, KVH, D, 1.0 / Math.Sqrt(D)).output;
            var h = Ref.Add(x, Lin(l, LlamaLinear.OProj, att).Y);
            var xn2 = Ref.RmsNormForward(h, n, C, Base[LlamaTensorLayout.PostAttentionNorm(l)], eps).y;
            var g = Lin(l, LlamaLinear.GateProj, xn2).Y;
            var u = Lin(l, LlamaLinear.UpProj, xn2).Y;
            var act = Ref.SwiGluForward(g, u);
            xs.Add(Ref.Add(h, Lin(l, LlamaLinear.DownProj, act).Y));
            saved.Add(new() { ["xn1"] = xn1, ["qr"] = qr, ["kr"] = kr, ["v"] = v, ["att"] = att, ["h"] = h, ["xn2"] = xn2, ["g"] = g, ["u"] = u, ["act"] = act });
        }
        var xnF = Ref.RmsNormForward(xs[^1], n, C, Base["model.norm.weight"], eps).y;
        var head = c.TieWordEmbeddings ? Base["model.embed_tokens.weight"] : Base["lm_head.weight"];
        var logits = Ref.LoraLinearForward(xnF, n, C, head, V, null, null, 0, null, 0, 0, 0, 0).y;
        var (losses, _) = Ref.CrossEntropyForward(logits, n, V, targets, LlamaGraph.IgnoreIndex);
        int count = targets.Count(t => t != LlamaGraph.IgnoreIndex);
        double loss = losses.Sum() / count;

        // ---- backward
        var grads = new Dictionary<string, double[]>();
        var baseGrads = new Dictionary<string, double[]>();
        void AddBase(string name, double[] g) => baseGrads[name] = baseGrads.TryGetValue(name, out var have) ? Ref.Add(have, g) : g;
        void LinBack(int l, LlamaLinear m, double[] dy, double[] x, out double[] dx)
        {
            var (outF, inF) = m.Shape(c, l);
            var (gx, ga, gb, gw) = Ref.LoraLinearBackward(dy, x, n, inF, W(l, m), outF, A(l, m), B(l, m), A(l, m) is null ? 0 : R, Mask(l, m), Scale,
                Dropout, LlamaGraph.DropoutSeed(StepSeed, l, m), 0);
            dx = gx;
            AddBase(LlamaTensorLayout.Weight(m, l), gw);
            if (Bias(l, m) is not null) AddBase(LlamaTensorLayout.Bias(m, l), Ref.BiasBackward(dy, n, outF, Mask(l, m)));
            if (ga is not null) grads[LoraAdapters.Name(l, m, false)] = ga;
            if (gb is not null) grads[LoraAdapters.Name(l, m, true)] = gb;
        }
        var dlogits = Ref.CrossEntropyBackward(logits, n, V, targets, LlamaGraph.IgnoreIndex, 1.0 / count);
        var headBack = Ref.LoraLinearBackward(dlogits, xnF, n, C, head, V, null, null, 0, null, 0, 0, 0, 0);
        AddBase(c.TieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight", headBack.dw);
        var finalBack = Ref.RmsNormBackward(headBack.dx, xs[^1], n, C, Base["model.norm.weight"], eps);
        AddBase("model.norm.weight", finalBack.dw);
        var dres = finalBack.dx;
        for (int l = c.NumHiddenLayers - 1; l >= 0; l--)
        {
            int H = c.AttentionHeads(l), KVH = c.KeyValueHeads(l);
            var s = saved[l];
            LinBack(l, LlamaLinear.DownProj, dres, s["act"], out var dact);
            var (dg, du) = Ref.SwiGluBackward(dact, s["g"], s["u"]);
            LinBack(l, LlamaLinear.GateProj, dg, s["xn2"], out var dxn2);
            LinBack(l, LlamaLinear.UpProj, du, s["xn2"], out var dxn2u);
            var postBack = Ref.RmsNormBackward(Ref.Add(dxn2, dxn2u), s["h"], n, C, Base[LlamaTensorLayout.PostAttentionNorm(l)], eps);
            AddBase(LlamaTensorLayout.PostAttentionNorm(l), postBack.dw);
            dres = Ref.Add(dres, postBack.dx);
            LinBack(l, LlamaLinear.OProj, dres, s["att"], out var datt);
            var (dqr, dkr, dv) = Ref.AttentionBackward(s["qr"], s["kr"], s["v"], datt, batch, seq, H, KVH, D, 1.0 / Math.Sqrt(D));
            var dq = Ref.RopeBackward(dqr, batch, seq, H, D, InvFreq, 0);
            var dk = Ref.RopeBackward(dkr, batch, seq, KVH, D, InvFreq, 0);
            LinBack(l, LlamaLinear.QProj, dq, s["xn1"], out var dxq);
            LinBack(l, LlamaLinear.KProj, dk, s["xn1"], out var dxk);
            LinBack(l, LlamaLinear.VProj, dv, s["xn1"], out var dxv);
            var inBack = Ref.RmsNormBackward(Ref.Add(Ref.Add(dxq, dxk), dxv), xs[l], n, C, Base[LlamaTensorLayout.InputNorm(l)], eps);
            AddBase(LlamaTensorLayout.InputNorm(l), inBack.dw);
            dres = Ref.Add(dres, inBack.dx);
        }
        AddBase("model.embed_tokens.weight", Ref.EmbeddingBackward(dres, tokens, V, C));
        return (loss, grads, baseGrads);
    }
}
