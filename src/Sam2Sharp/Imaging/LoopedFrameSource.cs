namespace Sam2Sharp.Imaging;

/// <summary>A video played over and over up to <paramref name="count"/> frames (for long-video benchmarks).</summary>
public sealed class LoopedFrameSource(IFrameSource inner, int count) : IFrameSource
{
    public int Count { get; } = count > 0 ? count : throw new ArgumentOutOfRangeException(nameof(count));
    public int Width => inner.Width;
    public int Height => inner.Height;
    public string Name(int index) => index.ToString("D5", System.Globalization.CultureInfo.InvariantCulture);
    public RgbImage Read(int index) => inner.Read(index % inner.Count);
    public void Dispose() => inner.Dispose();
}
