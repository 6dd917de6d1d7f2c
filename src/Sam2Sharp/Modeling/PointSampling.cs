using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>One simulated click: pixel (x, y) and whether it is positive (adds the pixel to the object).</summary>
public readonly record struct SampledClick(int X, int Y, bool Positive)
{
    /// <summary>The SAM point label: 1 for a positive click, 0 for a negative one.</summary>
    public int Label => Positive ? 1 : 0;
    /// <summary>The click as a prompt (foreground when positive).</summary>
    public PromptPoint ToPromptPoint() => new(X, Y, Positive ? PointLabel.Foreground : PointLabel.Background);
}

/// <summary>
/// Simulated user clicks on the error between a ground-truth mask and a prediction, as SAM 2's
/// training and interactive evaluation sample them (sam2_utils get_next_point): "center" (the
/// point deepest inside the largest error region, the RITM protocol) and "uniform" (a random
/// error pixel).
/// </summary>
public static class PointSampling
{
    /// <summary>The click samplers of SAM2Train: uniform over the error region, or its centre.</summary>
    public const string Uniform = "uniform", Center = "center";

    /// <summary>
    /// get_next_point: one new click per mask from the error between <paramref name="predMasks"/> and
    /// <paramref name="gtMasks"/> (B×1×H×W bool; null prediction = empty), by <paramref name="method"/>.
    /// Returns B×1×2 float (x, y) and B×1 int32 labels.
    /// </summary>
    public static (Tensor Points, Tensor Labels) GetNextPoint(Tensor gtMasks, Tensor? predMasks, string method, Generator? generator = null) =>
        method switch
        {
            Uniform => SampleRandomPointsFromErrors(gtMasks, predMasks, 1, generator),
            Center => SampleFromErrorCenter(gtMasks, predMasks),
            _ => throw new ArgumentException($"unknown point sampling method '{method}'"),
        };


    /// <summary>
    /// The click at the centre of the error: for the false-negative and the false-positive region, each pixel's
    /// exact Euclidean distance to the region's outside (the image border counts as outside when
    /// <paramref name="padding"/>, as the reference pads by one pixel); the first maximum in row-major order of each;
    /// positive (from the false negatives) when its distance is strictly larger. <paramref name="pred"/> null = empty.
    /// With no error at all this is the negative click (0, 0), as in the reference.
    /// </summary>
    public static SampledClick SampleFromErrorCenter(ReadOnlySpan<bool> gt, ReadOnlySpan<bool> pred, int width, int height, bool padding = true)
    {
        int n = checked(width * height);
        if (gt.Length != n) throw new ArgumentException($"gt has {gt.Length} pixels, expected {width}×{height}", nameof(gt));
        if (pred.Length != 0 && pred.Length != n) throw new ArgumentException($"pred has {pred.Length} pixels, expected {width}×{height}", nameof(pred));
        var fn = new bool[n];
        var fp = new bool[n];
        for (int i = 0; i < n; i++)
        {
            bool p = pred.Length != 0 && pred[i];
            fn[i] = gt[i] && !p;
            fp[i] = !gt[i] && p;
        }
        var fnDt = DistanceTransform(fn, width, height, padding);
        var fpDt = DistanceTransform(fp, width, height, padding);
        int fnArg = ArgMax(fnDt), fpArg = ArgMax(fpDt);
        bool positive = fnDt[fnArg] > fpDt[fpArg];
        int idx = positive ? fnArg : fpArg;
        return new SampledClick(idx % width, idx / width, positive);
    }

    /// <summary>
    /// The tensor form of sample_one_point_from_error_center: <paramref name="gtMasks"/> and <paramref name="predMasks"/>
    /// (null = empty) are B×1×H×W bool; returns B×1×2 float (x, y) points and B×1 int32 labels.
    /// </summary>
    public static (Tensor Points, Tensor Labels) SampleFromErrorCenter(Tensor gtMasks, Tensor? predMasks, bool padding = true)
    {
        CheckMasks(gtMasks, predMasks);
        int b = (int)gtMasks.shape[0], h = (int)gtMasks.shape[2], w = (int)gtMasks.shape[3];
        using var gtCpu = gtMasks.cpu().contiguous();
        using var predCpu = predMasks?.cpu().contiguous();
        var gt = gtCpu.data<bool>().ToArray();
        var pred = predCpu?.data<bool>().ToArray();
        var pts = new float[b * 2];
        var lbl = new int[b];
        int n = h * w;
        for (int i = 0; i < b; i++)
        {
            var c = SampleFromErrorCenter(gt.AsSpan(i * n, n), pred is null ? default : pred.AsSpan(i * n, n), w, h, padding);
            pts[2 * i] = c.X; pts[2 * i + 1] = c.Y; lbl[i] = c.Label;
        }
        return (tensor(pts, new long[] { b, 1, 2 }, device: gtMasks.device), tensor(lbl, new long[] { b, 1 }, device: gtMasks.device));
    }

