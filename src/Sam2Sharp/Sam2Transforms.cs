using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp;

/// <summary>
/// The image predictor's prompt and output transforms: prompt coordinates from the original
/// image frame to the model's S×S input frame, and low-resolution mask logits back to the
/// original size. (The image → tensor transform lives elsewhere.)
/// </summary>
public sealed class Sam2Transforms
{
    /// <summary>Side S of the model's square input in pixels.</summary>
    public int Resolution { get; }
    /// <summary>Logit threshold between background and foreground (the image predictor's default is 0).</summary>
    public double MaskThreshold { get; }
    /// <summary>Background holes up to this area (pixels of the low-resolution logits) become foreground in post-processing; 0 turns it off.</summary>
    public double MaxHoleArea { get; }
    /// <summary>Foreground sprinkles up to this area (pixels of the low-resolution logits) become background in post-processing; 0 turns it off.</summary>
    public double MaxSprinkleArea { get; }

    /// <summary>The transforms of a model with input side <paramref name="resolution"/>; see the properties for each argument.</summary>
    public Sam2Transforms(int resolution, double maskThreshold, double maxHoleArea = 0.0, double maxSprinkleArea = 0.0)
    {
        Resolution = resolution;
        MaskThreshold = maskThreshold;
        MaxHoleArea = maxHoleArea;
        MaxSprinkleArea = maxSprinkleArea;
    }

    /// <summary>
    /// Coordinates (…×2, x then y) to the S×S model frame. With <paramref name="normalize"/> they are
    /// pixels of an image of size <paramref name="origHw"/>; otherwise already in [0, 1].
    /// </summary>
    public Tensor TransformCoords(Tensor coords, bool normalize = false, (int h, int w)? origHw = null)
    {
        using var scope = NewDisposeScope();
        if (normalize)
        {
            var (h, w) = origHw ?? throw new ArgumentException("orig_hw is required to normalize coordinates.");
            coords = coords.clone();
            coords[TensorIndex.Ellipsis, 0] = coords[TensorIndex.Ellipsis, 0] / w;
            coords[TensorIndex.Ellipsis, 1] = coords[TensorIndex.Ellipsis, 1] / h;
        }
        return (coords * Resolution).MoveToOuterDisposeScope();
    }

    /// <summary>B×4 boxes (x0, y0, x1, y1) → B×2×2 corner points in the S×S model frame.</summary>
    public Tensor TransformBoxes(Tensor boxes, bool normalize = false, (int h, int w)? origHw = null)
    {
        using var scope = NewDisposeScope();
        return TransformCoords(boxes.reshape(-1, 2, 2), normalize, origHw).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// B×C×h×w mask logits → B×C×H×W at the original size (bilinear, align_corners=false): logits, or with
    /// <paramref name="threshold"/> the bool masks of logits above it (made as the logits are, never stored as floats).
    /// </summary>
    public Tensor PostprocessMasks(Tensor masks, (int h, int w) origHw, double? threshold = null)
    {
        using var scope = NewDisposeScope();
        masks = Cleaned(masks);
        masks = threshold is { } t ? Imaging.MaskResize.BilinearAbove(masks, origHw.h, origHw.w, t)
            : Imaging.MaskResize.Bilinear(masks, origHw.h, origHw.w);
        return masks.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <see cref="PostprocessMasks"/> to bool masks, also counting per mask the resized logits above
    /// <paramref name="high"/> and above <paramref name="low"/> (the automatic mask generator's stability score), in one pass.
    /// </summary>
    internal (Tensor Masks, Tensor AboveHigh, Tensor AboveLow) PostprocessMasksCounting(Tensor masks, (int h, int w) origHw,
        double threshold, double high, double low)
    {
        using var scope = NewDisposeScope();
        var (m, aboveHigh, aboveLow) = Imaging.MaskResize.BilinearAboveCounting(Cleaned(masks), origHw.h, origHw.w, threshold, high, low);
        return (m.MoveToOuterDisposeScope(), aboveHigh.MoveToOuterDisposeScope(), aboveLow.MoveToOuterDisposeScope());
    }

    /// <summary>Low-resolution logits as float32, contiguous (as the resize kernel reads them), holes and sprinkles removed.</summary>
    Tensor Cleaned(Tensor masks) => FillHolesAndRemoveSprinkles(masks.to_type(float32).contiguous());

    /// <summary>
    /// Turns small background holes (area ≤ MaxHoleArea) into foreground and small foreground
    /// sprinkles (area ≤ MaxSprinkleArea) into background, in the low-resolution logits, with
    /// 8-connected components on the CPU. A no-op when both areas are 0 (the predictor's default).
    /// </summary>
    public Tensor FillHolesAndRemoveSprinkles(Tensor masks) =>
        MaxHoleArea <= 0 && MaxSprinkleArea <= 0 ? masks.alias()
            : Imaging.ConnectedComponents.FillHolesAndRemoveSprinkles(masks, MaskThreshold, MaxHoleArea, MaxSprinkleArea);
}
