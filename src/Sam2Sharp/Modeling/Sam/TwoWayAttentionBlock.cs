using Sam2Sharp.Benchmarking;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Sam;

/// <summary>
/// One block of the two-way transformer: token self-attention, tokens→image cross-attention,
/// token MLP, then image→tokens cross-attention, each followed by a residual and a LayerNorm.
/// </summary>
public sealed class TwoWayAttentionBlock : nn.Module<Tensor, Tensor, Tensor, Tensor, (Tensor queries, Tensor keys)>
{
    private readonly Attention self_attn;
    private readonly LayerNorm norm1;
    private readonly Attention cross_attn_token_to_image;
    private readonly LayerNorm norm2;
    private readonly Mlp mlp;
    private readonly LayerNorm norm3;
    private readonly LayerNorm norm4;
    private readonly Attention cross_attn_image_to_token;
    private readonly bool skipFirstLayerPe;

    /// <summary>One block of SAM's two-way transformer.</summary>
    /// <param name="embeddingDim">Token width.</param>
    /// <param name="numHeads">Attention heads.</param>
    /// <param name="mlpDim">Hidden width of the token MLP.</param>
    /// <param name="activation">The MLP's activation.</param>
    /// <param name="attentionDownsampleRate">Internal width divisor of the two cross-attentions.</param>
    /// <param name="skipFirstLayerPe">The first block: its self-attention takes the prompt tokens without position and without residual.</param>
    public TwoWayAttentionBlock(int embeddingDim, int numHeads, int mlpDim = 2048, string activation = "relu",
                                int attentionDownsampleRate = 2, bool skipFirstLayerPe = false)
        : base(nameof(TwoWayAttentionBlock))
    {
        self_attn = new Attention(embeddingDim, numHeads);
        norm1 = nn.LayerNorm(embeddingDim);
        cross_attn_token_to_image = new Attention(embeddingDim, numHeads, downsampleRate: attentionDownsampleRate);
        norm2 = nn.LayerNorm(embeddingDim);
        mlp = new Mlp(embeddingDim, mlpDim, embeddingDim, numLayers: 2, activation: activation);
        norm3 = nn.LayerNorm(embeddingDim);
        norm4 = nn.LayerNorm(embeddingDim);
        cross_attn_image_to_token = new Attention(embeddingDim, numHeads, downsampleRate: attentionDownsampleRate);
        this.skipFirstLayerPe = skipFirstLayerPe;
        RegisterComponents();
    }

    /// <summary>queries: B×N×C tokens, keys: B×hw×C image tokens, with their position encodings queryPe (the original tokens) and keyPe → the updated (queries, keys).</summary>
    public override (Tensor queries, Tensor keys) forward(Tensor queries, Tensor keys, Tensor queryPe, Tensor keyPe) =>
        Forward(queries, keys, queryPe, keyPe, null);

    /// <summary>
    /// The image side of both cross-attentions for batch-1 image tokens 1×hw×C with their position keyPe: keys and values
    /// of the token-to-image attention, queries of the image-to-token attention (see <see cref="PreparedImage"/>).
    /// </summary>
    internal (Tensor Keys, Tensor Values, Tensor Queries) ProjectImage(Tensor keys, Tensor keyPe)
    {
        using var scope = NewDisposeScope();
        var k = keys + keyPe;
        var (kh, vh) = cross_attn_token_to_image.ProjectKeysValues(k, keys);
        var qh = cross_attn_image_to_token.ProjectQueries(k);
        return (kh.MoveToOuterDisposeScope(), vh.MoveToOuterDisposeScope(), qh.MoveToOuterDisposeScope());
    }

    /// <summary><see cref="forward"/>; with <paramref name="image"/> (whose tokens <paramref name="keys"/> are) its image side is not projected again.</summary>
    internal (Tensor queries, Tensor keys) Forward(Tensor queries, Tensor keys, Tensor queryPe, Tensor keyPe, PreparedImage? image)
    {
        using var scope = NewDisposeScope();
        var section = Profiler.Time("decoder.transformer.self_attn");
        // The first layer's queries are the prompt tokens themselves: no PE is added and no residual.
        if (skipFirstLayerPe)
            queries = self_attn.forward(queries, queries, queries);
        else
        {
            var q0 = queries + queryPe;
            queries = queries + self_attn.forward(q0, q0, queries);
        }
        queries = norm1.forward(queries);
        section.Dispose();

        section = Profiler.Time("decoder.transformer.token_to_image");
        var q = queries + queryPe;
        var k = image is null ? keys + keyPe : null;
        queries = norm2.forward(queries + (image is null ? cross_attn_token_to_image.TokensToImage(q, k!, keys)
            : cross_attn_token_to_image.TokensToProjectedImage(q, image.Keys, image.Values)));
        section.Dispose();

        section = Profiler.Time("decoder.transformer.mlp");
        queries = norm3.forward(queries + mlp.forward(queries));
        section.Dispose();

        section = Profiler.Time("decoder.transformer.image_to_token");
        q = queries + queryPe; // k (the image tokens with their position) is unchanged since the token-to-image attention
        keys = norm4.forward(image is null ? cross_attn_image_to_token.ImageToTokens(k!, q, queries, residual: keys)
            : cross_attn_image_to_token.ProjectedImageToTokens(image.Queries, q, queries, residual: keys));
        section.Dispose();

        return (queries.MoveToOuterDisposeScope(), keys.MoveToOuterDisposeScope());
    }
}
