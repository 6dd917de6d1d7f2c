namespace Sam2Sharp.Evaluation;

/// <summary>
/// The per-frame measures of the VOS benchmark (SA-V's sav_benchmark, itself from vos-benchmark and
/// davis2017-evaluation): region similarity J (IoU) and boundary accuracy F, on binary masks stored row-major.
/// </summary>
public static class VosMetrics
{
    /// <summary>IoU from the intersection and the sum of both areas; two empty masks agree perfectly (1).</summary>
    public static double Iou(long intersection, long pixelSum) =>
        intersection == pixelSum ? 1.0 : (double)intersection / (pixelSum - intersection);

    /// <summary>Radius of the tolerance disk: ceil(threshold × image diagonal), in pixels.</summary>
    public static int BoundaryRadius(int height, int width, double threshold = 0.008) =>
        (int)Math.Ceiling(threshold * Math.Sqrt((double)height * height + (double)width * width));

    /// <summary>
    /// One-pixel boundary map: a pixel is on the boundary when it differs from its east, south or south-east
    /// neighbour (outside the image counts as background); on the last row only east counts, on the last column
    /// only south, and the bottom-right pixel is never a boundary. This is the half-pixel-shifted boundary of
    /// the reference (_seg2bmap at the mask's own size).
    /// </summary>
    public static bool[] Seg2Bmap(ReadOnlySpan<bool> seg, int height, int width)
    {
        if (seg.Length != height * width) throw new ArgumentException("mask size does not match height × width");
        var b = new bool[seg.Length];
        for (int y = 0; y < height; y++)
        {
            bool lastRow = y == height - 1;
            for (int x = 0; x < width; x++)
            {
                bool lastCol = x == width - 1;
                bool s0 = seg[y * width + x];
                bool e = !lastCol && seg[y * width + x + 1];
                bool s = !lastRow && seg[(y + 1) * width + x];
                bool se = !lastRow && !lastCol && seg[(y + 1) * width + x + 1];
                bool v;
                if (lastRow && lastCol) v = false;
                else if (lastCol) v = s0 ^ s;
                else if (lastRow) v = s0 ^ e;
                else v = (s0 ^ e) | (s0 ^ s) | (s0 ^ se);
                b[y * width + x] = v;
            }
        }
        return b;
    }

    /// <summary>
    /// Half-widths of the rows of skimage's <c>disk(r)</c> (the points with dx² + dy² ≤ r²), indexed by dy + r.
    /// </summary>
    public static int[] DiskHalfWidths(int radius)
    {
        var hw = new int[2 * radius + 1];
        for (int dy = -radius; dy <= radius; dy++)
        {
            int h = 0;
            while ((h + 1) * (h + 1) + dy * dy <= radius * radius) h++;
            hw[dy + radius] = h;
        }
        return hw;
    }

    /// <summary>
    /// Binary dilation by the disk (what cv2.dilate does with that kernel: centred anchor, nothing contributed from
    /// outside the image). The disk is symmetric, so stamping it on every set pixel is the same operation.
    /// </summary>
    public static bool[] Dilate(ReadOnlySpan<bool> map, int height, int width, int[] diskHalfWidths)
    {
        int r = diskHalfWidths.Length / 2;
        var o = new bool[map.Length];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                if (!map[y * width + x]) continue;
                for (int dy = -r; dy <= r; dy++)
                {
                    int yy = y + dy;
                    if ((uint)yy >= (uint)height) continue;
                    int h = diskHalfWidths[dy + r];
                    int x0 = Math.Max(0, x - h), x1 = Math.Min(width - 1, x + h);
                    o.AsSpan(yy * width + x0, x1 - x0 + 1).Fill(true);
                }
            }
        return o;
    }

    /// <summary>
    /// Boundary F-measure of a predicted mask against the ground truth: precision = predicted boundary pixels within
    /// the disk of a true boundary pixel, recall the converse; the empty cases follow the reference (no predicted
    /// boundary: precision 1, recall 0; no true boundary: precision 0, recall 1; neither: both 1).
    /// </summary>
    public static double BoundaryF(ReadOnlySpan<bool> mask, ReadOnlySpan<bool> gt, int height, int width, int[] diskHalfWidths)
    {
        var mb = Seg2Bmap(mask, height, width);
        var gb = Seg2Bmap(gt, height, width);
        var md = Dilate(mb, height, width, diskHalfWidths);
        var gd = Dilate(gb, height, width, diskHalfWidths);
        long nFg = 0, nGt = 0, fgMatch = 0, gtMatch = 0;
        for (int i = 0; i < mb.Length; i++)
        {
            if (mb[i]) { nFg++; if (gd[i]) fgMatch++; }
            if (gb[i]) { nGt++; if (md[i]) gtMatch++; }
        }
        double precision, recall;
        if (nFg == 0 && nGt > 0) { precision = 1; recall = 0; }
        else if (nFg > 0 && nGt == 0) { precision = 0; recall = 1; }
        else if (nFg == 0 && nGt == 0) { precision = 1; recall = 1; }
        else { precision = fgMatch / (double)nFg; recall = gtMatch / (double)nGt; }
        return precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
    }

    /// <summary>Mean with numpy's pairwise summation order, so that means match np.mean to the last bit.</summary>
    public static double Mean(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var a = values as double[] ?? values.ToArray();
        return PairwiseSum(a, 0, a.Length) / a.Length;
    }

    static double PairwiseSum(double[] a, int start, int n)
    {
        if (n < 8)
        {
            double res = -0.0;
            for (int i = 0; i < n; i++) res += a[start + i];
            return res;
        }
        if (n <= 128)
        {
            Span<double> r = stackalloc double[8];
            for (int j = 0; j < 8; j++) r[j] = a[start + j];
            int i = 8;
            for (; i < n - n % 8; i += 8)
                for (int j = 0; j < 8; j++) r[j] += a[start + i + j];
            double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; i < n; i++) res += a[start + i];
            return res;
        }
        int n2 = n / 2;
        n2 -= n2 % 8;
        return PairwiseSum(a, start, n2) + PairwiseSum(a, start + n2, n - n2);
    }
}
