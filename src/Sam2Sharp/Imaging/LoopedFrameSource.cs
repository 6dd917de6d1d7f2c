namespace Sam2Sharp.Imaging;

/// <summary>A video played over and over up to <paramref name="count"/> frames (for long-video benchmarks).</summary>
public sealed class LoopedFrameSource(IFrameSource inner, int count) : IFrameSource
{
    /// <inheritdoc/>
    public int Count { get; } = count > 0 ? count : throw new ArgumentOutOfRangeException(nameof(count));
    /// <inheritdoc/>
    public int Width => inner.Width;
    /// <inheritdoc/>
    public int Height => inner.Height;
    /// <summary>The zero-padded index (a looped frame's own name would repeat).</summary>
    public string Name(int index) => index.ToString("D5", System.Globalization.CultureInfo.InvariantCulture);
    /// <summary>Frame <paramref name="index"/> modulo the inner source's count.</summary>
    public RgbImage Read(int index) => inner.Read(index % inner.Count);
    /// <summary>Disposes the inner source, which this source owns.</summary>
    public void Dispose() => inner.Dispose();
}
