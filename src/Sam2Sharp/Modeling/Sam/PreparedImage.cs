using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Sam;

/// <summary>
/// What the mask decoder computes from one image alone, before any prompt: its tokens (the embedding plus the no-mask
/// dense embedding) and its first block's projections of them (keys and values of the token-to-image attention,
/// queries of the image-to-token attention). They are the same for every click on the image, so the image predictor
/// makes them once (<see cref="MaskDecoder.PrepareImage"/>) and a single prompt without a mask input skips those
/// products: 0.4 of a click's 2.2 GFLOP at 1024 px. Made from the decoder's weights of that moment.
/// </summary>
public sealed class PreparedImage : IDisposable
{
    internal PreparedImage(Tensor tokens, Tensor noMaskEmbedding, Tensor keys, Tensor values, Tensor queries)
    {
        Tokens = tokens; NoMaskEmbedding = noMaskEmbedding; Keys = keys; Values = values; Queries = queries;
    }

    /// <summary>The image tokens as a map, 1×C×h×w: the embedding plus <see cref="NoMaskEmbedding"/>, channels-last.</summary>
    internal Tensor Tokens { get; }
    /// <summary>The dense embedding of "no mask prompt" (C) the tokens were made with.</summary>
    internal Tensor NoMaskEmbedding { get; }
    /// <summary>The first block's projections, 1×heads×N×C/heads/2 each.</summary>
    internal Tensor Keys { get; }
    /// <inheritdoc cref="Keys"/>
    internal Tensor Values { get; }
    /// <inheritdoc cref="Keys"/>
    internal Tensor Queries { get; }

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        foreach (var t in new[] { Tokens, NoMaskEmbedding, Keys, Values, Queries }) t.Dispose();
    }
}
