using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Sam2Sharp.Amg;

/// <summary>
/// The uncompressed RLE of a row-major H×W mask (0/1 bytes) without making its column-major copy. pycocotools counts
/// runs down the columns: in that order pixel (y, x) follows (y − 1, x), and (0, x) follows (H − 1, x − 1). So the
/// runs change exactly where a row differs from the row above (found 32 pixels at a time), plus at the top of a column
/// that differs from the bottom of the one before; those places, sorted by column, give the counts.
/// </summary>
internal static class RowMajorRle
{
    /// <summary>Alternating off/on run lengths in column-major order, the first "off" (0 when the first pixel is on).</summary>
    public static int[] Counts(ReadOnlySpan<byte> mask, int height, int width)
    {
        if (mask.Length == 0) return [0];
        var changes = new List<(int X, int Y)>();
        for (int x = 1; x < width; x++)
            if (mask[x] != mask[(height - 1) * width + x - 1]) changes.Add((x, 0));
        for (int y = 1; y < height; y++)
            RowChanges(mask.Slice((y - 1) * width, width), mask.Slice(y * width, width), y, changes);
        // Each column's changes are already in row order: a counting sort by column keeps that order.
        var perColumn = new int[width + 1];
        foreach (var (x, _) in changes) perColumn[x + 1]++;
        for (int x = 0; x < width; x++) perColumn[x + 1] += perColumn[x];
        var positions = new int[changes.Count];
        foreach (var (x, y) in changes) positions[perColumn[x]++] = x * height + y;
        var counts = new List<int>(positions.Length + 2);
        if (mask[0] != 0) counts.Add(0);
        int previous = 0;
        foreach (int p in positions) { counts.Add(p - previous); previous = p; }
        counts.Add(mask.Length - previous);
        return counts.ToArray();
    }

    static void RowChanges(ReadOnlySpan<byte> above, ReadOnlySpan<byte> row, int y, List<(int, int)> changes)
    {
        int x = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; x <= row.Length - Vector256<byte>.Count; x += Vector256<byte>.Count)
            {
                uint differ = ~Vector256.Equals(Vector256.Create(above.Slice(x, 32)), Vector256.Create(row.Slice(x, 32))).ExtractMostSignificantBits();
                for (; differ != 0; differ &= differ - 1) changes.Add((x + BitOperations.TrailingZeroCount(differ), y));
            }
        for (; x < row.Length; x++)
            if (row[x] != above[x]) changes.Add((x, y));
    }

    /// <summary>The same of a row-major bool span.</summary>
    public static int[] Counts(ReadOnlySpan<bool> mask, int height, int width) => Counts(MemoryMarshal.AsBytes(mask), height, width);
}
