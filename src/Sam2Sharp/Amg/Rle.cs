namespace Sam2Sharp.Amg;

/// <summary>
/// Uncompressed run-length encoding of an H×W binary mask in the pycocotools layout:
/// runs over the pixels in column-major (Fortran) order, alternating off/on, starting with
/// an "off" run (0 when the first pixel is on).
/// </summary>
public sealed record Rle(int Height, int Width, int[] Counts)
{
    /// <summary>[h, w], as the reference's "size".</summary>
    public int[] Size => new[] { Height, Width };
}
