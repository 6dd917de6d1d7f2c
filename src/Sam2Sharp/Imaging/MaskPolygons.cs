namespace Sam2Sharp.Imaging;

/// <summary>One closed outline of a mask: vertices on pixel corners (x, y), clockwise on screen for an outer boundary.</summary>
/// <param name="Points">x0, y0, x1, y1, … (the COCO polygon layout); the last vertex joins the first.</param>
/// <param name="IsHole">Whether it bounds a hole (background enclosed by the mask) rather than a region.</param>
public sealed record MaskPolygon(float[] Points, bool IsHole)
{
    /// <summary>The enclosed area in pixels (a hole's area is positive too).</summary>
    public double Area
    {
        get
        {
            double a = 0;
            int n = Points.Length / 2;
            for (int i = 0; i < n; i++)
            {
                int j = (i + 1) % n;
                a += (double)Points[2 * i] * Points[2 * j + 1] - (double)Points[2 * j] * Points[2 * i + 1];
            }
            return Math.Abs(a) / 2;
        }
    }
}

/// <summary>
/// The outlines of a binary mask as polygons along pixel edges, so that a polygon filled with the
/// even-odd (or non-zero) rule at pixel centres gives back exactly the pixels of its region.
/// Regions are 4-connected: two pixels touching only at a corner get separate outlines.
/// </summary>
public static class MaskPolygons
{
    // Directions clockwise on screen (y down): east, south, west, north.
    static readonly int[] Dx = { 1, 0, -1, 0 }, Dy = { 0, 1, 0, -1 };

    /// <summary>Every outline (outer boundaries and holes) of a row-major H×W mask (nonzero = on).</summary>
    public static List<MaskPolygon> Trace(ReadOnlySpan<byte> mask, int width, int height)
    {
        if (width <= 0 || height <= 0 || mask.Length != (long)width * height)
            throw new ArgumentException($"mask has {mask.Length} pixels, expected {width}×{height}");
        int vw = width + 1;
        // Outgoing boundary edges per pixel corner, one bit per direction; the mask is on the right of each edge.
        var outgoing = new byte[vw * (height + 1)];
        bool On(ReadOnlySpan<byte> m, int x, int y) => x >= 0 && y >= 0 && x < width && y < height && m[y * width + x] != 0;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                if (mask[y * width + x] == 0) continue;
                if (!On(mask, x, y - 1)) outgoing[y * vw + x] |= 1 << 0;             // top: (x,y) → (x+1,y)
                if (!On(mask, x + 1, y)) outgoing[y * vw + x + 1] |= 1 << 1;         // right: (x+1,y) → (x+1,y+1)
                if (!On(mask, x, y + 1)) outgoing[(y + 1) * vw + x + 1] |= 1 << 2;   // bottom: (x+1,y+1) → (x,y+1)
                if (!On(mask, x - 1, y)) outgoing[(y + 1) * vw + x] |= 1 << 3;       // left: (x,y+1) → (x,y)
            }

        var result = new List<MaskPolygon>();
        for (int v0 = 0; v0 < outgoing.Length; v0++)
        {
            while (outgoing[v0] != 0)
            {
                int d = System.Numerics.BitOperations.TrailingZeroCount(outgoing[v0]);
                var pts = new List<float>();
                int v = v0, prev = -1;
                while (true)
                {
                    outgoing[v] &= (byte)~(1 << d);
                    if (d != prev) { pts.Add(v % vw); pts.Add(v / vw); } // a vertex only where the direction turns
                    prev = d;
                    v += Dx[d] + Dy[d] * vw;
                    // At a corner shared by two diagonal pixels, turning right keeps their outlines apart.
                    int next = -1;
                    foreach (int turn in new[] { 1, 0, 3 })
                        if ((outgoing[v] & (1 << ((d + turn) % 4))) != 0) { next = (d + turn) % 4; break; }
                    if (next < 0) break; // back at the start: every corner has as many edges in as out
                    d = next;
                }
                result.Add(Close(pts));
            }
        }
        return result;
    }

    static MaskPolygon Close(List<float> pts)
    {
        // Drop the first vertex if the outline passes straight through it (collinear with its neighbours).
        int n = pts.Count / 2;
        if (n >= 3)
        {
            float ax = pts[2 * (n - 1)], ay = pts[2 * (n - 1) + 1], bx = pts[0], by = pts[1], cx = pts[2], cy = pts[3];
            if ((ax == bx && bx == cx) || (ay == by && by == cy)) pts.RemoveRange(0, 2);
        }
        var p = pts.ToArray();
        double signed = 0;
        for (int i = 0, m = p.Length / 2; i < m; i++)
        {
            int j = (i + 1) % m;
            signed += (double)p[2 * i] * p[2 * j + 1] - (double)p[2 * j] * p[2 * i + 1];
        }
        // With y down, outer boundaries (clockwise on screen) have a positive shoelace sum; holes negative.
        return new MaskPolygon(p, IsHole: signed < 0);
    }

    /// <summary>The outer boundaries only, largest first: COCO's polygon <c>segmentation</c> (holes cannot be expressed there).</summary>
    public static List<float[]> OuterBoundaries(ReadOnlySpan<byte> mask, int width, int height) =>
        Trace(mask, width, height).Where(p => !p.IsHole).OrderByDescending(p => p.Area).Select(p => p.Points).ToList();
}
