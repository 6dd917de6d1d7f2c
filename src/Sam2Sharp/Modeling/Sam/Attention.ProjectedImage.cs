using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Sam;

/// <summary>
/// The mask decoder's first block on an image whose side of the cross-attentions was projected once
/// (<see cref="PreparedImage"/>): its tokens are the same for every prompt until that block's image-to-token attention.
/// </summary>
public partial class Attention
{
    /// <summary>Keys and values of batch-1 image tokens, projected and split into heads (1×heads×N×c each).</summary>
    internal (Tensor Keys, Tensor Values) ProjectKeysValues(Tensor k, Tensor v) =>
        (SeparateHeads(k_proj.forward(k), numHeads), SeparateHeads(v_proj.forward(v), numHeads));

    /// <summary>Queries of batch-1 image tokens, projected and split into heads (1×heads×N×c).</summary>
    internal Tensor ProjectQueries(Tensor q) => SeparateHeads(q_proj.forward(q), numHeads);

    /// <summary>Tokens B×T×C (queries) attending to image tokens whose keys and values <see cref="ProjectKeysValues"/> made.</summary>
    internal Tensor TokensToProjectedImage(Tensor q, Tensor keys, Tensor values)
    {
        using var scope = NewDisposeScope();
        return Attend(SeparateHeads(q_proj.forward(q), numHeads), keys, values).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <paramref name="residual"/> (1×N×C) plus image tokens whose queries <see cref="ProjectQueries"/> made (1×heads×N×c)
    /// attending to tokens 1×T×C (keys, values). The output projection is applied to the few token values before the
    /// weighting (as <see cref="ImageToTokens"/> does), so the one product over the N image tokens is N × heads·T × C.
    /// </summary>
    internal Tensor ProjectedImageToTokens(Tensor queries, Tensor k, Tensor v, Tensor residual)
    {
        using var scope = NewDisposeScope();
        long t = k.shape[1], n = queries.shape[2], dh = internalDim / numHeads;
        var kh = SeparateHeads(k_proj.forward(k), numHeads) * (1.0 / Math.Sqrt(dh));          // 1×H×T×dh
        var vh = SeparateHeads(v_proj.forward(v), numHeads);                                     // 1×H×T×dh
        var p = queries.matmul(kh.transpose(2, 3)).softmax(-1)                                   // 1×H×N×T
            .permute(0, 2, 1, 3).reshape(1, n, numHeads * t);
        var vo = vh.matmul(out_proj.weight!.view(-1, numHeads, dh).permute(1, 2, 0)).view(1, numHeads * t, -1); // 1×HT×C
        vo.narrow(1, 0, t).add_(out_proj.bias!); // each head's weights sum to 1: the bias rides on the first head's values
        return p.matmul(vo).add_(residual).MoveToOuterDisposeScope();
    }
}