    /// <summary>
    /// sample_random_points_from_errors: <paramref name="numPt"/> independent clicks per mask, each the pixel with the
    /// largest uniform noise over the false positives (negative) and false negatives (positive); when the prediction is
    /// all correct, over the background (negative). Masks are B×1×H×W bool (<paramref name="predMasks"/> null = empty);
    /// returns B×numPt×2 float (x, y) points and B×numPt int32 labels.
    /// </summary>
    public static (Tensor Points, Tensor Labels) SampleRandomPointsFromErrors(Tensor gtMasks, Tensor? predMasks, int numPt = 1, Generator? generator = null)
    {
        CheckMasks(gtMasks, predMasks);
        if (numPt < 0) throw new ArgumentOutOfRangeException(nameof(numPt), "numPt must not be negative");
        using var scope = NewDisposeScope();
        var pred = predMasks ?? zeros_like(gtMasks);
        long b = gtMasks.shape[0], h = gtMasks.shape[2], w = gtMasks.shape[3];
        var fp = ~gtMasks & pred;
        var fn = gtMasks & ~pred;
        var allCorrect = (gtMasks == pred).flatten(2).all(2)[TensorIndex.Ellipsis, TensorIndex.None, TensorIndex.None];
        var noise = rand(new long[] { b, numPt, h, w, 2 }, generator: generator, device: gtMasks.device);
        // Channel 0 draws negative clicks, channel 1 positive ones; the argmax over both picks the label too.
        var negWeight = (fp | (allCorrect & ~gtMasks)).to_type(noise.dtype);
        var posWeight = fn.to_type(noise.dtype);
        noise = stack(new[] { noise[TensorIndex.Ellipsis, 0] * negWeight, noise[TensorIndex.Ellipsis, 1] * posWeight }, -1);
        var idx = noise.flatten(2).argmax(2);
        var labels = (idx % 2).to_type(ScalarType.Int32);
        idx = idx.div(2, rounding_mode: RoundingMode.floor);
        var points = stack(new[] { idx % w, idx.div(w, rounding_mode: RoundingMode.floor) }, 2).to_type(float32);
        return (points.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
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

    static void CheckMasks(Tensor gt, Tensor? pred)
    {
        if (gt.dtype != ScalarType.Bool || gt.dim() != 4 || gt.shape[1] != 1)
            throw new ArgumentException("gt masks must be B×1×H×W bool", nameof(gt));
        if (pred is not null && (pred.dtype != ScalarType.Bool || !pred.shape.SequenceEqual(gt.shape)))
            throw new ArgumentException("pred masks must be bool and shaped like the gt masks", nameof(pred));
    }

    static int ArgMax(float[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /// <summary>
    /// Exact Euclidean distance transform (OpenCV's DIST_L2 with the precise mask): for each pixel that is on, the
    /// distance to the nearest pixel that is off, 0 elsewhere, in float32 (the square root of an integer, as OpenCV
    /// gives it). With <paramref name="padding"/> the image is surrounded by off pixels; without it, a mask with no off
    /// pixel at all gets <see cref="float.PositiveInfinity"/> everywhere.
    /// </summary>
    public static float[] DistanceTransform(ReadOnlySpan<bool> mask, int width, int height, bool padding = true)
    {
        int p = padding ? 1 : 0;
        int w = width + 2 * p, h = height + 2 * p;
        const long Inf = long.MaxValue / 4;
        // Squared distances on the (padded) grid: a vertical pass per column, then the lower envelope of parabolas per row
        // (Felzenszwalb and Huttenlocher); integer arithmetic keeps them exact.
        var g = new long[w * h];
        for (int x = 0; x < w; x++)
        {
            long last = -1; // row of the last off pixel seen going down
            for (int y = 0; y < h; y++)
            {
                bool on = IsOn(mask, width, height, p, x, y);
                if (!on) { last = y; g[y * w + x] = 0; }
                else g[y * w + x] = last < 0 ? Inf : (y - last);
            }
            last = -1;
            for (int y = h - 1; y >= 0; y--)
            {
                if (g[y * w + x] == 0) { last = y; continue; }
                if (last >= 0) g[y * w + x] = Math.Min(g[y * w + x], last - y);
            }
        }
        var f = new long[w];
        var v = new int[w];
        var z = new double[w + 1];
        var d2 = new long[w];
        var result = new float[width * height];
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++) { long gv = g[y * w + x]; f[x] = gv >= Inf ? Inf : gv * gv; }
            LowerEnvelope(f, v, z, d2, Inf);
            int yy = y - p;
            if (yy < 0 || yy >= height) continue;
            for (int x = 0; x < width; x++)
            {
                long d = d2[x + p];
                result[yy * width + x] = d >= Inf ? float.PositiveInfinity : MathF.Sqrt(d);
            }
        }
        return result;
    }

    static bool IsOn(ReadOnlySpan<bool> mask, int width, int height, int pad, int x, int y)
    {
        int xx = x - pad, yy = y - pad;
        return xx >= 0 && yy >= 0 && xx < width && yy < height && mask[yy * width + xx];
    }

    /// <summary>d[q] = min over k of (q − k)² + f[k] (f[k] = Inf: no parabola).</summary>
    static void LowerEnvelope(long[] f, int[] v, double[] z, long[] d, long inf)
    {
        int n = f.Length, k = -1;
        for (int q = 0; q < n; q++)
        {
            if (f[q] >= inf) continue;
            double s = 0;
            while (k >= 0)
            {
                int r = v[k];
                s = ((double)(f[q] + (long)q * q) - (f[r] + (long)r * r)) / (2.0 * (q - r));
                if (s <= z[k]) k--; else break;
            }
            if (k < 0) { k = 0; v[0] = q; z[0] = double.NegativeInfinity; z[1] = double.PositiveInfinity; }
            else { k++; v[k] = q; z[k] = s; z[k + 1] = double.PositiveInfinity; }
        }
        if (k < 0) { Array.Fill(d, inf); return; }
        int j = 0;
        for (int q = 0; q < n; q++)
        {
            while (z[j + 1] < q) j++;
            long dx = q - v[j];
            d[q] = dx * dx + f[v[j]];
        }
    }
}
