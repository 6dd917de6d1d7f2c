using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Sam;

/// <summary>
/// Multi-head attention that may project to a smaller internal dimension (downsample_rate)
/// and take keys/values of another width (kv_in_dim). Base of <c>RoPEAttention</c>.
/// </summary>
public partial class Attention : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    /// <summary>The query, key, value and output projections (the state-dict names); keys and values come from kv_in_dim channels.</summary>
    protected readonly Linear q_proj, k_proj, v_proj, out_proj;
    /// <summary>internalDim: embedding_dim / downsample_rate, the width attention runs in; numHeads: its heads.</summary>
    protected readonly int internalDim, numHeads;
    /// <summary>The attention dropout probability, used only in training.</summary>
    protected readonly double dropoutP;

    /// <summary>Attention as the reference's Attention.</summary>
    /// <param name="embeddingDim">Width of the queries and of the output.</param>
    /// <param name="numHeads">Heads; must divide embeddingDim / downsampleRate.</param>
    /// <param name="downsampleRate">Internal width divisor (2 in the decoder's cross-attentions, so they run at 128 channels).</param>
    /// <param name="dropout">Attention dropout in training.</param>
    /// <param name="kvInDim">Width of keys and values when it differs (64: the memories in memory attention).</param>
    /// <param name="name">The module name (a subclass passes its own).</param>
    public Attention(int embeddingDim, int numHeads, int downsampleRate = 1, double dropout = 0.0,
                     int? kvInDim = null, string name = nameof(Attention)) : base(name)
    {
        int kvDim = kvInDim ?? embeddingDim;
        internalDim = embeddingDim / downsampleRate;
        this.numHeads = numHeads;
        if (internalDim % numHeads != 0) throw new ArgumentException("num_heads must divide embedding_dim.");
        q_proj = nn.Linear(embeddingDim, internalDim);
        k_proj = nn.Linear(kvDim, internalDim);
        v_proj = nn.Linear(kvDim, internalDim);
        out_proj = nn.Linear(internalDim, embeddingDim);
        dropoutP = dropout;
        RegisterComponents();
    }

    /// <summary>B×N×C → B×heads×N×C/heads.</summary>
    protected static Tensor SeparateHeads(Tensor x, int heads)
    {
        long b = x.shape[0], n = x.shape[1], c = x.shape[2];
        return x.reshape(b, n, heads, c / heads).transpose(1, 2);
    }

    /// <summary>B×heads×N×c → B×N×heads·c.</summary>
    protected static Tensor RecombineHeads(Tensor x)
    {
        long b = x.shape[0], h = x.shape[1], n = x.shape[2], c = x.shape[3];
        return x.transpose(1, 2).reshape(b, n, h * c);
    }

    /// <summary>
    /// Inputs of batch 1 shared by a batch (the mask decoder's image tokens, the same for every prompt of an image)
    /// are projected once and expanded here, after their projection, instead of being repeated before it.
    /// </summary>
    static (Tensor q, Tensor k, Tensor v) BroadcastBatch(Tensor q, Tensor k, Tensor v)
    {
        long b = Math.Max(q.shape[0], Math.Max(k.shape[0], v.shape[0]));
        Tensor To(Tensor x) => x.shape[0] == b ? x : x.expand(b, -1, -1, -1);
        return (To(q), To(k), To(v));
    }

    /// <summary>Where a subclass rotates queries and keys (RoPE), which it may do in place (they are this call's projections); identity here.</summary>
    protected virtual (Tensor q, Tensor k) PositionQueriesAndKeys(Tensor q, Tensor k, int numKExcludeRope) => (q, k);

    /// <summary>B×Nq×C queries, B×Nk×kv_in_dim keys and values → B×Nq×C; a batch-1 input is shared by the whole batch.</summary>
    public override Tensor forward(Tensor q, Tensor k, Tensor v) => Forward(q, k, v, 0);

    /// <summary><see cref="forward"/>, leaving the last <paramref name="numKExcludeRope"/> keys without rotary position (only a <see cref="RoPEAttention"/> rotates any).</summary>
    public Tensor Forward(Tensor q, Tensor k, Tensor v, int numKExcludeRope)
    {
        using var scope = NewDisposeScope();
        q = SeparateHeads(q_proj.forward(q), numHeads);
        k = SeparateHeads(k_proj.forward(k), numHeads);
        v = SeparateHeads(v_proj.forward(v), numHeads);
        (q, k) = PositionQueriesAndKeys(q, k, numKExcludeRope);
        return Attend(q, k, v).MoveToOuterDisposeScope();
    }

    /// <summary>Attention of projected B×heads×N×c queries, keys and values (batch 1 shared), then the output projection.</summary>
    Tensor Attend(Tensor q, Tensor k, Tensor v)
    {
        (q, k, v) = BroadcastBatch(q, k, v);
        double p = training ? dropoutP : 0.0;
        var outp = nn.functional.scaled_dot_product_attention(q, k, v, p: p);
        return out_proj.forward(RecombineHeads(outp));
    }
}
