// ContextOps.cs — one method per lp_op_* of lp.h, same argument order, Tensor? where lp.h says
// nullable. Each builds the descriptors under the context's Gate (so no buffer can be freed by the
// finalizer mid-call), turns an error status into a NativeException naming the op, and reports its
// time to the context's OpTimer when one is set (profiling only).
namespace LoRAPrune.Native;

public sealed unsafe partial class Context
{
    private nint Raw => _handle.Raw;

    public void EmbeddingForward(Tensor table, Tensor ids, Tensor output)
    {
        using OpTiming timing = Timed("embedding_forward");
        lock (Gate)
        {
            LpTensor t = table.Descriptor, i = ids.Descriptor, o = output.Descriptor;
            Check(Api.lp_op_embedding_forward(Raw, &t, &i, &o));
        }
    }

    public void EmbeddingBackward(Tensor dout, Tensor ids, Tensor dtable)
    {
        using OpTiming timing = Timed("embedding_backward");
        lock (Gate)
        {
            LpTensor d = dout.Descriptor, i = ids.Descriptor, dt = dtable.Descriptor;
            Check(Api.lp_op_embedding_backward(Raw, &d, &i, &dt));
        }
    }

    public void RmsNormForward(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd)
    {
        using OpTiming timing = Timed("rmsnorm_forward");
        lock (Gate)
        {
            LpTensor tx = x.Descriptor, tw = weight.Descriptor, ty = y.Descriptor, tr = rstd.Descriptor;
            Check(Api.lp_op_rmsnorm_forward(Raw, &tx, &tw, eps, &ty, &tr));
        }
    }

    public void RmsNormBackward(Tensor dy, Tensor x, Tensor weight, Tensor rstd, Tensor dx, Tensor? dweight)
    {
        using OpTiming timing = Timed("rmsnorm_backward");
        lock (Gate)
        {
            LpTensor tdy = dy.Descriptor, tx = x.Descriptor, tw = weight.Descriptor, tr = rstd.Descriptor, tdx = dx.Descriptor, tdw;
            Check(Api.lp_op_rmsnorm_backward(Raw, &tdy, &tx, &tw, &tr, &tdx, Opt(dweight, &tdw)));
        }
    }

    public void RopeForward(Tensor x, Tensor y, Tensor? invFreq, float theta, long posOffset)
    {
        using OpTiming timing = Timed("rope_forward");
        lock (Gate)
        {
            LpTensor tx = x.Descriptor, ty = y.Descriptor, tf;
            Check(Api.lp_op_rope_forward(Raw, &tx, &ty, Opt(invFreq, &tf), theta, posOffset));
        }
    }

    public void RopeBackward(Tensor dy, Tensor dx, Tensor? invFreq, float theta, long posOffset)
    {
        using OpTiming timing = Timed("rope_backward");
        lock (Gate)
        {
            LpTensor tdy = dy.Descriptor, tdx = dx.Descriptor, tf;
            Check(Api.lp_op_rope_backward(Raw, &tdy, &tdx, Opt(invFreq, &tf), theta, posOffset));
        }
    }

    public void Gemm(Tensor a, Tensor b, Tensor c, bool transA, bool transB, float alpha, float beta)
    {
        using OpTiming timing = Timed("gemm");
        lock (Gate)
        {
            LpTensor ta = a.Descriptor, tb = b.Descriptor, tc = c.Descriptor;
            Check(Api.lp_op_gemm(Raw, &ta, &tb, &tc, transA ? 1 : 0, transB ? 1 : 0, alpha, beta));
        }
    }

    public void AttentionForward(Tensor q, Tensor k, Tensor v, float scale, Tensor output, Tensor lse)
    {
        using OpTiming timing = Timed("attention_forward");
        lock (Gate)
        {
            LpTensor tq = q.Descriptor, tk = k.Descriptor, tv = v.Descriptor, to = output.Descriptor, tl = lse.Descriptor;
            Check(Api.lp_op_attention_forward(Raw, &tq, &tk, &tv, scale, &to, &tl));
        }
    }

