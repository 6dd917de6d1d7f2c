using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Imaging;

/// <summary>Which neighbours join two foreground pixels into one component.</summary>
public enum Connectivity
{
    /// <summary>Left, right, up, down.</summary>
    Four = 4,
    /// <summary>The four above plus the four diagonals.</summary>
    Eight = 8,
}

/// <summary>
/// Bounding box (inclusive left/top, width/height in pixels) and pixel count of one label,
/// laid out like a row of OpenCV's connectedComponentsWithStats.
/// </summary>
public readonly record struct ComponentStats(int Left, int Top, int Width, int Height, int Area)
{
    /// <summary>Inclusive right column.</summary>
    public int Right => Left + Width - 1;
    /// <summary>Inclusive bottom row.</summary>
    public int Bottom => Top + Height - 1;
}

/// <summary>The result of labelling one H×W binary mask.</summary>
public sealed class ComponentLabeling
{
    internal ComponentLabeling(int height, int width, int[] labels, ComponentStats[] stats)
    {
        Height = height;
        Width = width;
        Labels = labels;
        Stats = stats;
    }

    /// <summary>Height of the mask.</summary>
    public int Height { get; }
    /// <summary>Width of the mask.</summary>
    public int Width { get; }

    /// <summary>Row-major H×W labels: 0 for background, 1…LabelCount-1 for the components.</summary>
    public int[] Labels { get; }

    /// <summary>One entry per label, the background (label 0) first, as OpenCV's stats rows.</summary>
    public ComponentStats[] Stats { get; }

    /// <summary>Number of labels including the background, like OpenCV's n_labels.</summary>
    public int LabelCount => Stats.Length;

    /// <summary>Number of foreground components.</summary>
    public int ComponentCount => Stats.Length - 1;

    /// <summary>Pixel count of a label (label 0 is the background).</summary>
    public int Area(int label) => Stats[label].Area;
}

/// <summary>
/// Connected-component labelling of binary masks on the CPU (two-pass union-find, O(HW)),
/// and the mask post-processing built on it that the reference does with its CUDA extension
/// (<c>get_connected_components</c>, <c>fill_holes_in_mask_scores</c>, the hole/sprinkle step of
/// <c>SAM2Transforms.postprocess_masks</c>).
/// </summary>
public static class ConnectedComponents
{
    /// <summary>
    /// Labels the nonzero pixels of a row-major H×W mask.
    /// Numbering follows OpenCV so that "first largest component" picks the same one:
    /// with 8-connectivity OpenCV's block-based algorithms (BBDT/Spaghetti) number components by the
    /// first 2×2 block (pairs of rows, then pairs of columns) that contains them; with 4-connectivity
    /// by their first pixel in raster order.
    /// </summary>
    public static ComponentLabeling Label(ReadOnlySpan<byte> mask, int height, int width,
        Connectivity connectivity = Connectivity.Eight)
    {
        if (height < 0 || width < 0) throw new ArgumentOutOfRangeException(nameof(height));
        int n = height * width;
        if (mask.Length != n) throw new ArgumentException($"mask has {mask.Length} values, expected {height}×{width}");
        bool eight = connectivity == Connectivity.Eight;

        var provisional = new int[n];
        // Every new provisional label starts at a pixel, so n + 1 entries always suffice.
        var parent = new int[n + 1];
        int next = 1;

        for (int y = 0; y < height; y++)
        {
            int row = y * width;
            for (int x = 0; x < width; x++)
            {
                int i = row + x;
                if (mask[i] == 0) continue;
                int cur = 0;
                if (x > 0) cur = Merge(parent, cur, provisional[i - 1]);
                if (y > 0)
                {
                    int up = i - width;
                    cur = Merge(parent, cur, provisional[up]);
                    if (eight)
                    {
                        if (x > 0) cur = Merge(parent, cur, provisional[up - 1]);
                        if (x + 1 < width) cur = Merge(parent, cur, provisional[up + 1]);
                    }
                }
                if (cur == 0)
                {
                    cur = next++;
                    parent[cur] = cur;
                }
                provisional[i] = cur;
            }
        }

        // Final, consecutive numbering in OpenCV's order.
        var final = new int[next]; // root provisional label -> final label (0 = not yet assigned)
        int count = 1;
        if (eight)
        {
            for (int by = 0; by < height; by += 2)
                for (int bx = 0; bx < width; bx += 2)
                    for (int dy = 0; dy < 2 && by + dy < height; dy++)
                        for (int dx = 0; dx < 2 && bx + dx < width; dx++)
                        {
                            int p = provisional[(by + dy) * width + bx + dx];
                            if (p == 0) continue;
                            int r = Find(parent, p);
                            if (final[r] == 0) final[r] = count++;
                        }
        }
        else
        {
            for (int i = 0; i < n; i++)
            {
                int p = provisional[i];
                if (p == 0) continue;
                int r = Find(parent, p);
                if (final[r] == 0) final[r] = count++;
            }
        }

        var labels = provisional; // rewritten in place
        var left = new int[count]; var top = new int[count];
        var right = new int[count]; var bottom = new int[count]; var area = new int[count];
        Array.Fill(left, int.MaxValue); Array.Fill(top, int.MaxValue);
        Array.Fill(right, -1); Array.Fill(bottom, -1);
        for (int y = 0; y < height; y++)
        {
            int row = y * width;
            for (int x = 0; x < width; x++)
            {
                int i = row + x;
                int p = provisional[i];
                int l = p == 0 ? 0 : final[Find(parent, p)];
                labels[i] = l;
                area[l]++;
                if (x < left[l]) left[l] = x;
                if (x > right[l]) right[l] = x;
                if (y < top[l]) top[l] = y;
                if (y > bottom[l]) bottom[l] = y;
            }
        }
        var stats = new ComponentStats[count];
        for (int l = 0; l < count; l++)
            stats[l] = area[l] == 0
                ? new ComponentStats(0, 0, 0, 0, 0)
                : new ComponentStats(left[l], top[l], right[l] - left[l] + 1, bottom[l] - top[l] + 1, area[l]);
        return new ComponentLabeling(height, width, labels, stats);
    }

