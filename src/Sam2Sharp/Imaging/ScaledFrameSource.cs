namespace Sam2Sharp.Imaging;

/// <summary>
/// Frames of another source shrunk (never enlarged) to fit a size cap, the long side within
/// <c>maxLong</c> and the short side within <c>maxShort</c> (1280×720 by default, the cap of
/// the reference's demo), with Pillow's bicubic resampling. Frames are resized when read.
/// </summary>
public sealed class ScaledFrameSource : IFrameSource
{
    readonly IFrameSource inner;

    /// <inheritdoc/>
    public int Count => inner.Count;
    /// <summary>Width of the scaled frames.</summary>
    public int Width { get; }
    /// <summary>Height of the scaled frames.</summary>
    public int Height { get; }
    /// <summary>Width of the source's frames.</summary>
    public int SourceWidth => inner.Width;
    /// <summary>Height of the source's frames.</summary>
    public int SourceHeight => inner.Height;
    /// <summary>Whether the frames are smaller than the source's.</summary>
    public bool IsScaled => Width != inner.Width || Height != inner.Height;

    /// <summary>Takes ownership of <paramref name="inner"/>.</summary>
    public ScaledFrameSource(IFrameSource inner, int maxLong = 1280, int maxShort = 720)
    {
        this.inner = inner;
        (Width, Height) = FitWithin(inner.Width, inner.Height, maxLong, maxShort);
    }

    /// <summary>The size of a <paramref name="width"/>×<paramref name="height"/> frame scaled to fit the cap, aspect kept.</summary>
    public static (int Width, int Height) FitWithin(int width, int height, int maxLong, int maxShort)
    {
        if (maxLong <= 0 || maxShort <= 0) throw new ArgumentOutOfRangeException(nameof(maxLong), "the size cap must be positive");
        double scale = Math.Min(1.0, Math.Min((double)maxLong / Math.Max(width, height), (double)maxShort / Math.Min(width, height)));
        if (scale >= 1.0) return (width, height);
        return (Math.Max(1, (int)Math.Round(width * scale)), Math.Max(1, (int)Math.Round(height * scale)));
    }

    /// <summary>The source's name for the frame.</summary>
    public string Name(int index) => inner.Name(index);

    /// <summary>The source's frame, resized when <see cref="IsScaled"/>.</summary>
    public RgbImage Read(int index)
    {
        var frame = inner.Read(index);
        return IsScaled ? PilResize.Resize(frame, Width, Height) : frame;
    }

    /// <summary>Disposes the inner source, which this source owns.</summary>
    public void Dispose() => inner.Dispose();
}
