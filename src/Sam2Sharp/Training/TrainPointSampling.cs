using static TorchSharp.torch;

namespace Sam2Sharp.Training;

/// <summary>
/// Prompt sampling for training (the reference's get_next_point, sample_box_points,
/// sample_random_points_from_errors, sample_one_point_from_error_center).
/// NOTE: Modeling/PointSampling.cs (written in parallel for VOS) covers part of the same ground;
/// the two are to be merged into one.
/// </summary>
public static class TrainPointSampling
{
    /// <summary>Point sampling methods of SAM2Train: uniform over the error region, or its center.</summary>
    public const string Uniform = "uniform", Center = "center";

    /// <summary>
    /// One new click per mask from the error between <paramref name="predMasks"/> and <paramref name="gtMasks"/>
    /// (both B×1×H×W bool; a null prediction counts as empty). Returns B×1×2 float (x, y) and B×1 int32 labels.
    /// </summary>
    public static (Tensor Points, Tensor Labels) GetNextPoint(Tensor gtMasks, Tensor? predMasks, string method, Generator? generator = null) =>
        method switch
        {
            Uniform => SampleRandomPointsFromErrors(gtMasks, predMasks, 1, generator),
            Center => SampleOnePointFromErrorCenter(gtMasks, predMasks),
            _ => throw new ArgumentException($"unknown point sampling method '{method}'"),
        };

