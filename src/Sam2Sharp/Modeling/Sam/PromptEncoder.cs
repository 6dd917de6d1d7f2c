using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Sam;

/// <summary>
/// Encodes point/box prompts (sparse, B×N×embed_dim) and a low-resolution mask prompt
/// (dense, B×embed_dim×h×w) for the mask decoder.
/// </summary>
public sealed class PromptEncoder : nn.Module<(Tensor coords, Tensor labels)?, Tensor?, Tensor?, (Tensor sparse, Tensor dense)>
{
    /// <summary>Point labels 0/1 (negative/positive) and 2/3 (box corners); -1 is padding.</summary>
    public const int NumPointEmbeddings = 4;

    private readonly PositionEmbeddingRandom pe_layer;
    private readonly ModuleList<Embedding> point_embeddings;
    private readonly Embedding not_a_point_embed;
    private readonly Sequential mask_downscaling;
    private readonly Embedding no_mask_embed;

    /// <summary>Width of the prompt embeddings (the neck's d_model, 256).</summary>
    public int EmbedDim { get; }
    /// <summary>The image embedding's grid (64×64 for a 1024 px model): the dense embedding's size.</summary>
    public (int h, int w) ImageEmbeddingSize { get; }
    /// <summary>The model's input size in pixels (1024×1024); point and box coordinates are normalised by it.</summary>
    public (int h, int w) InputImageSize { get; }
    /// <summary>The size of a mask prompt: 4× the embedding grid (256×256), that of the decoder's low-resolution logits.</summary>
    public (int h, int w) MaskInputSize { get; }

    /// <summary>SAM's prompt encoder.</summary>
    /// <param name="embedDim">Width of the prompt embeddings.</param>
    /// <param name="imageEmbeddingSize">The image embedding's grid (h, w).</param>
    /// <param name="inputImageSize">The model's input size (h, w) in pixels.</param>
    /// <param name="maskInChans">Hidden channels of the mask prompt's downscaling (16).</param>
    /// <param name="activation">gelu or relu, in the mask downscaling.</param>
    public PromptEncoder(int embedDim, (int h, int w) imageEmbeddingSize, (int h, int w) inputImageSize,
                         int maskInChans, string activation = "gelu") : base(nameof(PromptEncoder))
    {
        EmbedDim = embedDim;
        InputImageSize = inputImageSize;
        ImageEmbeddingSize = imageEmbeddingSize;
        pe_layer = new PositionEmbeddingRandom(embedDim / 2);

        point_embeddings = new ModuleList<Embedding>();
        for (int i = 0; i < NumPointEmbeddings; i++) point_embeddings.Add(nn.Embedding(1, embedDim));
        not_a_point_embed = nn.Embedding(1, embedDim);

        MaskInputSize = (4 * imageEmbeddingSize.h, 4 * imageEmbeddingSize.w);
        mask_downscaling = nn.Sequential(
            ("0", nn.Conv2d(1, maskInChans / 4, kernel_size: 2, stride: 2)),
            ("1", new LayerNorm2d(maskInChans / 4)),
            ("2", ActivationModule(activation)),
            ("3", nn.Conv2d(maskInChans / 4, maskInChans, kernel_size: 2, stride: 2)),
            ("4", new LayerNorm2d(maskInChans)),
            ("5", ActivationModule(activation)),
            ("6", nn.Conv2d(maskInChans, embedDim, kernel_size: 1)));
        no_mask_embed = nn.Embedding(1, embedDim);
        RegisterComponents();
    }

    internal static nn.Module<Tensor, Tensor> ActivationModule(string name) => name switch
    {
        "gelu" => nn.GELU(),
        "relu" => nn.ReLU(),
        _ => throw new ArgumentException($"activation should be gelu or relu, not {name}"),
    };

    /// <summary>The positional encoding of the image-embedding grid, 1×C×h×w (a view of the one kept by the encoding: dispose it freely).</summary>
    public Tensor GetDensePe()
    {
        using var scope = NewDisposeScope();
        return pe_layer.forward(ImageEmbeddingSize.h, ImageEmbeddingSize.w).unsqueeze(0).MoveToOuterDisposeScope();
    }

    private Tensor EmbedPoints(Tensor points, Tensor labels, bool pad)
    {
        using var scope = NewDisposeScope();
        points = points + 0.5; // pixel centres
        if (pad)
        {
            var paddingPoint = zeros(new long[] { points.shape[0], 1, 2 }, dtype: points.dtype, device: points.device);
            var paddingLabel = -ones(new long[] { labels.shape[0], 1 }, dtype: labels.dtype, device: labels.device);
            points = cat(new[] { points, paddingPoint }, 1);
            labels = cat(new[] { labels, paddingLabel }, 1);
        }
        var emb = pe_layer.forward_with_coords(points, InputImageSize);
        var lab = labels.unsqueeze(-1);
        emb = where(lab == -1, zeros_like(emb) + not_a_point_embed.weight!, emb);
        for (int i = 0; i < NumPointEmbeddings; i++)
            emb = where(lab == i, emb + point_embeddings[i].weight!, emb);
        return emb.MoveToOuterDisposeScope();
    }

    private Tensor EmbedBoxes(Tensor boxes)
    {
        using var scope = NewDisposeScope();
        boxes = boxes + 0.5;
        var coords = boxes.reshape(-1, 2, 2);
        var corner = pe_layer.forward_with_coords(coords, InputImageSize);
        corner[.., 0, ..] += point_embeddings[2].weight!;
        corner[.., 1, ..] += point_embeddings[3].weight!;
        return corner.MoveToOuterDisposeScope();
    }

    private static long BatchSize((Tensor coords, Tensor labels)? points, Tensor? boxes, Tensor? masks) =>
        points is { } p ? p.coords.shape[0] : boxes is not null ? boxes.shape[0] : masks is not null ? masks.shape[0] : 1;

    /// <summary>
    /// points: (B×N×2 pixel coordinates in the input-image frame, B×N int labels); boxes: B×4;
    /// masks: B×1×(4h)×(4w) logits. Returns (sparse B×N'×C, dense B×C×h×w).
    /// </summary>
    public override (Tensor sparse, Tensor dense) forward((Tensor coords, Tensor labels)? points, Tensor? boxes, Tensor? masks)
    {
        using var scope = NewDisposeScope();
        long bs = BatchSize(points, boxes, masks);
        var weight0 = point_embeddings[0].weight!;
        var sparse = empty(new long[] { bs, 0, EmbedDim }, dtype: weight0.dtype, device: weight0.device);
        if (points is { } p)
            sparse = cat(new[] { sparse, EmbedPoints(p.coords, p.labels, pad: boxes is null) }, 1);
        if (boxes is not null)
            sparse = cat(new[] { sparse, EmbedBoxes(boxes) }, 1);

        var dense = masks is not null
            ? mask_downscaling.forward(masks)
            : no_mask_embed.weight!.reshape(1, -1, 1, 1).expand(bs, -1, ImageEmbeddingSize.h, ImageEmbeddingSize.w);
        return (sparse.MoveToOuterDisposeScope(), dense.MoveToOuterDisposeScope());
    }
}
