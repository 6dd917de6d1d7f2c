using Sam2Sharp.Benchmarking;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Sam;

/// <summary>
/// The mask decoder's transformer: prompt/output tokens and image tokens attend to each other
/// over <c>depth</c> blocks, then the tokens attend to the image once more.
/// </summary>
public sealed class TwoWayTransformer : nn.Module<Tensor, Tensor, Tensor, (Tensor queries, Tensor keys)>
{
    private readonly ModuleList<TwoWayAttentionBlock> layers;
    private readonly Attention final_attn_token_to_image;
    private readonly LayerNorm norm_final_attn;

    /// <summary>Number of two-way blocks (2).</summary>
    public int Depth { get; }
    /// <summary>Token width (the neck's d_model, 256).</summary>
    public int EmbeddingDim { get; }
    /// <summary>Attention heads (8).</summary>
    public int NumHeads { get; }
    /// <summary>Hidden width of the token MLPs (2048).</summary>
    public int MlpDim { get; }

    /// <summary>The transformer of SAM's mask decoder; the first block skips the position encoding of its queries.</summary>
    /// <param name="depth">Number of blocks.</param>
    /// <param name="embeddingDim">Token width.</param>
    /// <param name="numHeads">Attention heads.</param>
    /// <param name="mlpDim">Hidden width of the token MLPs.</param>
    /// <param name="activation">The MLPs' activation.</param>
    /// <param name="attentionDownsampleRate">Internal width divisor of the cross-attentions.</param>
    public TwoWayTransformer(int depth, int embeddingDim, int numHeads, int mlpDim, string activation = "relu",
                             int attentionDownsampleRate = 2) : base(nameof(TwoWayTransformer))
    {
        Depth = depth; EmbeddingDim = embeddingDim; NumHeads = numHeads; MlpDim = mlpDim;
        layers = new ModuleList<TwoWayAttentionBlock>();
        for (int i = 0; i < depth; i++)
            layers.Add(new TwoWayAttentionBlock(embeddingDim, numHeads, mlpDim, activation,
                                                attentionDownsampleRate, skipFirstLayerPe: i == 0));
        final_attn_token_to_image = new Attention(embeddingDim, numHeads, downsampleRate: attentionDownsampleRate);
        norm_final_attn = nn.LayerNorm(embeddingDim);
        RegisterComponents();
    }

    /// <summary>
    /// imageEmbedding, imagePe: B×C×h×w or 1×C×h×w (one image for every prompt: broadcast, its projections computed
    /// once); pointEmbedding: B×N×C. Returns (tokens B×N×C, image tokens B×hw×C).
    /// </summary>
    public override (Tensor queries, Tensor keys) forward(Tensor imageEmbedding, Tensor imagePe, Tensor pointEmbedding) =>
        Forward(imageEmbedding, imagePe, pointEmbedding, null);

    /// <summary>The first block's projections of one image's tokens 1×C×h×w (see <see cref="PreparedImage"/>).</summary>
    internal (Tensor Keys, Tensor Values, Tensor Queries) ProjectImage(Tensor imageEmbedding, Tensor imagePe) =>
        layers[0].ProjectImage(imageEmbedding.flatten(2).permute(0, 2, 1), imagePe.flatten(2).permute(0, 2, 1));

    /// <summary><see cref="forward"/> of one prompt on <paramref name="image"/> (when given: its tokens are <paramref name="imageEmbedding"/>).</summary>
    internal (Tensor queries, Tensor keys) Forward(Tensor imageEmbedding, Tensor imagePe, Tensor pointEmbedding, PreparedImage? image)
    {
        using var scope = NewDisposeScope();
        var keys = imageEmbedding.flatten(2).permute(0, 2, 1);
        var keyPe = imagePe.flatten(2).permute(0, 2, 1);
        var queries = pointEmbedding;

        for (int i = 0; i < layers.Count; i++)
            (queries, keys) = layers[i].Forward(queries, keys, pointEmbedding, keyPe, i == 0 ? image : null);

        using var section = Profiler.Time("decoder.transformer.final_attn");
        var q = queries + pointEmbedding;
        var k = keys + keyPe;
        queries = norm_final_attn.forward(queries + final_attn_token_to_image.TokensToImage(q, k, keys));
        return (queries.MoveToOuterDisposeScope(), keys.MoveToOuterDisposeScope());
    }
}
