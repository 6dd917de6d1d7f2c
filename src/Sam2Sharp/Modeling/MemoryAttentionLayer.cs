using Sam2Sharp.Modeling.Sam;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>
/// One memory-attention layer (pre-norm): self-attention over the current frame's tokens,
/// cross-attention to the memories (spatial memories and object pointers), then an MLP.
/// Inputs are batch-first: B × N × C.
/// </summary>
public sealed class MemoryAttentionLayer : nn.Module<Tensor, Tensor, Tensor?, Tensor?, int, Tensor>
{
    private readonly Attention self_attn;
    private readonly Attention cross_attn_image;
    private readonly Linear linear1, linear2;
    private readonly Dropout dropout, dropout1, dropout2, dropout3;
    private readonly LayerNorm norm1, norm2, norm3;
    private readonly Func<Tensor, Tensor> activation;
    private readonly bool posEncAtAttn, posEncAtCrossAttnKeys, posEncAtCrossAttnQueries;

    /// <summary>One layer, as the reference's MemoryAttentionLayer.</summary>
    /// <param name="activation">The feed-forward activation (relu in the official configs).</param>
    /// <param name="crossAttention">Attention to the memories: a <see cref="Sam.RoPEAttention"/> with keys of the memory width (kv_in_dim 64) in SAM 2.</param>
    /// <param name="dModel">Width of the current frame's tokens.</param>
    /// <param name="dimFeedforward">Hidden width of the feed-forward MLP.</param>
    /// <param name="dropout">Dropout after each sub-layer (training only).</param>
    /// <param name="posEncAtAttn">Add the query positions before self-attention.</param>
    /// <param name="posEncAtCrossAttnKeys">Add the memory positions to the cross-attention keys.</param>
    /// <param name="posEncAtCrossAttnQueries">Add the query positions to the cross-attention queries.</param>
    /// <param name="selfAttention">Self-attention over the current frame (a <see cref="Sam.RoPEAttention"/> in SAM 2).</param>
    public MemoryAttentionLayer(string activation, Attention crossAttention, int dModel, int dimFeedforward,
                                double dropout, bool posEncAtAttn, bool posEncAtCrossAttnKeys,
                                bool posEncAtCrossAttnQueries, Attention selfAttention)
        : base(nameof(MemoryAttentionLayer))
    {
        DModel = dModel;
        self_attn = selfAttention;
        cross_attn_image = crossAttention;
        linear1 = nn.Linear(dModel, dimFeedforward);
        this.dropout = nn.Dropout(dropout);
        linear2 = nn.Linear(dimFeedforward, dModel);
        norm1 = nn.LayerNorm(dModel);
        norm2 = nn.LayerNorm(dModel);
        norm3 = nn.LayerNorm(dModel);
        dropout1 = nn.Dropout(dropout);
        dropout2 = nn.Dropout(dropout);
        dropout3 = nn.Dropout(dropout);
        this.activation = Sam2Utils.Activation(activation);
        this.posEncAtAttn = posEncAtAttn;
        this.posEncAtCrossAttnKeys = posEncAtCrossAttnKeys;
        this.posEncAtCrossAttnQueries = posEncAtCrossAttnQueries;
        RegisterComponents();
    }

    /// <summary>The width of the current frame's tokens.</summary>
    public int DModel { get; }
    /// <summary>The self-attention over the current frame's tokens.</summary>
    public Attention SelfAttention => self_attn;
    /// <summary>The cross-attention from the current frame to the memories; when it is a RoPE attention, object-pointer tokens are left unrotated.</summary>
    public Attention CrossAttention => cross_attn_image;

    private Tensor ForwardSelfAttention(Tensor tgt, Tensor? queryPos)
    {
        var tgt2 = norm1.forward(tgt);
        var qk = posEncAtAttn ? tgt2 + queryPos! : tgt2;
        tgt2 = self_attn.forward(qk, qk, tgt2);
        return tgt + dropout1.forward(tgt2);
    }

    private Tensor ForwardCrossAttention(Tensor tgt, Tensor memory, Tensor? queryPos, Tensor? pos, int numKExcludeRope)
    {
        if (numKExcludeRope > 0 && cross_attn_image is not RoPEAttention)
            throw new InvalidOperationException("Excluding keys from RoPE needs a RoPEAttention cross-attention.");
        var tgt2 = norm2.forward(tgt);
        var q = posEncAtCrossAttnQueries ? tgt2 + queryPos! : tgt2;
        var k = posEncAtCrossAttnKeys ? memory + pos! : memory;
        tgt2 = cross_attn_image.Forward(q, k, memory, numKExcludeRope);
        return tgt + dropout2.forward(tgt2);
    }

    /// <summary>
    /// tgt: B × Nq × d_model; memory: B × Nk × kv_dim; pos: memory positions (cross-attention keys);
    /// queryPos: positions of tgt; numKExcludeRope: trailing memory tokens left unrotated.
    /// </summary>
    public override Tensor forward(Tensor tgt, Tensor memory, Tensor? pos, Tensor? queryPos, int numKExcludeRope)
    {
        using var scope = NewDisposeScope();
        tgt = ForwardSelfAttention(tgt, queryPos);
        tgt = ForwardCrossAttention(tgt, memory, queryPos, pos, numKExcludeRope);
        var tgt2 = norm3.forward(tgt);
        tgt2 = linear2.forward(dropout.forward(activation(linear1.forward(tgt2))));
        tgt = tgt + dropout3.forward(tgt2);
        return tgt.MoveToOuterDisposeScope();
    }

    /// <summary><see cref="forward"/> with the positions optional and every key rotated by default.</summary>
    public Tensor Forward(Tensor tgt, Tensor memory, Tensor? pos = null, Tensor? queryPos = null, int numKExcludeRope = 0) =>
        forward(tgt, memory, pos, queryPos, numKExcludeRope);
}
