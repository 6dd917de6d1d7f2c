namespace Sam2Sharp;

/// <summary>How a <see cref="Sam2ImagePredictor"/> turns logits into masks (the reference SAM2ImagePredictor's
/// constructor arguments). One model can serve predictors with different options.</summary>
public sealed record Sam2ImagePredictorOptions
{
    /// <summary>A pixel is in the mask when its logit is above this.</summary>
    public double MaskThreshold { get; init; }

    /// <summary>Holes of up to this many pixels in the full-size masks are filled (0: none).</summary>
    public int MaxHoleArea { get; init; }

    /// <summary>Isolated specks of up to this many pixels in the full-size masks are removed (0: none).</summary>
    public int MaxSprinkleArea { get; init; }
}