    /// <summary>
    /// num_pt points per mask drawn uniformly and independently from the union of the false-positive
    /// region (label 0) and false-negative region (label 1); when the prediction is exactly right,
    /// a negative click from the background. Noise from <paramref name="generator"/> (torch.rand, as the reference).
    /// </summary>
    public static (Tensor Points, Tensor Labels) SampleRandomPointsFromErrors(Tensor gtMasks, Tensor? predMasks, int numPt = 1, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        predMasks ??= zeros_like(gtMasks);
        CheckMasks(gtMasks, predMasks);
        long b = gtMasks.shape[0], h = gtMasks.shape[2], w = gtMasks.shape[3];
        var fp = gtMasks.logical_not() & predMasks;
        var fn = gtMasks & predMasks.logical_not();
        var allCorrect = (gtMasks == predMasks).flatten(2).all(2)[.., .., TensorIndex.None, TensorIndex.None];
        // Channel 0 scores the FP (negative) candidates, channel 1 the FN (positive) ones; the argmax of
        // uniform noise over the allowed pixels is a uniform draw among them.
        var noise = rand(new[] { b, numPt, h, w, 2 }, generator: generator, device: gtMasks.device);
        var allowNeg = (fp | (allCorrect & gtMasks.logical_not())).to_type(float32);
        var allowPos = fn.to_type(float32);
        noise = stack(new[] { noise[TensorIndex.Ellipsis, 0] * allowNeg, noise[TensorIndex.Ellipsis, 1] * allowPos }, -1);
        var idx = noise.flatten(2).argmax(2);
        var labels = (idx % 2).to_type(ScalarType.Int32);
        idx = div(idx, 2, RoundingMode.floor);
        var points = stack(new[] { idx % w, div(idx, w, RoundingMode.floor) }, 2).to_type(float32);
        return (points.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// One click per mask at the center of the larger error: the pixel of the false-negative or
    /// false-positive region farthest from that region's boundary (exact Euclidean distance, region
    /// padded by one pixel, first maximum in row-major order); positive when the FN distance is larger.
    /// </summary>
    public static (Tensor Points, Tensor Labels) SampleOnePointFromErrorCenter(Tensor gtMasks, Tensor? predMasks)
    {
        using var scope = NewDisposeScope();
        predMasks ??= zeros_like(gtMasks);
        CheckMasks(gtMasks, predMasks);
        int b = (int)gtMasks.shape[0], h = (int)gtMasks.shape[2], w = (int)gtMasks.shape[3];
        var gt = gtMasks.cpu().contiguous().data<bool>().ToArray();
        var pred = predMasks.cpu().contiguous().data<bool>().ToArray();
        var pts = new float[b * 2];
        var labels = new int[b];
        var fn = new bool[h * w];
        var fp = new bool[h * w];
        for (int i = 0; i < b; i++)
        {
            int off = i * h * w;
            for (int p = 0; p < h * w; p++)
            {
                fn[p] = gt[off + p] && !pred[off + p];
                fp[p] = !gt[off + p] && pred[off + p];
            }
            var (fnIdx, fnD) = FarthestFromBoundary(fn, h, w);
            var (fpIdx, fpD) = FarthestFromBoundary(fp, h, w);
            bool positive = fnD > fpD;
            int idx = positive ? fnIdx : fpIdx;
            pts[2 * i] = idx % w;
            pts[2 * i + 1] = idx / w;
            labels[i] = positive ? 1 : 0;
        }
        var points = tensor(pts, new long[] { b, 1, 2 }).to(gtMasks.device);
        var lab = tensor(labels, new long[] { b, 1 }).to(gtMasks.device);
        return (points.MoveToOuterDisposeScope(), lab.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// A noised box around each mask (B×1×H×W bool): corners moved by up to <paramref name="noise"/>
    /// of the box size (at most <paramref name="noiseBound"/> pixels), clamped to the image; B×2×2 points, labels 2 and 3.
    /// </summary>
    public static (Tensor Points, Tensor Labels) SampleBoxPoints(Tensor masks, double noise = 0.1, int noiseBound = 20,
        Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        long b = masks.shape[0], h = masks.shape[2], w = masks.shape[3];
        var device = masks.device;
        var box = MaskToBox(masks).to_type(float32); // B×1×4
        var labels = tensor(new[] { 2, 3 }, device: device).repeat(b);
        if (noise > 0.0)
        {
            var bw = box[TensorIndex.Ellipsis, 2] - box[TensorIndex.Ellipsis, 0];
            var bh = box[TensorIndex.Ellipsis, 3] - box[TensorIndex.Ellipsis, 1];
            var bound = tensor((float)noiseBound, device: device);
            var maxDx = minimum(bw * noise, bound);
            var maxDy = minimum(bh * noise, bound);
            var boxNoise = 2 * rand(new[] { b, 1, 4 }, generator: generator, device: device) - 1;
            boxNoise = boxNoise * stack(new[] { maxDx, maxDy, maxDx, maxDy }, -1);
            box = box + boxNoise;
            var hi = tensor(new float[] { w - 1, h - 1, w - 1, h - 1 }, device: device);
            box = box.clamp(zeros_like(hi), hi);
        }
        return (box.reshape(-1, 2, 2).MoveToOuterDisposeScope(), labels.reshape(-1, 2).MoveToOuterDisposeScope());
    }

    /// <summary>Inclusive XYXY boxes (B×1×4 int32) of B×1×H×W bool masks; an empty mask gives (W, H, -1, -1) as the reference.</summary>
    public static Tensor MaskToBox(Tensor masks)
    {
        using var scope = NewDisposeScope();
        long h = masks.shape[^2], w = masks.shape[^1];
        var xs = arange(w, dtype: ScalarType.Int32, device: masks.device).view(1, 1, 1, w).expand(masks.shape);
        var ys = arange(h, dtype: ScalarType.Int32, device: masks.device).view(1, 1, h, 1).expand(masks.shape);
        Tensor Min(Tensor g, long fill) => where(masks, g, tensor((int)fill, device: masks.device)).flatten(-2).min(-1).values;
        Tensor Max(Tensor g) => where(masks, g, tensor(-1, device: masks.device)).flatten(-2).max(-1).values;
        return stack(new[] { Min(xs, w), Min(ys, h), Max(xs), Max(ys) }, -1).MoveToOuterDisposeScope();
    }

    static void CheckMasks(Tensor gt, Tensor pred)
    {
        if (gt.dtype != ScalarType.Bool || gt.dim() != 4 || gt.shape[1] != 1)
            throw new ArgumentException("gt masks must be B×1×H×W bool");
        if (pred.dtype != ScalarType.Bool || !pred.shape.SequenceEqual(gt.shape))
            throw new ArgumentException("pred masks must be bool with the shape of the gt masks");
    }

    /// <summary>
    /// The region pixel farthest from the region's boundary (row-major first maximum) and its
    /// squared distance, with the region padded by a one-pixel background border (0 when empty).
    /// </summary>
    static (int Index, long SqDist) FarthestFromBoundary(bool[] region, int h, int w)
    {
        var d = SquaredEdt(region, h, w);
        int best = 0; long bestD = d[0];
        for (int p = 1; p < d.Length; p++)
            if (d[p] > bestD) { best = p; bestD = d[p]; }
        return (best, bestD);
    }

    /// <summary>
    /// Exact squared Euclidean distance of every region pixel to the nearest background pixel,
    /// where everything outside the H×W grid is background (Felzenszwalb–Huttenlocher, columns then rows).
    /// </summary>
    public static long[] SquaredEdt(bool[] region, int h, int w)
    {
        const double Inf = 1e20;
        // Pad by one pixel so that the border is background, as the reference does.
        int ph = h + 2, pw = w + 2;
        var g = new double[ph * pw];
        for (int y = 0; y < ph; y++)
            for (int x = 0; x < pw; x++)
                g[y * pw + x] = y >= 1 && y <= h && x >= 1 && x <= w && region[(y - 1) * w + (x - 1)] ? Inf : 0;
        int n = Math.Max(ph, pw);
        var f = new double[n]; var dOut = new double[n]; var v = new int[n]; var z = new double[n + 1];
        for (int x = 0; x < pw; x++)
        {
            for (int y = 0; y < ph; y++) f[y] = g[y * pw + x];
            Dt1d(f, ph, dOut, v, z);
            for (int y = 0; y < ph; y++) g[y * pw + x] = dOut[y];
        }
        var result = new long[h * w];
        for (int y = 0; y < ph; y++)
        {
            for (int x = 0; x < pw; x++) f[x] = g[y * pw + x];
            Dt1d(f, pw, dOut, v, z);
            if (y >= 1 && y <= h)
                for (int x = 1; x <= w; x++) result[(y - 1) * w + (x - 1)] = (long)Math.Round(dOut[x]);
        }
        return result;
    }

    static void Dt1d(double[] f, int n, double[] d, int[] v, double[] z)
    {
        int k = 0;
        v[0] = 0; z[0] = double.NegativeInfinity; z[1] = double.PositiveInfinity;
        for (int q = 1; q < n; q++)
        {
            double s = Intersect(f, q, v[k]);
            while (s <= z[k]) { k--; s = Intersect(f, q, v[k]); } // z[0] = -inf stops this
            k++;
            v[k] = q; z[k] = s; z[k + 1] = double.PositiveInfinity;
        }
        k = 0;
        for (int q = 0; q < n; q++)
        {
            while (z[k + 1] < q) k++;
            double dq = q - v[k];
            d[q] = dq * dq + f[v[k]];
        }
    }

    static double Intersect(double[] f, int q, int p) => (f[q] + (double)q * q - (f[p] + (double)p * p)) / (2.0 * q - 2.0 * p);
}