    /// <summary>Labels the true pixels of a row-major H×W mask (see the byte overload).</summary>
    public static ComponentLabeling Label(ReadOnlySpan<bool> mask, int height, int width,
        Connectivity connectivity = Connectivity.Eight) =>
        Label(MemoryMarshal.Cast<bool, byte>(mask), height, width, connectivity);

    /// <summary>Labels the true pixels of an H×W mask (see the byte overload).</summary>
    public static ComponentLabeling Label(bool[,] mask, Connectivity connectivity = Connectivity.Eight) =>
        Label(MemoryMarshal.CreateReadOnlySpan(ref MemoryMarshal.GetArrayDataReference(mask), mask.Length),
            mask.GetLength(0), mask.GetLength(1), connectivity);

    static int Find(int[] parent, int x)
    {
        while (parent[x] != x)
        {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        return x;
    }

    // Joins label b into the set of cur (cur == 0: none yet) and returns the set's root; the
    // smaller root wins, so a root is always the earliest provisional label of its component.
    static int Merge(int[] parent, int cur, int b)
    {
        if (b == 0) return cur;
        int rb = Find(parent, b);
        if (cur == 0) return rb;
        int ra = Find(parent, cur);
        if (ra == rb) return ra;
        if (ra < rb) { parent[rb] = ra; return ra; }
        parent[ra] = rb;
        return rb;
    }

    /// <summary>
    /// The reference <c>get_connected_components</c>: 8-connected components of each mask of an
    /// N×1×H×W tensor (nonzero = foreground). Returns int32 tensors of the same shape and device:
    /// the component label of each foreground pixel (0 on background) and the area of that
    /// component (0 on background). Only "label &gt; 0" and the areas are meaningful; the label
    /// values themselves differ from the CUDA kernel's.
    /// </summary>
    public static (Tensor Labels, Tensor Areas) GetConnectedComponents(Tensor mask)
    {
        if (mask.dim() != 4 || mask.shape[1] != 1)
            throw new ArgumentException($"expected an N×1×H×W mask, got [{string.Join(", ", mask.shape)}]");
        int n = (int)mask.shape[0], h = (int)mask.shape[2], w = (int)mask.shape[3];
        int hw = h * w;
        var bytes = ToBytes(mask);
        var labels = new int[n * hw];
        var areas = new int[n * hw];
        for (int b = 0; b < n; b++)
        {
            var lab = Label(bytes.AsSpan(b * hw, hw), h, w, Connectivity.Eight);
            for (int i = 0; i < hw; i++)
            {
                int l = lab.Labels[i];
                if (l == 0) continue;
                labels[b * hw + i] = l;
                areas[b * hw + i] = lab.Stats[l].Area;
            }
        }
        var shape = new long[] { n, 1, h, w };
        using var scope = torch.NewDisposeScope();
        var labelsT = torch.tensor(labels, shape, device: mask.device);
        var areasT = torch.tensor(areas, shape, device: mask.device);
        return (labelsT.MoveToOuterDisposeScope(), areasT.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The reference <c>fill_holes_in_mask_scores</c> (video predictor, <c>fill_hole_area</c>):
    /// in N×1×H×W mask logits, every 8-connected component of background pixels (score &lt;= 0)
    /// with area &lt;= <paramref name="maxArea"/> gets the score 0.1. Holes only: the reference
    /// does not remove sprinkles here. Returns a new tensor of the input's dtype and device.
    /// </summary>
    public static Tensor FillHolesInMaskScores(Tensor mask, double maxArea)
    {
        if (!(maxArea > 0)) throw new ArgumentOutOfRangeException(nameof(maxArea), "max_area must be positive");
        using var scope = torch.NewDisposeScope();
        var isHole = SmallComponents(mask <= 0, maxArea, mask.shape);
        return mask.masked_fill(isHole.to(mask.device), 0.1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The hole and sprinkle removal of the reference <c>SAM2Transforms.postprocess_masks</c>
    /// (image predictor, <c>max_hole_area</c> / <c>max_sprinkle_area</c>), before its resize.
    /// <paramref name="masks"/> is B×C×H×W logits (any leading dims; each H×W plane is labelled
    /// on its own), converted to float32 as the reference does. Both masks are computed from the
    /// input scores: holes (8-connected components of score &lt;= threshold, area &lt;= maxHoleArea)
    /// become threshold + 10; sprinkles (components of score &gt; threshold, area &lt;= maxSprinkleArea)
    /// become threshold - 10. A step is skipped when its area is not positive.
    /// </summary>
    public static Tensor FillHolesAndRemoveSprinkles(Tensor masks, double maskThreshold,
        double maxHoleArea, double maxSprinkleArea)
    {
        using var scope = torch.NewDisposeScope();
        var result = masks.to_type(ScalarType.Float32);
        var input = result;
        if (maxHoleArea > 0)
        {
            var isHole = SmallComponents(input <= maskThreshold, maxHoleArea, input.shape);
            result = result.masked_fill(isHole.to(input.device), maskThreshold + 10.0);
        }
        if (maxSprinkleArea > 0)
        {
            var isSprinkle = SmallComponents(input > maskThreshold, maxSprinkleArea, input.shape);
            result = result.masked_fill(isSprinkle.to(input.device), maskThreshold - 10.0);
        }
        return (ReferenceEquals(result, masks) ? result.alias() : result).MoveToOuterDisposeScope();
    }

    // Bool tensor (CPU) of the given shape: true on pixels of `binary` whose component in their
    // H×W plane has area <= maxArea.
    static Tensor SmallComponents(Tensor binary, double maxArea, long[] shape)
    {
        int h = (int)shape[^2], w = (int)shape[^1];
        int hw = h * w;
        var bytes = ToBytes(binary);
        int planes = hw == 0 ? 0 : bytes.Length / hw;
        var small = new bool[bytes.Length];
        for (int b = 0; b < planes; b++)
        {
            var lab = Label(bytes.AsSpan(b * hw, hw), h, w, Connectivity.Eight);
            for (int i = 0; i < hw; i++)
            {
                int l = lab.Labels[i];
                if (l > 0 && lab.Stats[l].Area <= maxArea) small[b * hw + i] = true;
            }
        }
        return torch.tensor(small, shape, device: torch.CPU);
    }

    /// <summary>Row-major bytes (1 for nonzero) of a tensor of any dtype and device.</summary>
    internal static byte[] ToBytes(Tensor t)
    {
        using var scope = torch.NewDisposeScope();
        return t.ne(0).to_type(ScalarType.Byte).cpu().contiguous().data<byte>().ToArray();
    }
}