    public void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor output, Tensor lse, Tensor dout, float scale, Tensor dq, Tensor dk, Tensor dv)
    {
        using OpTiming timing = Timed("attention_backward");
        lock (Gate)
        {
            LpTensor tq = q.Descriptor, tk = k.Descriptor, tv = v.Descriptor, to = output.Descriptor, tl = lse.Descriptor, tdo = dout.Descriptor;
            LpTensor tdq = dq.Descriptor, tdk = dk.Descriptor, tdv = dv.Descriptor;
            Check(Api.lp_op_attention_backward(Raw, &tq, &tk, &tv, &to, &tl, &tdo, scale, &tdq, &tdk, &tdv));
        }
    }

    public void SwiGluForward(Tensor gate, Tensor up, Tensor output)
    {
        using OpTiming timing = Timed("swiglu_forward");
        lock (Gate)
        {
            LpTensor tg = gate.Descriptor, tu = up.Descriptor, to = output.Descriptor;
            Check(Api.lp_op_swiglu_forward(Raw, &tg, &tu, &to));
        }
    }

    public void SwiGluBackward(Tensor dout, Tensor gate, Tensor up, Tensor dgate, Tensor dup)
    {
        using OpTiming timing = Timed("swiglu_backward");
        lock (Gate)
        {
            LpTensor tdo = dout.Descriptor, tg = gate.Descriptor, tu = up.Descriptor, tdg = dgate.Descriptor, tdu = dup.Descriptor;
            Check(Api.lp_op_swiglu_backward(Raw, &tdo, &tg, &tu, &tdg, &tdu));
        }
    }

    public void Dropout(Tensor x, Tensor y, float p, ulong seed, ulong offset)
    {
        using OpTiming timing = Timed("dropout");
        lock (Gate)
        {
            LpTensor tx = x.Descriptor, ty = y.Descriptor;
            Check(Api.lp_op_dropout(Raw, &tx, &ty, p, seed, offset));
        }
    }

    public void LoraLinearForward(Tensor x, Tensor w, Tensor? a, Tensor? b, Tensor? mask, float scale, float dropoutP, ulong seed, ulong offset, Tensor y, Tensor? xa)
    {
        using OpTiming timing = Timed("lora_linear_forward");
        lock (Gate)
        {
            LpTensor tx = x.Descriptor, tw = w.Descriptor, ty = y.Descriptor, ta, tb, tm, txa;
            Check(Api.lp_op_lora_linear_forward(Raw, &tx, &tw, Opt(a, &ta), Opt(b, &tb), Opt(mask, &tm), scale, dropoutP, seed, offset, &ty, Opt(xa, &txa)));
        }
    }

    public void LoraLinearBackward(Tensor dy, Tensor x, Tensor w, Tensor? a, Tensor? b, Tensor? mask, Tensor? xa, float scale, float dropoutP, ulong seed, ulong offset,
                                   Tensor? dx, Tensor? da, Tensor? db, Tensor? dw)
    {
        using OpTiming timing = Timed("lora_linear_backward");
        lock (Gate)
        {
            LpTensor tdy = dy.Descriptor, tx = x.Descriptor, tw = w.Descriptor, ta, tb, tm, txa, tdx, tda, tdb, tdw;
            Check(Api.lp_op_lora_linear_backward(Raw, &tdy, &tx, &tw, Opt(a, &ta), Opt(b, &tb), Opt(mask, &tm), Opt(xa, &txa), scale, dropoutP, seed, offset,
                                                 Opt(dx, &tdx), Opt(da, &tda), Opt(db, &tdb), Opt(dw, &tdw)));
        }
    }

    public void BiasAdd(Tensor y, Tensor bias, Tensor? mask)
    {
        using OpTiming timing = Timed("bias_add");
        lock (Gate)
        {
            LpTensor ty = y.Descriptor, tb = bias.Descriptor, tm;
            Check(Api.lp_op_bias_add(Raw, &ty, &tb, Opt(mask, &tm)));
        }
    }

    public void BiasBackward(Tensor dy, Tensor? mask, Tensor dbias)
    {
        using OpTiming timing = Timed("bias_backward");
        lock (Gate)
        {
            LpTensor tdy = dy.Descriptor, tm, tdb = dbias.Descriptor;
            Check(Api.lp_op_bias_backward(Raw, &tdy, Opt(mask, &tm), &tdb));
        }
    }

    public void CrossEntropyForward(Tensor logits, Tensor targets, int ignoreIndex, Tensor losses, Tensor lse)
    {
        using OpTiming timing = Timed("cross_entropy_forward");
        lock (Gate)
        {
            LpTensor tlg = logits.Descriptor, tt = targets.Descriptor, tls = losses.Descriptor, tl = lse.Descriptor;
            Check(Api.lp_op_cross_entropy_forward(Raw, &tlg, &tt, ignoreIndex, &tls, &tl));
        }
    }

    public void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor lse, int ignoreIndex, float dloss, Tensor dlogits)
    {
        using OpTiming timing = Timed("cross_entropy_backward");
        lock (Gate)
        {
            LpTensor tlg = logits.Descriptor, tt = targets.Descriptor, tl = lse.Descriptor, td = dlogits.Descriptor;
            Check(Api.lp_op_cross_entropy_backward(Raw, &tlg, &tt, &tl, ignoreIndex, dloss, &td));
        }
    }

    /// <summary>Cross-entropy forward and backward in one pass over the logits; dlogits may alias logits.</summary>
    public void CrossEntropyForwardBackward(Tensor logits, Tensor targets, int ignoreIndex, float dloss, Tensor losses, Tensor lse, Tensor dlogits)
    {
        using OpTiming timing = Timed("cross_entropy_forward_backward");
        lock (Gate)
        {
            LpTensor tlg = logits.Descriptor, tt = targets.Descriptor, tls = losses.Descriptor, tl = lse.Descriptor, td = dlogits.Descriptor;
            Check(Api.lp_op_cross_entropy_forward_backward(Raw, &tlg, &tt, ignoreIndex, dloss, &tls, &tl, &td));
        }
    }

    public void AdamWStep(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step)
    {
        using OpTiming timing = Timed("adamw_step");
        lock (Gate)
        {
            LpTensor tp = param.Descriptor, tg = grad.Descriptor, tm = m.Descriptor, tv = v.Descriptor;
            Check(Api.lp_op_adamw_step(Raw, &tp, &tg, &tm, &tv, lr, beta1, beta2, eps, weightDecay, step));
        }
    }

    public void GradNormAccumulate(Tensor grad, Tensor sumsq)
    {
        using OpTiming timing = Timed("grad_norm_accumulate");
        lock (Gate)
        {
            LpTensor tg = grad.Descriptor, ts = sumsq.Descriptor;
            Check(Api.lp_op_grad_norm_accumulate(Raw, &tg, &ts));
        }
    }

    public void GradClip(Tensor grad, Tensor sumsq, float maxNorm)
    {
        using OpTiming timing = Timed("grad_clip");
        lock (Gate)
        {
            LpTensor tg = grad.Descriptor, ts = sumsq.Descriptor;
            Check(Api.lp_op_grad_clip(Raw, &tg, &ts, maxNorm));
        }
    }

    public void ImportanceAccumulate(Tensor w, Tensor? a, Tensor? b, Tensor? ga, Tensor? gb, Tensor? gw, float scale, ImportanceMode mode, int axis, Tensor acc)
    {
        using OpTiming timing = Timed("importance_accumulate");
        lock (Gate)
        {
            LpTensor tw = w.Descriptor, tacc = acc.Descriptor, ta, tb, tga, tgb, tgw;
            Check(Api.lp_op_importance_accumulate(Raw, &tw, Opt(a, &ta), Opt(b, &tb), Opt(ga, &tga), Opt(gb, &tgb), Opt(gw, &tgw), scale, (int)mode, axis, &tacc));
        }
    }

    public void ImportanceGroupNormalize(Tensor v, long groupSize, Tensor output)
    {
        using OpTiming timing = Timed("importance_group_normalize");
        lock (Gate)
        {
            LpTensor tv = v.Descriptor, to = output.Descriptor;
            Check(Api.lp_op_importance_group_normalize(Raw, &tv, groupSize, &to));
        }
    }

    /// <summary>ema = decay*ema + (1-decay)*fresh unless fresh holds a NaN; returns whether it was applied.</summary>
    public bool ImportanceEma(Tensor ema, Tensor fresh, float decay)
    {
        using OpTiming timing = Timed("importance_ema");
        lock (Gate)
        {
            LpTensor te = ema.Descriptor, tf = fresh.Descriptor;
            int applied;
            Check(Api.lp_op_importance_ema(Raw, &te, &tf, decay, &applied));
            return applied != 0;
        }
    }

    public void GatherRows(Tensor src, Tensor idx, Tensor dst)
    {
        using OpTiming timing = Timed("gather_rows");
        lock (Gate)
        {
            LpTensor ts = src.Descriptor, ti = idx.Descriptor, td = dst.Descriptor;
            Check(Api.lp_op_gather_rows(Raw, &ts, &ti, &td));
        }
    }

    public void GatherCols(Tensor src, Tensor idx, Tensor dst)
    {
        using OpTiming timing = Timed("gather_cols");
        lock (Gate)
        {
            LpTensor ts = src.Descriptor, ti = idx.Descriptor, td = dst.Descriptor;
            Check(Api.lp_op_gather_cols(Raw, &ts, &ti, &td));
        }
    }

    public void LoraMerge(Tensor w, Tensor a, Tensor b, float scale)
    {
        using OpTiming timing = Timed("lora_merge");
        lock (Gate)
        {
            LpTensor tw = w.Descriptor, ta = a.Descriptor, tb = b.Descriptor;
            Check(Api.lp_op_lora_merge(Raw, &tw, &ta, &tb, scale));
        }
    }

    public void Add(Tensor a, Tensor b, Tensor output)
    {
        using OpTiming timing = Timed("add");
        lock (Gate)
        {
            LpTensor ta = a.Descriptor, tb = b.Descriptor, to = output.Descriptor;
            Check(Api.lp_op_add(Raw, &ta, &tb, &to));
        }
    }

    public void Mul(Tensor a, Tensor b, Tensor output)
    {
        using OpTiming timing = Timed("mul");
        lock (Gate)
        {
            LpTensor ta = a.Descriptor, tb = b.Descriptor, to = output.Descriptor;
            Check(Api.lp_op_mul(Raw, &ta, &tb, &to));
        }
    }

    public void Axpy(float alpha, Tensor x, Tensor y)
    {
        using OpTiming timing = Timed("axpy");
        lock (Gate)
        {
            LpTensor tx = x.Descriptor, ty = y.Descriptor;
            Check(Api.lp_op_axpy(Raw, alpha, &tx, &ty));
        }
    }

    public void Convert(Tensor src, Tensor dst)
    {
        using OpTiming timing = Timed("convert");
        lock (Gate)
        {
            LpTensor ts = src.Descriptor, td = dst.Descriptor;
            Check(Api.lp_op_convert(Raw, &ts, &td));
        }
    }

    // The descriptor of an optional tensor in caller-provided storage, or null.
    private static LpTensor* Opt(Tensor? tensor, LpTensor* storage)
    {
        if (tensor is null) return null;
        *storage = tensor.Descriptor;
        return storage;
    }
}
