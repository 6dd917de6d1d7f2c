using System.Globalization;

namespace Sam2Sharp.Amg;

/// <summary>How <see cref="Sam2AutomaticMaskGenerator"/> returns each mask.</summary>
public enum AmgOutputMode
{
    /// <summary>An H×W bool mask ("binary_mask").</summary>
    BinaryMask,
    /// <summary>Uncompressed RLE with integer counts ("uncompressed_rle").</summary>
    UncompressedRle,
    /// <summary>COCO RLE with string counts ("coco_rle").</summary>
    CocoRle,
}

/// <summary>
/// The arguments of the reference SAM2AutomaticMaskGenerator, with its defaults (tuned there for a
/// Hiera-L backbone). Exactly one of <see cref="PointsPerSide"/> and <see cref="PointGrids"/> is set.
/// </summary>
public sealed record AmgOptions
{
    /// <summary>Points sampled along each side of the image (the grid has this many squared); null when <see cref="PointGrids"/> is given.</summary>
    public int? PointsPerSide { get; init; } = 32;
    /// <summary>Explicit point grids in [0,1]² (rows x, y), one per crop layer; exclusive with <see cref="PointsPerSide"/>.</summary>
    public IReadOnlyList<double[,]>? PointGrids { get; init; }
    /// <summary>Point prompts decoded at once.</summary>
    public int PointsPerBatch { get; init; } = 64;
    /// <summary>Masks with a predicted IoU not above this are dropped (0 disables the filter).</summary>
    public double PredIouThresh { get; init; } = 0.8;
    /// <summary>Masks with a stability score below this are dropped (0 disables the filter).</summary>
    public double StabilityScoreThresh { get; init; } = 0.95;
    /// <summary>Shift of the binarisation cutoff for the stability score.</summary>
    public double StabilityScoreOffset { get; init; } = 1.0;
    /// <summary>Logit threshold that turns mask logits into masks.</summary>
    public double MaskThreshold { get; init; } = 0.0;
    /// <summary>Box IoU above which NMS drops a duplicate within a crop.</summary>
    public double BoxNmsThresh { get; init; } = 0.7;
    /// <summary>Crop layers run after the whole image; layer i has 2^i × 2^i crops.</summary>
    public int CropNLayers { get; init; } = 0;
    /// <summary>Box IoU above which NMS drops a duplicate between crops.</summary>
    public double CropNmsThresh { get; init; } = 0.7;
    /// <summary>Overlap of neighbouring crops, as a fraction of the image's short side (first layer).</summary>
    public double CropOverlapRatio { get; init; } = 512.0 / 1500.0;
    /// <summary>Points per side in layer n are divided by this to the power n.</summary>
    public int CropNPointsDownscaleFactor { get; init; } = 1;
    /// <summary>Holes and islands up to this area are removed from the low-resolution logits by the predictor (0: off).</summary>
    public int MinMaskRegionArea { get; init; } = 0;
    /// <summary>The form of <see cref="MaskAnnotation.Segmentation"/>.</summary>
    public AmgOutputMode OutputMode { get; init; } = AmgOutputMode.BinaryMask;
    /// <summary>Refine each mask once with its own low-resolution logits as a mask prompt.</summary>
    public bool UseM2m { get; init; } = false;
    /// <summary>Three masks per point instead of one.</summary>
    public bool MultimaskOutput { get; init; } = true;

    /// <summary>The reference's name of an output mode.</summary>
    public static string OutputModeName(AmgOutputMode mode) => mode switch
    {
        AmgOutputMode.BinaryMask => "binary_mask",
        AmgOutputMode.UncompressedRle => "uncompressed_rle",
        AmgOutputMode.CocoRle => "coco_rle",
        _ => throw new Sam2Exception($"output_mode: unknown value {(int)mode}"),
    };

