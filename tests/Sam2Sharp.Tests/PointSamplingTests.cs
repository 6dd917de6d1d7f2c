using Sam2Sharp.Modeling;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>The click samplers: hand-computed cases and the clicks of the golden SAM2Train case.</summary>
public class PointSamplingTests
{
    static bool[] Grid(params string[] rows) => rows.SelectMany(r => r.Select(c => c == '#')).ToArray();

    [Fact]
    public void DistanceTransformIsExactEuclidean()
    {
        // A 5×5 block inside a 7×7 image: distances to the nearest off pixel are 1, 2, 3 towards the centre.
        var m = Grid(
            ".......",
            ".#####.",
            ".#####.",
            ".#####.",
            ".#####.",
            ".#####.",
            ".......");
        var dt = PointSampling.DistanceTransform(m, 7, 7);
        Assert.Equal(0f, dt[0]);
        Assert.Equal(1f, dt[1 * 7 + 1]);
        Assert.Equal(2f, dt[2 * 7 + 2]);
        Assert.Equal(3f, dt[3 * 7 + 3]);
        Assert.Equal(2f, dt[3 * 7 + 2]);

        // One off pixel in a corner, no padding: exact distances sqrt(dx² + dy²), not a chamfer approximation.
        var all = Enumerable.Repeat(true, 16).ToArray();
        all[0] = false;
        var d = PointSampling.DistanceTransform(all, 4, 4, padding: false);
        Assert.Equal(MathF.Sqrt(13), d[3 * 4 + 2]); // (x 2, y 3)
        Assert.Equal(MathF.Sqrt(18), d[3 * 4 + 3]);
        Assert.Equal(3f, d[3]);
        // With padding the border is off too: every pixel is at most 1 from it here except the inner 2×2 (2).
        var dp = PointSampling.DistanceTransform(all, 4, 4, padding: true);
        Assert.Equal(1f, dp[3 * 4 + 3]);
        Assert.Equal(2f, dp[2 * 4 + 2]);
        Assert.Equal(MathF.Sqrt(2), dp[1 * 4 + 1]); // nearest off: (0, 0)
    }

