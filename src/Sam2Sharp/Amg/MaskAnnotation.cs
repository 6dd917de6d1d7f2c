namespace Sam2Sharp.Amg;

/// <summary>
/// One mask in the form the generator's <see cref="AmgOptions.OutputMode"/> asked for: exactly one
/// of <see cref="Mask"/> (row-major H×W), <see cref="Rle"/> or <see cref="CocoRle"/> is set.
/// </summary>
public sealed record MaskSegmentation
{
    /// <summary>Which of the three forms is set.</summary>
    public AmgOutputMode Mode { get; }
    /// <summary>Mask height in pixels (the image's).</summary>
    public int Height { get; }
    /// <summary>Mask width in pixels (the image's).</summary>
    public int Width { get; }
    /// <summary>The pixels, row-major H×W (binary mask mode).</summary>
    public bool[]? Mask { get; }
    /// <summary>Uncompressed RLE (column-major counts, as COCO).</summary>
    public Rle? Rle { get; }
    /// <summary>COCO's compressed RLE.</summary>
    public CocoRle? CocoRle { get; }

    MaskSegmentation(AmgOutputMode mode, int height, int width, bool[]? mask, Rle? rle, CocoRle? coco)
    {
        Mode = mode; Height = height; Width = width; Mask = mask; Rle = rle; CocoRle = coco;
    }

    /// <summary>The uncompressed RLE <paramref name="rle"/> in the given output form.</summary>
    public static MaskSegmentation From(Rle rle, AmgOutputMode mode) => mode switch
    {
        AmgOutputMode.BinaryMask => new(mode, rle.Height, rle.Width, AmgUtils.RleToMaskArray(rle), null, null),
        AmgOutputMode.UncompressedRle => new(mode, rle.Height, rle.Width, null, rle, null),
        AmgOutputMode.CocoRle => new(mode, rle.Height, rle.Width, null, null, AmgUtils.CocoEncodeRle(rle)),
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    /// <summary>The mask as a row-major H×W array, whatever the form.</summary>
    public bool[] ToMaskArray() => Mode switch
    {
        AmgOutputMode.BinaryMask => Mask!,
        AmgOutputMode.UncompressedRle => AmgUtils.RleToMaskArray(Rle!),
        _ => AmgUtils.RleToMaskArray(CocoRleCodec.Decode(CocoRle!)),
    };
}

/// <summary>
/// One record of the generator's output, the reference's annotation dict: the mask, its area in
/// pixels, its box (x, y, w, h), the model's IoU estimate, the point prompt that produced it
/// (one [x, y] in image pixels), its stability score and the crop (x, y, w, h) it came from.
/// </summary>
public sealed record MaskAnnotation(
    MaskSegmentation Segmentation,
    long Area,
    double[] Bbox,
    double PredictedIou,
    double[][] PointCoords,
    double StabilityScore,
    double[] CropBox);
