using Sam2Sharp.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Amg;

/// <summary>What <see cref="AmgUtils.RemoveSmallRegions(bool[], int, int, double, RegionMode)"/> removes.</summary>
public enum RegionMode
{
    /// <summary>Fill small background components ("holes").</summary>
    Holes,
    /// <summary>Drop small foreground components ("islands").</summary>
    Islands,
}

/// <summary>
/// The helpers of the automatic mask generator (the reference's sam2/utils/amg.py).
/// Masks are N×H×W bool tensors where the reference uses tensors; per-pixel work runs on
/// CPU arrays. Crop boxes are [x0, y0, x1, y1] in pixels of the original image.
/// </summary>
public static class AmgUtils
{
    /// <summary>
    /// True for boxes (XYXY, in crop coordinates) that touch the crop's border within
    /// <paramref name="atol"/> pixels where that border is not also the image's border.
    /// </summary>
    public static Tensor IsBoxNearCropEdge(Tensor boxes, IReadOnlyList<int> cropBox, IReadOnlyList<int> origBox,
        double atol = 20.0)
    {
        using var scope = NewDisposeScope();
        var crop = tensor(cropBox.Select(v => (float)v).ToArray(), device: boxes.device).unsqueeze(0);
        var orig = tensor(origBox.Select(v => (float)v).ToArray(), device: boxes.device).unsqueeze(0);
        var b = UncropBoxesXyxy(boxes, cropBox).to_type(ScalarType.Float32);
        var nearCrop = isclose(b, crop, rtol: 0, atol: atol);
        var nearImage = isclose(b, orig, rtol: 0, atol: atol);
        return logical_and(nearCrop, nearImage.logical_not()).any(1).MoveToOuterDisposeScope();
    }

    /// <summary>XYXY → XYWH along the last dimension (the reference is used on single boxes).</summary>
    public static Tensor BoxXyxyToXywh(Tensor boxXyxy)
    {
        var r = boxXyxy.clone();
        using (var w = r.select(-1, 2)) w.sub_(boxXyxy.select(-1, 0));
        using (var h = r.select(-1, 3)) h.sub_(boxXyxy.select(-1, 1));
        return r;
    }

    /// <summary>XYXY → XYWH of one box.</summary>
    public static double[] BoxXyxyToXywh(double[] box) =>
        new[] { box[0], box[1], box[2] - box[0], box[3] - box[1] };