    [Fact]
    public void DistanceTransformMatchesBruteForce()
    {
        var rng = new Random(5);
        for (int trial = 0; trial < 20; trial++)
        {
            int w = rng.Next(1, 14), h = rng.Next(1, 14);
            var m = Enumerable.Range(0, w * h).Select(_ => rng.NextDouble() < 0.75).ToArray();
            var dt = PointSampling.DistanceTransform(m, w, h);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    long best = long.MaxValue;
                    for (int yy = -1; yy <= h; yy++)
                        for (int xx = -1; xx <= w; xx++)
                        {
                            bool on = xx >= 0 && yy >= 0 && xx < w && yy < h && m[yy * w + xx];
                            if (!on) best = Math.Min(best, (long)(x - xx) * (x - xx) + (long)(y - yy) * (y - yy));
                        }
                    float expected = m[y * w + x] ? MathF.Sqrt(best) : 0f;
                    Assert.Equal(expected, dt[y * w + x]);
                }
        }
    }

    [Fact]
    public void CenterSamplerPicksTheDeepestErrorPixel()
    {
        // Ground truth: a 3×3 block; prediction empty → positive click at its centre.
        var gt = Grid(
            "......",
            ".###..",
            ".###..",
            ".###..",
            "......");
        Assert.Equal(new SampledClick(2, 2, true), PointSampling.SampleFromErrorCenter(gt, default, 6, 5));

        // A larger false positive (3×3 at the right) beats a 1-pixel false negative → negative click at its centre.
        var gt2 = Grid(
            "#.....",
            "......",
            "......",
            "......",
            "......");
        var pred2 = Grid(
            "......",
            "...###",
            "...###",
            "...###",
            "......");
        Assert.Equal(new SampledClick(4, 2, false), PointSampling.SampleFromErrorCenter(gt2, pred2, 6, 5));

        // Equal depth (1 and 1): not strictly larger, so the false positive wins; first maximum in row-major order.
        var gt3 = Grid("#...#", ".....");
        var pred3 = Grid("..#..", ".....");
        Assert.Equal(new SampledClick(2, 0, false), PointSampling.SampleFromErrorCenter(gt3, pred3, 5, 2));
        var gt4 = Grid("#...#", "....#");
        var pred4 = Grid("..#..", ".....");
        // Now the false negatives are still depth 1 (padding makes the border count) → tie again, negative.
        Assert.Equal(new SampledClick(2, 0, false), PointSampling.SampleFromErrorCenter(gt4, pred4, 5, 2));

        // No error at all: the reference's negative click at (0, 0).
        Assert.Equal(new SampledClick(0, 0, false), PointSampling.SampleFromErrorCenter(gt, gt, 6, 5));

        // Tensor form: a batch of two.
        using var g = tensor(gt.Concat(gt2).ToArray(), new long[] { 2, 1, 5, 6 });
        using var p = tensor(new bool[30].Concat(pred2).ToArray(), new long[] { 2, 1, 5, 6 });
        var (pts, lbl) = PointSampling.SampleFromErrorCenter(g, p);
        Assert.Equal(new float[] { 2, 2, 4, 2 }, pts.data<float>().ToArray());
        Assert.Equal(new[] { 1, 0 }, lbl.data<int>().ToArray());
        Assert.Equal(new long[] { 2, 1, 2 }, pts.shape);
    }

    [Fact]
    public void UniformSamplerDrawsFromTheErrors()
    {
        var gt = Grid(
            "......",
            ".###..",
            ".###..",
            "......");
        var pred = Grid(
            "......",
            ".##...",
            ".###.#",
            "......");
        using var g = tensor(gt, new long[] { 1, 1, 4, 6 });
        using var p = tensor(pred, new long[] { 1, 1, 4, 6 });
        var gen = new Generator(7);
        var (pts, lbl) = PointSampling.SampleRandomPointsFromErrors(g, p, numPt: 50, generator: gen);
        Assert.Equal(new long[] { 1, 50, 2 }, pts.shape);
        Assert.Equal(new long[] { 1, 50 }, lbl.shape);
        var xy = pts.data<float>().ToArray();
        var l = lbl.data<int>().ToArray();
        bool sawPos = false, sawNeg = false;
        for (int i = 0; i < 50; i++)
        {
            int x = (int)xy[2 * i], y = (int)xy[2 * i + 1];
            if (l[i] == 1) { Assert.Equal((3, 1), (x, y)); sawPos = true; } // the one false negative
            else { Assert.Equal((5, 2), (x, y)); sawNeg = true; }           // the one false positive
        }
        Assert.True(sawPos && sawNeg);

        // All correct: negative clicks on the background.
        var (pts2, lbl2) = PointSampling.SampleRandomPointsFromErrors(g, g, numPt: 20, generator: gen);
        Assert.All(lbl2.data<int>().ToArray(), v => Assert.Equal(0, v));
        var xy2 = pts2.data<float>().ToArray();
        for (int i = 0; i < 20; i++) Assert.False(gt[(int)xy2[2 * i + 1] * 6 + (int)xy2[2 * i]]);

        // No prediction: positive clicks inside the ground truth.
        var (pts3, lbl3) = PointSampling.SampleRandomPointsFromErrors(g, null, numPt: 20, generator: gen);
        Assert.All(lbl3.data<int>().ToArray(), v => Assert.Equal(1, v));
        var xy3 = pts3.data<float>().ToArray();
        for (int i = 0; i < 20; i++) Assert.True(gt[(int)xy3[2 * i + 1] * 6 + (int)xy3[2 * i]]);
    }

    /// <summary>
    /// The golden SAM2Train case (eval mode, "center" sampling): the first click of each object is sampled from its
    /// ground truth alone, and correction click s+1 from the error between the ground truth and the best mask of step s
    /// (the high-resolution multimask with the highest predicted IoU, logits &gt; 0). Every golden click is reproduced.
    /// </summary>
    [Fact]
    public void ReproducesGoldenTrainingClicks()
    {
        var folders = Golden.Folders().Where(f => File.Exists(Path.Combine(f, "train", "expected.safetensors"))).ToList();
        Assert.NotEmpty(folders);
        int checkedClicks = 0;
        foreach (var folder in folders)
        {
            var exp = Golden.Tensors(Path.Combine(folder, "train", "expected.safetensors"));
            var inputs = Golden.Tensors(Path.Combine(folder, "train", "inputs.safetensors"));
            var masks = inputs["masks"]; // T×O×S×S
            for (int t = 0; t < masks.shape[0]; t++)
            {
                var gt = masks[t].unsqueeze(1) > 0; // O×1×S×S
                Tensor? pred = null;
                for (int s = 0; exp.ContainsKey($"f{t}_step{s}_point_coords"); s++)
                {
                    var coords = exp[$"f{t}_step{s}_point_coords"];
                    var labels = exp[$"f{t}_step{s}_point_labels"];
                    var (pts, lbl) = PointSampling.SampleFromErrorCenter(gt, pred);
                    var expectedPts = coords[TensorIndex.Colon, TensorIndex.Slice(s, s + 1)];
                    var expectedLbl = labels[TensorIndex.Colon, TensorIndex.Slice(s, s + 1)].to_type(ScalarType.Int32);
                    Assert.True(expectedPts.shape.SequenceEqual(pts.shape) && (expectedPts == pts).all().item<bool>(),
                        $"{Path.GetFileName(folder)} f{t} step{s}: click {string.Join(",", pts.data<float>().ToArray())} != {string.Join(",", expectedPts.data<float>().ToArray())}");
                    Assert.True(expectedLbl.shape.SequenceEqual(lbl.shape) && (expectedLbl == lbl).all().item<bool>(), $"f{t} step{s}: labels differ");
                    checkedClicks += (int)pts.shape[0];

                    // The prediction the next click corrects: the best of this step's masks.
                    var multi = exp[$"f{t}_step{s}_multimasks"].to_type(float32);
                    var ious = exp[$"f{t}_step{s}_ious"];
                    var best = ious.argmax(1);
                    var chosen = multi[arange(multi.shape[0]), best].unsqueeze(1);
                    pred = chosen > 0;
                }
            }
        }
        Assert.True(checkedClicks >= 8, $"only {checkedClicks} golden clicks checked");
    }
}
