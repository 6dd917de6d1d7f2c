using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Sam;

/// <summary>
/// The mask decoder's cross-attention between a few prompt tokens (T) and many image tokens (N) of each prompt. The
/// projections are linear, so the image side's can move onto the token side: the scores against projected keys are the
/// queries pulled back through the key projection times the raw keys, and the attention-weighted projected values are
/// the weighted raw values projected (softmax rows sum to 1, so the value bias passes through). With heads × T below
/// the internal width that halves the products over N and never materialises N × internal-width projections per prompt.
/// </summary>
public partial class Attention
{
    /// <summary>Whether moving the image side's projection onto the tokens pays: image tokens per prompt, heads × tokens below the width.</summary>
    bool FoldPays(Tensor tokens, Tensor image) =>
        NoDropout && image.shape[0] == tokens.shape[0] && numHeads * tokens.shape[1] < internalDim;

    /// <summary>The regrouped products skip attention dropout, so they serve only where there is none.</summary>
    bool NoDropout => dropoutP == 0 || !training;

    /// <summary>Tokens B×T×C (queries) attending to image tokens B×N×C (keys, values); as <see cref="Forward"/>, in fewer products where that pays.</summary>
    public Tensor TokensToImage(Tensor q, Tensor k, Tensor v)
    {
        if (!FoldPays(q, k)) return Forward(q, k, v, 0);
        using var scope = NewDisposeScope();
        long b = q.shape[0], t = q.shape[1], dh = internalDim / numHeads;
        var qh = SeparateHeads(q_proj.forward(q), numHeads) * (1.0 / Math.Sqrt(dh));        // B×H×T×dh
        var wk = k_proj.weight!.view(numHeads, dh, -1);                                       // H×dh×Ckv
        var scores = qh.matmul(wk).view(b, numHeads * t, -1).matmul(k.transpose(1, 2))        // B×HT×N
                     .view(b, numHeads, t, -1) + qh.matmul(k_proj.bias!.view(numHeads, dh, 1));
        var p = scores.softmax(-1).view(b, numHeads * t, -1);
        var pv = p.matmul(v).view(b, numHeads, t, -1);                                         // B×H×T×Ckv
        var o = pv.matmul(v_proj.weight!.view(numHeads, dh, -1).transpose(1, 2)) + v_proj.bias!.view(numHeads, 1, dh);
        return out_proj.forward(RecombineHeads(o)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <paramref name="residual"/> (B or 1 × N×C) plus image tokens B×N×C or 1×N×C (queries) attending to tokens B×T×C
    /// (keys, values): the residual plus <see cref="Forward"/>, in fewer products where that pays. Image tokens shared by
    /// the batch (the decoder's first block) give every prompt's scores in one product over the image tokens.
    /// </summary>
    public Tensor ImageToTokens(Tensor q, Tensor k, Tensor v, Tensor residual)
    {
        bool shared = NoDropout && q.shape[0] == 1 && k.shape[0] > 1;
        if (!shared && !FoldPays(k, q)) return residual + Forward(q, k, v, 0);
        using var scope = NewDisposeScope();
        long b = k.shape[0], t = k.shape[1], n = q.shape[1], dh = internalDim / numHeads, c = q.shape[2];
        var kh = SeparateHeads(k_proj.forward(k), numHeads) * (1.0 / Math.Sqrt(dh));        // B×H×T×dh
        var vh = SeparateHeads(v_proj.forward(v), numHeads);                                   // B×H×T×dh
        var wq = q_proj.weight!.view(numHeads, dh, c);                                         // H×dh×C
        var a = wq.transpose(1, 2).matmul(kh.transpose(2, 3)).permute(0, 2, 1, 3).reshape(b, c, numHeads * t); // B×C×HT
        var bias = q_proj.bias!.view(numHeads, 1, dh).matmul(kh.transpose(2, 3)).view(b, 1, numHeads * t);
        Tensor p;                                                                                // B×N×HT
        if (shared)
            p = q[0].matmul(a.permute(1, 0, 2).reshape(c, b * numHeads * t))                    // N×(B·HT)
                .view(n, b, numHeads * t).add_(bias.view(1, b, numHeads * t))
                .view(n, b, numHeads, t).softmax(-1).view(n, b, numHeads * t).transpose(0, 1);
        else
            p = (q.matmul(a) + bias).view(b, -1, numHeads, t).softmax(-1).view(b, -1, numHeads * t);
        var wo = out_proj.weight!.view(-1, numHeads, dh).permute(1, 2, 0);                     // H×dh×C
        var vo = vh.matmul(wo).view(b, numHeads * t, -1);                                      // B×HT×C
        // Each head's weights sum to 1, so the output bias rides on the first head's values, and the residual is
        // added in place: one pass over the B×N×C result after its product.
        vo.narrow(1, 0, t).add_(out_proj.bias!);
        return p.matmul(vo).add_(residual).MoveToOuterDisposeScope();
    }
}