    /// <summary>Parses "binary_mask", "uncompressed_rle" or "coco_rle".</summary>
    /// <exception cref="Sam2Exception">any other string.</exception>
    public static AmgOutputMode ParseOutputMode(string? name) => name switch
    {
        "binary_mask" => AmgOutputMode.BinaryMask,
        "uncompressed_rle" => AmgOutputMode.UncompressedRle,
        "coco_rle" => AmgOutputMode.CocoRle,
        _ => throw new Sam2Exception($"output_mode must be binary_mask, uncompressed_rle or coco_rle, not '{name}'"),
    };

    /// <summary>Checks every option; the first problem is thrown with the option's name.</summary>
    /// <exception cref="Sam2Exception">an option is out of range or inconsistent.</exception>
    public void Validate()
    {
        if ((PointsPerSide is null) == (PointGrids is null))
            throw new Sam2Exception("exactly one of points_per_side and point_grids must be given");
        if (PointsPerSide is { } pps && pps < 1)
            throw new Sam2Exception($"points_per_side must be at least 1, got {pps}");
        if (PointsPerBatch < 1) throw new Sam2Exception($"points_per_batch must be at least 1, got {PointsPerBatch}");
        NonNegative(PredIouThresh, "pred_iou_thresh");
        NonNegative(StabilityScoreThresh, "stability_score_thresh");
        NonNegative(StabilityScoreOffset, "stability_score_offset");
        if (!double.IsFinite(MaskThreshold)) throw new Sam2Exception($"mask_threshold must be a finite number, got {F(MaskThreshold)}");
        NonNegative(BoxNmsThresh, "box_nms_thresh");
        if (CropNLayers < 0) throw new Sam2Exception($"crop_n_layers must not be negative, got {CropNLayers}");
        NonNegative(CropNmsThresh, "crop_nms_thresh");
        NonNegative(CropOverlapRatio, "crop_overlap_ratio");
        if (CropOverlapRatio >= 1) throw new Sam2Exception($"crop_overlap_ratio must be below 1, got {F(CropOverlapRatio)}");
        if (CropNPointsDownscaleFactor < 1)
            throw new Sam2Exception($"crop_n_points_downscale_factor must be at least 1, got {CropNPointsDownscaleFactor}");
        if (MinMaskRegionArea < 0) throw new Sam2Exception($"min_mask_region_area must not be negative, got {MinMaskRegionArea}");
        if (!Enum.IsDefined(OutputMode)) throw new Sam2Exception($"output_mode: unknown value {(int)OutputMode}");

        if (PointsPerSide is { } n)
        {
            // The deepest layer's grid must keep at least one point per side.
            double perSide = n;
            for (int i = 0; i < CropNLayers; i++) perSide /= CropNPointsDownscaleFactor;
            if ((int)perSide < 1)
                throw new Sam2Exception($"points_per_side {n} leaves no point in crop layer {CropNLayers} " +
                    $"(crop_n_points_downscale_factor {CropNPointsDownscaleFactor}); use more points or fewer layers");
        }
        else
        {
            var grids = PointGrids!;
            if (grids.Count < CropNLayers + 1)
                throw new Sam2Exception($"point_grids has {grids.Count} grid(s), crop_n_layers {CropNLayers} needs {CropNLayers + 1}");
            for (int g = 0; g < grids.Count; g++)
            {
                var grid = grids[g];
                if (grid is null || grid.GetLength(0) == 0 || grid.GetLength(1) != 2)
                    throw new Sam2Exception($"point_grids[{g}] must hold at least one (x, y) point");
                foreach (var v in grid)
                    if (!(v >= 0 && v <= 1)) throw new Sam2Exception($"point_grids[{g}] has a coordinate outside [0, 1]: {F(v)}");
            }
        }
    }

    static void NonNegative(double v, string name)
    {
        if (!(v >= 0) || double.IsInfinity(v)) throw new Sam2Exception($"{name} must be a non-negative number, got {F(v)}");
    }

    static string F(double v) => v.ToString(CultureInfo.InvariantCulture);
}