    /// <summary>(start, length) of consecutive batches of at most <paramref name="batchSize"/> out of n.</summary>
    public static IEnumerable<(int Start, int Length)> BatchRanges(int batchSize, int n)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize));
        for (int s = 0; s < n; s += batchSize) yield return (s, Math.Min(batchSize, n - s));
    }

    /// <summary>
    /// The reference <c>batch_iterator</c>: the same slice (views along dim 0) of every tensor,
    /// batch by batch. All tensors must have the same length.
    /// </summary>
    public static IEnumerable<Tensor[]> BatchIterator(int batchSize, params Tensor[] args)
    {
        if (args.Length == 0 || args.Any(a => a.shape[0] != args[0].shape[0]))
            throw new ArgumentException("Batched iteration must have inputs of all the same size.");
        foreach (var (s, len) in BatchRanges(batchSize, (int)args[0].shape[0]))
            yield return args.Select(a => a.narrow(0, s, len)).ToArray();
    }

    // ---------------------------------------------------------------- RLE

    /// <summary>
    /// The reference <c>mask_to_rle_pytorch</c>: uncompressed RLE (pycocotools layout) of each
    /// mask of a B×H×W tensor (nonzero = on).
    /// </summary>
    public static List<Rle> MaskToRle(Tensor masks)
    {
        if (masks.dim() != 3) throw new ArgumentException("expected a B×H×W mask tensor");
        int b = (int)masks.shape[0], h = (int)masks.shape[1], w = (int)masks.shape[2];
        using var scope = NewDisposeScope();
        // Bools (one byte each, 0 or 1), row-major, read in place; the masks are independent, so they run side by side.
        var on = (masks.dtype == ScalarType.Bool ? masks : masks.ne(0)).cpu().contiguous();
        var counts = new int[b][];
        unsafe
        {
            fixed (byte* data = on.bytes)
            {
                nint start = (nint)data;
                long hw = (long)h * w;
                Parallel.For(0, b, CpuKernel.TorchThreads, i =>
                    counts[i] = RowMajorRle.Counts(new ReadOnlySpan<byte>((byte*)start + i * hw, checked((int)hw)), h, w));
            }
        }
        return counts.Select(c => new Rle(h, w, c)).ToList();
    }

    /// <summary>Uncompressed RLE of one row-major H×W mask.</summary>
    public static Rle MaskToRle(ReadOnlySpan<bool> mask, int height, int width)
    {
        if (mask.Length != height * width) throw new ArgumentException("mask size does not match height×width");
        return new Rle(height, width, RowMajorRle.Counts(mask, height, width));
    }

    /// <summary>The reference <c>rle_to_mask</c>, as a row-major H×W array.</summary>
    public static bool[] RleToMaskArray(Rle rle)
    {
        int h = rle.Height, w = rle.Width, n = h * w;
        var fortran = new bool[n];
        int idx = 0;
        bool parity = false;
        foreach (var count in rle.Counts)
        {
            int end = Math.Min(n, idx + count);
            if (parity) fortran.AsSpan(idx, end - idx).Fill(true);
            idx = end;
            parity = !parity;
        }
        var mask = new bool[n];
        for (int x = 0, k = 0; x < w; x++)
            for (int y = 0; y < h; y++)
                mask[y * w + x] = fortran[k++];
        return mask;
    }

    /// <summary>The reference <c>rle_to_mask</c>, as an H×W bool tensor on the CPU.</summary>
    public static Tensor RleToMask(Rle rle) => tensor(RleToMaskArray(rle), new long[] { rle.Height, rle.Width }, device: CPU);

    /// <summary>Number of "on" pixels (the sum of the odd-indexed counts).</summary>
    public static long AreaFromRle(Rle rle)
    {
        long a = 0;
        for (int i = 1; i < rle.Counts.Length; i += 2) a += rle.Counts[i];
        return a;
    }

    /// <summary>The reference <c>coco_encode_rle</c> (pycocotools frPyObjects on the uncompressed RLE).</summary>
    public static CocoRle CocoEncodeRle(Rle rle) => CocoRleCodec.Encode(rle);

    // ---------------------------------------------------------------- scores and boxes

    /// <summary>
    /// IoU between the masks thresholded at threshold + offset and at threshold - offset
    /// (one always contains the other), over the last two dims. Counts are summed as int16 per
    /// row then int32, as the reference does; the result is float32 (NaN when both are empty).
    /// </summary>
    public static Tensor CalculateStabilityScore(Tensor masks, double maskThreshold, double thresholdOffset)
    {
        using var scope = NewDisposeScope();
        var (intersections, unions) = CountAbove(masks, maskThreshold + thresholdOffset, maskThreshold - thresholdOffset);
        return (intersections / unions).MoveToOuterDisposeScope();
    }

    /// <summary>Per mask of …×H×W logits, the pixels above <paramref name="high"/> and above <paramref name="low"/> (int32).</summary>
    internal static (Tensor AboveHigh, Tensor AboveLow) CountAbove(Tensor masks, double high, double low)
    {
        // torch compares a float32 tensor with the thresholds as float32: so does the one-pass count.
        if (ThresholdCounts.Applies(masks)) return ThresholdCounts.Count(masks, (float)high, (float)low);
        using var scope = NewDisposeScope();
        var aboveHigh = (masks > high).sum(-1, type: ScalarType.Int16).sum(-1, type: ScalarType.Int32);
        var aboveLow = (masks > low).sum(-1, type: ScalarType.Int16).sum(-1, type: ScalarType.Int32);
        return (aboveHigh.MoveToOuterDisposeScope(), aboveLow.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The reference <c>batched_mask_to_box</c>: inclusive XYXY boxes (int64) of masks of shape
    /// C1×…×H×W (bool); [0, 0, 0, 0] for an empty mask; float32 zeros when the input is empty.
    /// </summary>
    public static Tensor BatchedMaskToBox(Tensor masks)
    {
        var shape = masks.shape;
        if (masks.numel() == 0)
            return zeros(shape[..^2].Append(4L).ToArray(), dtype: ScalarType.Float32, device: masks.device);
        if (MaskBoxes.Applies(masks)) return MaskBoxes.Of(masks);

        using var scope = NewDisposeScope();
        long h = shape[^2], w = shape[^1];
        var m = shape.Length > 2 ? masks.flatten(0, -3) : masks.unsqueeze(0);

        var inHeight = m.max(-1).values;
        var inHeightCoords = inHeight * arange(h, device: inHeight.device).unsqueeze(0);
        var bottom = inHeightCoords.max(-1).values;
        inHeightCoords = inHeightCoords + inHeight.logical_not() * h;
        var top = inHeightCoords.min(-1).values;

        var inWidth = m.max(-2).values;
        var inWidthCoords = inWidth * arange(w, device: inWidth.device).unsqueeze(0);
        var right = inWidthCoords.max(-1).values;
        inWidthCoords = inWidthCoords + inWidth.logical_not() * w;
        var left = inWidthCoords.min(-1).values;

        // An empty mask has its right edge left of its left edge: report it as [0, 0, 0, 0].
        var empty = (right < left).logical_or(bottom < top);
        var outBoxes = stack(new[] { left, top, right, bottom }, -1) * empty.logical_not().unsqueeze(-1);

        outBoxes = shape.Length > 2 ? outBoxes.reshape(shape[..^2].Append(4L).ToArray()) : outBoxes[0];
        return outBoxes.MoveToOuterDisposeScope();
    }

    /// <summary>Inclusive XYXY box of one row-major H×W mask, [0, 0, 0, 0] when empty.</summary>
    public static int[] MaskToBox(ReadOnlySpan<bool> mask, int height, int width)
    {
        int x0 = width, y0 = height, x1 = -1, y1 = -1;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                if (mask[y * width + x])
                {
                    if (x < x0) x0 = x;
                    if (x > x1) x1 = x;
                    if (y < y0) y0 = y;
                    if (y > y1) y1 = y;
                }
        return x1 < 0 ? new[] { 0, 0, 0, 0 } : new[] { x0, y0, x1, y1 };
    }

    // ---------------------------------------------------------------- point grids and crops

    /// <summary>
    /// n×n points evenly spaced in [0,1]², half a step from the borders, row by row
    /// (x varies fastest). Shape (n², 2), columns x and y.
    /// </summary>
    public static double[,] BuildPointGrid(int nPerSide)
    {
        double offset = 1.0 / (2 * nPerSide);
        var oneSide = Linspace(offset, 1 - offset, nPerSide);
        var points = new double[nPerSide * nPerSide, 2];
        for (int r = 0; r < nPerSide; r++)
            for (int c = 0; c < nPerSide; c++)
            {
                points[r * nPerSide + c, 0] = oneSide[c];
                points[r * nPerSide + c, 1] = oneSide[r];
            }
        return points;
    }

    // numpy.linspace(start, stop, num) with endpoint: start + i*step, the last set to stop.
    static double[] Linspace(double start, double stop, int num)
    {
        var y = new double[num];
        if (num == 0) return y;
        if (num == 1) { y[0] = start; return y; }
        double delta = stop - start;
        double step = delta / (num - 1);
        for (int i = 0; i < num; i++)
            y[i] = step == 0 ? i / (double)(num - 1) * delta + start : i * step + start;
        y[num - 1] = stop;
        return y;
    }

    /// <summary>Point grids for the full image and each crop layer: layer i has n / scale^i points per side.</summary>
    public static List<double[,]> BuildAllLayerPointGrids(int nPerSide, int nLayers, int scalePerLayer)
    {
        var grids = new List<double[,]>();
        for (int i = 0; i <= nLayers; i++)
        {
            double scale = 1;
            for (int k = 0; k < i; k++) scale *= scalePerLayer;
            grids.Add(BuildPointGrid((int)(nPerSide / scale)));
        }
        return grids;
    }

    /// <summary>
    /// Crop boxes [x0, y0, x1, y1]: the whole image (layer 0), then for layer i ≥ 1 a grid of
    /// 2^i × 2^i overlapping crops, listed column by column (x0 outer, y0 inner) as the reference's
    /// itertools.product does.
    /// </summary>
    public static (List<int[]> CropBoxes, List<int> LayerIdxs) GenerateCropBoxes(int imHeight, int imWidth,
        int nLayers, double overlapRatio)
    {
        var cropBoxes = new List<int[]>();
        var layerIdxs = new List<int>();
        int shortSide = Math.Min(imHeight, imWidth);

        cropBoxes.Add(new[] { 0, 0, imWidth, imHeight });
        layerIdxs.Add(0);

        static int CropLen(int origLen, int nCrops, int overlap) =>
            (int)Math.Ceiling((double)(overlap * (nCrops - 1) + origLen) / nCrops);

        for (int iLayer = 0; iLayer < nLayers; iLayer++)
        {
            int nCropsPerSide = 1 << (iLayer + 1);
            int overlap = (int)(overlapRatio * shortSide * (2.0 / nCropsPerSide));
            int cropW = CropLen(imWidth, nCropsPerSide, overlap);
            int cropH = CropLen(imHeight, nCropsPerSide, overlap);
            for (int i = 0; i < nCropsPerSide; i++)
            {
                int x0 = (cropW - overlap) * i;
                for (int j = 0; j < nCropsPerSide; j++)
                {
                    int y0 = (cropH - overlap) * j;
                    cropBoxes.Add(new[] { x0, y0, Math.Min(x0 + cropW, imWidth), Math.Min(y0 + cropH, imHeight) });
                    layerIdxs.Add(iLayer + 1);
                }
            }
        }
        return (cropBoxes, layerIdxs);
    }

    /// <summary>Shifts XYXY boxes (N×4 or B×N×4) from crop to image coordinates.</summary>
    public static Tensor UncropBoxesXyxy(Tensor boxes, IReadOnlyList<int> cropBox)
    {
        using var scope = NewDisposeScope();
        long x0 = cropBox[0], y0 = cropBox[1];
        var offset = tensor(new[] { x0, y0, x0, y0 }, new long[] { 1, 4 }, device: boxes.device);
        if (boxes.dim() == 3) offset = offset.unsqueeze(1);
        return (boxes + offset).MoveToOuterDisposeScope();
    }

    /// <summary>Shifts points (N×2 or B×N×2) from crop to image coordinates.</summary>
    public static Tensor UncropPoints(Tensor points, IReadOnlyList<int> cropBox)
    {
        using var scope = NewDisposeScope();
        long x0 = cropBox[0], y0 = cropBox[1];
        var offset = tensor(new[] { x0, y0 }, new long[] { 1, 2 }, device: points.device);
        if (points.dim() == 3) offset = offset.unsqueeze(1);
        return (points + offset).MoveToOuterDisposeScope();
    }

    /// <summary>Zero-pads crop-sized masks (…×h×w) to the original image size at the crop's position.</summary>
    public static Tensor UncropMasks(Tensor masks, IReadOnlyList<int> cropBox, int origH, int origW)
    {
        int x0 = cropBox[0], y0 = cropBox[1], x1 = cropBox[2], y1 = cropBox[3];
        if (x0 == 0 && y0 == 0 && x1 == origW && y1 == origH) return masks;
        int padX = origW - (x1 - x0), padY = origH - (y1 - y0);
        return nn.functional.pad(masks, new long[] { x0, padX - x0, y0, padY - y0 }, PaddingModes.Constant, 0);
    }

    // ---------------------------------------------------------------- small regions

    /// <summary>The reference's mode string of remove_small_regions: <c>holes</c> or <c>islands</c>.</summary>
    /// <exception cref="ArgumentException">another string.</exception>
    public static RegionMode ParseRegionMode(string mode) => mode switch
    {
        "holes" => RegionMode.Holes,
        "islands" => RegionMode.Islands,
        _ => throw new ArgumentException($"mode should be \"holes\" or \"islands\", not \"{mode}\""),
    };

    /// <summary>
    /// The reference <c>remove_small_regions</c> (OpenCV connectedComponentsWithStats, 8-connectivity):
    /// "holes" fills background components smaller than <paramref name="areaThresh"/>; "islands"
    /// keeps only foreground components at least that large, or the largest one (the first in
    /// OpenCV's numbering on a tie) when none is. Returns the (possibly same) mask and whether
    /// anything was considered small.
    /// </summary>
    public static (bool[] Mask, bool Changed) RemoveSmallRegions(bool[] mask, int height, int width,
        double areaThresh, RegionMode mode)
    {
        bool correctHoles = mode == RegionMode.Holes;
        var working = new byte[mask.Length];
        for (int i = 0; i < mask.Length; i++) working[i] = (byte)(correctHoles ^ mask[i] ? 1 : 0);
        var cc = ConnectedComponents.Label(working, height, width, Connectivity.Eight);
        int nLabels = cc.LabelCount;

        var small = new List<int>();
        for (int l = 1; l < nLabels; l++)
            if (cc.Stats[l].Area < areaThresh) small.Add(l);
        if (small.Count == 0) return (mask, false);

        var fill = new bool[nLabels];
        fill[0] = true;
        foreach (var l in small) fill[l] = true;
        if (!correctHoles)
        {
            // Keep the components that are neither background nor small.
            bool any = false;
            for (int l = 0; l < nLabels; l++) { fill[l] = !fill[l]; any |= fill[l]; }
            if (!any)
            {
                int best = 1;
                for (int l = 2; l < nLabels; l++)
                    if (cc.Stats[l].Area > cc.Stats[best].Area) best = l;
                fill[best] = true;
            }
        }
        var result = new bool[mask.Length];
        for (int i = 0; i < result.Length; i++) result[i] = fill[cc.Labels[i]];
        return (result, true);
    }

    /// <summary><see cref="RemoveSmallRegions(bool[], int, int, double, RegionMode)"/> on an H×W tensor (result: CPU bool).</summary>
    public static (Tensor Mask, bool Changed) RemoveSmallRegions(Tensor mask, double areaThresh, RegionMode mode)
    {
        if (mask.dim() != 2) throw new ArgumentException("expected an H×W mask");
        int h = (int)mask.shape[0], w = (int)mask.shape[1];
        var bytes = ConnectedComponents.ToBytes(mask);
        var arr = new bool[bytes.Length];
        for (int i = 0; i < arr.Length; i++) arr[i] = bytes[i] != 0;
        var (res, changed) = RemoveSmallRegions(arr, h, w, areaThresh, mode);
        return (changed ? tensor(res, new long[] { h, w }, device: CPU) : mask.alias(), changed);
    }

    /// <summary>
    /// The generator's <c>postprocess_small_regions</c>: removes small holes and islands from every
    /// RLE of <paramref name="maskData"/>, then reruns box NMS preferring masks that did not change
    /// (score 1 against 0), rewriting the RLE and box of the kept masks that changed. Edits
    /// <paramref name="maskData"/> in place and returns it. Boxes of changed masks are written into
    /// <c>maskData.Boxes</c> in its dtype.
    /// </summary>
    public static MaskData PostprocessSmallRegions(MaskData maskData, int minArea, double nmsThresh)
    {
        var rles = maskData.Rles;
        if (rles is null || rles.Count == 0) return maskData;

        int n = rles.Count;
        var newMasks = new bool[n][];
        var scores = new float[n];
        var boxes = new long[n * 4];
        for (int i = 0; i < n; i++)
        {
            var rle = rles[i];
            var mask = RleToMaskArray(rle);
            (mask, bool changed) = RemoveSmallRegions(mask, rle.Height, rle.Width, minArea, RegionMode.Holes);
            bool unchanged = !changed;
            (mask, changed) = RemoveSmallRegions(mask, rle.Height, rle.Width, minArea, RegionMode.Islands);
            unchanged = unchanged && !changed;
            newMasks[i] = mask;
            scores[i] = unchanged ? 1f : 0f;
            var box = MaskToBox(mask, rle.Height, rle.Width);
            for (int k = 0; k < 4; k++) boxes[i * 4 + k] = box[k];
        }

        long[] keepIdx;
        using (var scope = NewDisposeScope())
        {
            var boxesF = tensor(boxes, new long[] { n, 4 }, device: CPU).to_type(ScalarType.Float32);
            var keepT = Nms.BatchedNms(boxesF, tensor(scores, device: CPU), zeros(n, dtype: ScalarType.Int64, device: CPU), nmsThresh);
            keepIdx = keepT.data<long>().ToArray();
        }
        foreach (var i in keepIdx)
        {
            if (scores[i] != 0f) continue;
            var rle = rles[(int)i];
            rles[(int)i] = MaskToRle(newMasks[i], rle.Height, rle.Width);
            if (maskData.Boxes is not null)
            {
                using var row = maskData.Boxes[i];
                using var box = tensor(boxes.AsSpan((int)i * 4, 4).ToArray(), device: row.device);
                row.copy_(box);
            }
        }
        using (var keep = tensor(keepIdx, device: CPU)) maskData.Filter(keep);
        return maskData;
    }
}
