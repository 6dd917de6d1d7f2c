using Sam2Sharp.Amg;
using Sam2Sharp.Imaging;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

public class AmgUtilsTests
{
    // Row-major bool array from strings of '0'/'1' (one string per row).
    static bool[] Mask(params string[] rows) => rows.SelectMany(r => r.Select(c => c == '1')).ToArray();

    static Tensor MaskTensor(params string[] rows) =>
        tensor(Mask(rows), new long[] { rows.Length, rows[0].Length });

    // ------------------------------------------------------------ point grids and crops

    [Fact]
    public void PointGridIsRowByRowWithHalfStepOffset()
    {
        var g = AmgUtils.BuildPointGrid(2);
        // offset 1/4, linspace(0.25, 0.75, 2); x varies fastest.
        double[,] expected = { { 0.25, 0.25 }, { 0.75, 0.25 }, { 0.25, 0.75 }, { 0.75, 0.75 } };
        Assert.Equal(expected, g);

        var g3 = AmgUtils.BuildPointGrid(3);
        Assert.Equal(9, g3.GetLength(0));
        Assert.Equal(1.0 / 6, g3[0, 0], 15);
        Assert.Equal(0.5, g3[1, 0], 15);
        Assert.Equal(1 - 1.0 / 6, g3[2, 0]); // numpy sets the endpoint exactly
        Assert.Equal(1 - 1.0 / 6, g3[8, 1]);

        var g1 = AmgUtils.BuildPointGrid(1);
        Assert.Equal(new double[,] { { 0.5, 0.5 } }, g1);

        // 8 per side (the golden case): 1/16 + k/8, exact in binary.
        var g8 = AmgUtils.BuildPointGrid(8);
        for (int r = 0; r < 8; r++)
            for (int c = 0; c < 8; c++)
            {
                Assert.Equal(0.0625 + 0.125 * c, g8[r * 8 + c, 0]);
                Assert.Equal(0.0625 + 0.125 * r, g8[r * 8 + c, 1]);
            }
    }

    [Fact]
    public void AllLayerPointGridsScaleDown()
    {
        Assert.Equal(new[] { 64, 16 }, AmgUtils.BuildAllLayerPointGrids(8, 1, 2).Select(g => g.GetLength(0)));
        Assert.Equal(new[] { 1024, 256, 64 }, AmgUtils.BuildAllLayerPointGrids(32, 2, 2).Select(g => g.GetLength(0)));
        // int(5 / 2) = 2 points per side.
        Assert.Equal(new[] { 25, 4 }, AmgUtils.BuildAllLayerPointGrids(5, 1, 2).Select(g => g.GetLength(0)));
        Assert.Equal(new[] { 16, 16 }, AmgUtils.BuildAllLayerPointGrids(4, 1, 1).Select(g => g.GetLength(0)));
    }

    [Fact]
    public void CropBoxesOfTheGoldenCase()
    {
        // 600×400 (w×h), overlap ratio 512/1500. Layer 1: 2 crops per side,
        // overlap = int(0.34133 * 400 * 1) = 136, crop_w = ceil((136 + 600) / 2) = 368,
        // crop_h = ceil((136 + 400) / 2) = 268, x0 ∈ {0, 232}, y0 ∈ {0, 132}; x0 outer, y0 inner.
        var (boxes, layers) = AmgUtils.GenerateCropBoxes(400, 600, 1, 0.3413333333333333);
        Assert.Equal(new[]
        {
            new[] { 0, 0, 600, 400 },
            new[] { 0, 0, 368, 268 }, new[] { 0, 132, 368, 400 },
            new[] { 232, 0, 600, 268 }, new[] { 232, 132, 600, 400 },
        }, boxes);
        Assert.Equal(new[] { 0, 1, 1, 1, 1 }, layers);

        // Layer 2: 4 per side, overlap = int(0.34133 * 400 * 0.5) = 68,
        // crop_w = ceil((3*68 + 600) / 4) = 201, crop_h = ceil((3*68 + 400) / 4) = 151,
        // x0 ∈ {0, 133, 266, 399}, y0 ∈ {0, 83, 166, 249}, clipped to the image.
        (boxes, layers) = AmgUtils.GenerateCropBoxes(400, 600, 2, 0.3413333333333333);
        Assert.Equal(21, boxes.Count);
        Assert.Equal(new[] { 0, 0, 201, 151 }, boxes[5]);
        Assert.Equal(new[] { 0, 83, 201, 234 }, boxes[6]);
        Assert.Equal(new[] { 133, 0, 334, 151 }, boxes[9]);
        Assert.Equal(new[] { 399, 249, 600, 400 }, boxes[20]);
        Assert.Equal(Enumerable.Repeat(2, 16), layers.Skip(5));

        // No crop layers: the image only.
        (boxes, layers) = AmgUtils.GenerateCropBoxes(400, 600, 0, 0.3413333333333333);
        Assert.Single(boxes);
    }

    [Fact]
    public void UncropBoxesPointsAndMasks()
    {
        var crop = new[] { 232, 0, 600, 268 };
        var boxes = tensor(new long[] { 0, 50, 100, 100, 50, 50, 100, 100, 50, 0, 100, 100, 300, 50, 368, 260 }, new long[] { 4, 4 });
        Assert.Equal(new long[] { 232, 50, 332, 100 }, AmgUtils.UncropBoxesXyxy(boxes, crop)[0].data<long>().ToArray());
        Assert.Equal(new long[] { 2, 4, 4 }, AmgUtils.UncropBoxesXyxy(boxes.unsqueeze(0).expand(2, 4, 4), crop).shape);

        // Uncropped: [232,50,332,100] touches the crop's left edge (not the image's): near.
        // [282,50,332,100]: far from every crop edge. [282,0,332,100]: top is the image's edge too.
        // [532,50,600,260]: right is the image's edge, bottom 8 px from the crop's bottom (268): near.
        var near = AmgUtils.IsBoxNearCropEdge(boxes, crop, new[] { 0, 0, 600, 400 });
        Assert.Equal(new[] { true, false, false, true }, near.data<bool>().ToArray());

        var points = tensor(new float[] { 46f, 234.5f }, new long[] { 1, 2 });
        Assert.Equal(new[] { 46f, 366.5f }, AmgUtils.UncropPoints(points, new[] { 0, 132, 368, 400 }).data<float>().ToArray());

        // 2×3 mask in crop [1,2,4,4] of a 5×6 image: 1 column left, 2 right, 2 rows above, 1 below.
        var m = MaskTensor("101", "011").unsqueeze(0);
        var u = AmgUtils.UncropMasks(m, new[] { 1, 2, 4, 4 }, 5, 6);
        Assert.Equal(new long[] { 1, 5, 6 }, u.shape);
        Assert.Equal(ScalarType.Bool, u.dtype);
        Assert.Equal(Mask("000000", "000000", "010100", "001100", "000000"), u.data<bool>().ToArray());
        Assert.Same(m, AmgUtils.UncropMasks(m, new[] { 0, 0, 3, 2 }, 2, 3));
    }

    [Fact]
    public void BoxXyxyToXywh()
    {
        var b = tensor(new float[] { 10, 20, 15, 40 });
        Assert.Equal(new float[] { 10, 20, 5, 20 }, AmgUtils.BoxXyxyToXywh(b).data<float>().ToArray());
        Assert.Equal(new float[] { 10, 20, 15, 40 }, b.data<float>().ToArray()); // input untouched
        Assert.Equal(new double[] { 1, 2, 2, 2 }, AmgUtils.BoxXyxyToXywh(new double[] { 1, 2, 3, 4 }));
    }

    [Fact]
    public void BatchIteratorSlicesAllInputsAlike()
    {
        var a = arange(10); var b = arange(10) * 2;
        var batches = AmgUtils.BatchIterator(4, a, b).ToList();
        Assert.Equal(new long[] { 4, 4, 2 }, batches.Select(x => x[0].shape[0]));
        Assert.Equal(new long[] { 16, 18 }, batches[2][1].data<long>().ToArray());
        Assert.Throws<ArgumentException>(() => AmgUtils.BatchIterator(4, a, arange(3)).ToList());
    }

    // ------------------------------------------------------------ RLE

    // 5×10 mask, column by column (the RLE order): columns 0–2 on (15), column 3 row 0 on (16th);
    // column 3 rows 1–2 off (2); column 3 rows 3–4, columns 4–8, column 9 rows 0–2 on (2+25+3 = 30);
    // column 9 row 3 off (1); column 9 row 4 on (1). Counts [0, 16, 2, 30, 1, 1], area 47.
    static readonly string[] Rows =
    {
        "1111111111",
        "1110111111",
        "1110111111",
        "1111111110",
        "1111111111",
    };

    [Fact]
    public void RleRoundTripAndArea()
    {
        var masks = stack(new[] { MaskTensor(Rows), zeros(5, 10, dtype: ScalarType.Bool), ones(5, 10, dtype: ScalarType.Bool) });
        var rles = AmgUtils.MaskToRle(masks);
        Assert.Equal(new[] { 5, 10 }, rles[0].Size);
        Assert.Equal(new[] { 0, 16, 2, 30, 1, 1 }, rles[0].Counts);
        Assert.Equal(new[] { 50 }, rles[1].Counts);
        Assert.Equal(new[] { 0, 50 }, rles[2].Counts);
        Assert.Equal(new long[] { 47, 0, 50 }, rles.Select(AmgUtils.AreaFromRle));

        Assert.Equal(Mask(Rows), AmgUtils.RleToMaskArray(rles[0]));
        Assert.Equal(Mask(Rows), AmgUtils.RleToMask(rles[0]).data<bool>().ToArray());
        Assert.Equal(new long[] { 5, 10 }, AmgUtils.RleToMask(rles[0]).shape);
        Assert.Equal(rles[0].Counts, AmgUtils.MaskToRle(Mask(Rows), 5, 10).Counts);
        Assert.All(AmgUtils.RleToMaskArray(rles[1]), v => Assert.False(v));

        // A 2×3 mask whose first pixel is on, to check the layout: column-major runs.
        var r = AmgUtils.MaskToRle(MaskTensor("110", "010").unsqueeze(0))[0];
        // Fortran order: (0,0)=1 (1,0)=0 (0,1)=1 (1,1)=1 (0,2)=0 (1,2)=0.
        Assert.Equal(new[] { 0, 1, 1, 2, 2 }, r.Counts);
    }

    // Runs counted down the columns one pixel at a time: what the row-major RLE must reproduce.
    static int[] ColumnMajorCounts(bool[] mask, int h, int w)
    {
        var counts = new List<int>();
        bool value = false;
        int run = 0;
        for (int x = 0; x < w; x++)
            for (int y = 0; y < h; y++)
            {
                if (mask[y * w + x] != value) { counts.Add(run); run = 0; value = !value; }
                run++;
            }
        counts.Add(run);
        return counts.ToArray();
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 70)]
    [InlineData(70, 1)]
    [InlineData(37, 33)]
    [InlineData(64, 96)]
    public void RleFromRowMajorMasksCountsDownTheColumns(int h, int w)
    {
        var rng = new Random(h * 100 + w);
        // Blobs (long runs), noise (a run per pixel), stripes across and down, all off, all on.
        var masks = new List<bool[]>
        {
            Enumerable.Range(0, h * w).Select(i => Math.Pow(i / w - h / 2.0, 2) + Math.Pow(i % w - w / 3.0, 2) < h * w / 6.0).ToArray(),
            Enumerable.Range(0, h * w).Select(_ => rng.Next(2) == 1).ToArray(),
            Enumerable.Range(0, h * w).Select(i => i / w % 2 == 0).ToArray(),
            Enumerable.Range(0, h * w).Select(i => i % w % 3 == 0).ToArray(),
            new bool[h * w],
            Enumerable.Repeat(true, h * w).ToArray(),
        };
        var rles = AmgUtils.MaskToRle(stack(masks.Select(m => tensor(m, new long[] { h, w })).ToArray()));
        for (int i = 0; i < masks.Count; i++)
        {
            Assert.Equal(ColumnMajorCounts(masks[i], h, w), rles[i].Counts);
            Assert.Equal(rles[i].Counts, AmgUtils.MaskToRle(masks[i], h, w).Counts);
            Assert.Equal(masks[i], AmgUtils.RleToMaskArray(rles[i]));
        }
    }

    [Fact]
    public void BoxesInOnePassEqualTorchs()
    {
        var rng = new Random(5);
        // 37 wide: one 32-byte block and a tail; blobs, single pixels at the corners, empty, full.
        int h = 29, w = 37;
        var masks = new List<bool[]>();
        for (int k = 0; k < 6; k++)
        {
            int cx = rng.Next(w), cy = rng.Next(h), r = 2 + k;
            masks.Add(Enumerable.Range(0, h * w).Select(i => Math.Abs(i / w - cy) + Math.Abs(i % w - cx) < r).ToArray());
        }
        masks.Add(Enumerable.Range(0, h * w).Select(i => i == 0 || i == h * w - 1).ToArray());
        masks.Add(new bool[h * w]);
        masks.Add(Enumerable.Repeat(true, h * w).ToArray());
        var bools = stack(masks.Select(m => tensor(m, new long[] { h, w })).ToArray()).view(3, 3, h, w);
        var fast = AmgUtils.BatchedMaskToBox(bools);
        var viaTorch = AmgUtils.BatchedMaskToBox(bools.to_type(ScalarType.Byte)); // not bool: torch's reductions
        Assert.Equal(new long[] { 3, 3, 4 }, fast.shape);
        Assert.Equal(viaTorch.data<long>().ToArray(), fast.data<long>().ToArray());
        Assert.Equal(new long[] { 0, 0, w - 1, h - 1 }, fast[2, 0].data<long>().ToArray());
        Assert.Equal(new long[] { 0, 0, 0, 0 }, fast[2, 1].data<long>().ToArray());
    }

    [Fact]
    public void CocoRleStringOfAKnownMask()
    {
        // pycocotools rleToString on counts [0, 16, 2, 30, 1, 1]: counts from index 3 on are
        // deltas to the count two before: [0, 16, 2, 30-16=14, 1-2=-1, 1-30=-29]. Each value is
        // written in 5-bit groups, low first, char = 48 + group (| 0x20 when another group follows);
        // a group stops the value when the rest is 0 (bit 0x10 clear) or -1 (bit 0x10 set).
        //   0  -> group 0, rest 0                              -> '0'
        //   16 -> group 16 (0x10 set), rest 0 ≠ -1: continue   -> 16|32=48 -> '`', then 0 -> '0'
        //   2  -> '2'
        //   14 -> group 14, rest 0                             -> 62 -> '>'
        //   -1 -> group 31 (0x10 set), rest -1                 -> 79 -> 'O'
        //   -29 -> group 3 (0x10 clear), rest -1 ≠ 0: continue -> 3|32=35 -> 83 'S'; then group 31, rest -1 -> 'O'
        var rle = AmgUtils.MaskToRle(MaskTensor(Rows).unsqueeze(0))[0];
        var coco = AmgUtils.CocoEncodeRle(rle);
        Assert.Equal("0`02>OSO", coco.Counts);
        Assert.Equal(new[] { 5, 10 }, coco.Size);
        Assert.Equal(rle.Counts, CocoRleCodec.Decode(coco).Counts);

        // Larger values take several groups: 1000 = 8 + 31*32 -> (8|32)+48='X', 31 has 0x10 set and
        // rest 0 ≠ -1 -> (31|32)+48='o', then '0'.
        Assert.Equal("Xo0", CocoRleCodec.CountsToString(new[] { 1000 }));
        var counts = new[] { 3, 1000, 70000, 5, 123456, 2, 0, 1 };
        Assert.Equal(counts, CocoRleCodec.StringToCounts(CocoRleCodec.CountsToString(counts)));
    }

    // ------------------------------------------------------------ scores and boxes

    [Fact]
    public void StabilityScoreOnCraftedLogits()
    {
        var logits = tensor(new float[]
        {
            2, 1, -1, -2, 1.5f, 0.9f,       // > 1: {2, 1.5} = 2; > -1: {2, 1, 1.5, 0.9} = 4
            -3, -3, -3, -3, -3, -3,         // 0 / 0
            5, 5, 5, 0.5f, -0.5f, -5,       // > 1: 3; > -1: 5
        }, new long[] { 3, 2, 3 });
        var s = AmgUtils.CalculateStabilityScore(logits, 0.0, 1.0);
        Assert.Equal(ScalarType.Float32, s.dtype);
        var v = s.data<float>().ToArray();
        Assert.Equal(0.5f, v[0]);
        Assert.True(float.IsNaN(v[1]));
        Assert.Equal(0.6f, v[2]);

        // Threshold + offset of 0.7 as in the golden case: 0.75 is in, 0.7 itself is not.
        var t = tensor(new float[] { 0.75f, 0.7f, -0.69f, -0.7f }, new long[] { 1, 1, 4 });
        Assert.Equal(1f / 3f, AmgUtils.CalculateStabilityScore(t, 0.0, 0.7).item<float>());
    }

    /// <summary>The one-pass count (contiguous float32 masks) gives what torch's comparisons and sums give (a transposed
    /// view takes that path), with logits on both thresholds, NaN, and a width that is no multiple of the vector.</summary>
    [Fact]
    public void StabilityScoreInOnePassEqualsTorchs()
    {
        var g = new Generator().manual_seed(5);
        var logits = (randn(new long[] { 2, 5, 29, 37 }, generator: g) * 2).round().div_(2); // many exactly ±1 and ±0.5
        logits[0, 1] = full(29, 37, float.NaN);
        logits[1, 2] = full(29, 37, -9f);
        foreach (var offset in new[] { 1.0, 0.5, 0.7 })
        {
            var fast = AmgUtils.CalculateStabilityScore(logits, 0.0, offset);
            var viaTorch = AmgUtils.CalculateStabilityScore(logits.transpose(-1, -2), 0.0, offset);
            Assert.Equal(new long[] { 2, 5 }, fast.shape);
            Assert.Equal(ScalarType.Float32, fast.dtype);
            Assert.Equal(viaTorch.data<float>().ToArray(), fast.data<float>().ToArray());
            // A contiguous slice starts past its storage's first element: read from its own start.
            var slice = logits[1, TensorIndex.Slice(1, 4)];
            Assert.Equal(AmgUtils.CalculateStabilityScore(slice.transpose(-1, -2), 0.0, offset).data<float>().ToArray(),
                AmgUtils.CalculateStabilityScore(slice, 0.0, offset).data<float>().ToArray());
        }
        Assert.True(float.IsNaN(AmgUtils.CalculateStabilityScore(logits, 0.0, 1.0)[1, 2].item<float>()));
    }

    [Fact]
    public void BatchedMaskToBoxIncludingEmptyMasks()
    {
        var masks = stack(new[]
        {
            MaskTensor("00000", "01000", "00010", "00000"), // x 1..3, y 1..2
            MaskTensor("00000", "00000", "00000", "00000"), // empty
            MaskTensor("00000", "00000", "00000", "00001"), // single pixel (4, 3)
        });
        var boxes = AmgUtils.BatchedMaskToBox(masks);
        Assert.Equal(ScalarType.Int64, boxes.dtype);
        Assert.Equal(new long[] { 3, 4 }, boxes.shape);
        Assert.Equal(new long[] { 1, 1, 3, 2, 0, 0, 0, 0, 4, 3, 4, 3 }, boxes.data<long>().ToArray());

        Assert.Equal(new long[] { 1, 3, 4 }, AmgUtils.BatchedMaskToBox(masks.unsqueeze(0)).shape);
        var single = AmgUtils.BatchedMaskToBox(masks[0]);
        Assert.Equal(new long[] { 4 }, single.shape);
        Assert.Equal(new long[] { 1, 1, 3, 2 }, single.data<long>().ToArray());

        var none = AmgUtils.BatchedMaskToBox(zeros(new long[] { 0, 4, 5 }, dtype: ScalarType.Bool));
        Assert.Equal(new long[] { 0, 4 }, none.shape);
        Assert.Equal(ScalarType.Float32, none.dtype);

        Assert.Equal(new[] { 1, 1, 3, 2 }, AmgUtils.MaskToBox(Mask("00000", "01000", "00010", "00000"), 4, 5));
        Assert.Equal(new[] { 0, 0, 0, 0 }, AmgUtils.MaskToBox(new bool[20], 4, 5));
    }

    // ------------------------------------------------------------ NMS

    [Fact]
    public void BatchedNmsOnOverlappingBoxesWithCategories()
    {
        var boxes = tensor(new float[]
        {
            0, 0, 10, 10,    // 0: s .90 cat 0
            1, 1, 11, 11,    // 1: s .80 cat 0, IoU with 0 = 81/119 = .68 > .5: suppressed
            1, 1, 11, 11,    // 2: s .85 cat 1, other category: kept
            20, 20, 30, 30,  // 3: s .70 cat 0, disjoint: kept
            0, 0, 10, 5,     // 4: s .95 cat 0, IoU with 0 = 50/100 = .5, not > .5: both kept
            40, 40, 50, 50,  // 5: s .60 cat 2
            40, 40, 50, 50,  // 6: s .60 cat 2, same box and score: the lower index wins
        }, new long[] { 7, 4 });
        var scores = tensor(new float[] { 0.9f, 0.8f, 0.85f, 0.7f, 0.95f, 0.6f, 0.6f });
        var cats = tensor(new long[] { 0, 0, 1, 0, 0, 2, 2 });
        var keep = Nms.BatchedNms(boxes, scores, cats, 0.5);
        Assert.Equal(ScalarType.Int64, keep.dtype);
        Assert.Equal(new long[] { 4, 0, 2, 3, 5 }, keep.data<long>().ToArray());

        // All in one category: box 2 now suppressed by box 0 as well.
        var one = Nms.BatchedNms(boxes, scores, zeros(7, dtype: ScalarType.Int64), 0.5);
        Assert.Equal(new long[] { 4, 0, 3, 5 }, one.data<long>().ToArray());
        // Threshold below 0.5: box 4 suppresses box 0 (IoU exactly .5) and box 0 no longer suppresses 1/2.
        var low = Nms.NonMaxSuppression(boxes, scores, 0.49);
        Assert.Equal(new long[] { 4, 2, 3, 5 }, low.data<long>().ToArray());

        Assert.Empty(Nms.BatchedNms(zeros(0, 4), zeros(0), zeros(0, dtype: ScalarType.Int64), 0.5).data<long>().ToArray());

        // box_area keeps integer boxes integer.
        var area = Nms.BoxArea(tensor(new long[] { 0, 0, 368, 268, 232, 132, 600, 400 }, new long[] { 2, 4 }));
        Assert.Equal(ScalarType.Int64, area.dtype);
        Assert.Equal(new long[] { 98624, 98624 }, area.data<long>().ToArray());
    }

    [Fact]
    public void BatchedNmsPerCategoryPathAgreesWithCoordinateTrick()
    {
        // 1200 boxes (> 4000 coordinates) take torchvision's per-category path; each category alone
        // (400 boxes) takes the coordinate-trick path. Distinct scores, so the orders must agree.
        var rng = new Random(7);
        int n = 1200;
        var b = new float[n * 4];
        var s = new float[n];
        var c = new long[n];
        for (int i = 0; i < n; i++)
        {
            float x = rng.Next(0, 200), y = rng.Next(0, 200);
            b[4 * i] = x; b[4 * i + 1] = y; b[4 * i + 2] = x + rng.Next(5, 40); b[4 * i + 3] = y + rng.Next(5, 40);
            s[i] = (i * 7919 % n) / (float)n;
            c[i] = i % 3;
        }
        var boxes = tensor(b, new long[] { n, 4 });
        var scores = tensor(s);
        var keep = Nms.BatchedNms(boxes, scores, tensor(c), 0.3).data<long>().ToArray();

        var expected = new List<long>();
        for (int cat = 0; cat < 3; cat++)
        {
            var members = Enumerable.Range(0, n).Where(i => c[i] == cat).Select(i => (long)i).ToArray();
            var idx = tensor(members);
            var k = Nms.BatchedNms(boxes.index_select(0, idx), scores.index_select(0, idx),
                zeros(members.Length, dtype: ScalarType.Int64), 0.3).data<long>().ToArray();
            expected.AddRange(k.Select(j => members[j]));
        }
        var ordered = expected.OrderByDescending(i => s[i]).ToArray();
        Assert.True(keep.Length > 100 && keep.Length < n);
        Assert.Equal(ordered, keep);
    }

    // ------------------------------------------------------------ connected components

    [Fact]
    public void FourAndEightConnectivityDiffer()
    {
        var x = Mask("101", "010", "101");
        var eight = ConnectedComponents.Label(x, 3, 3, Connectivity.Eight);
        Assert.Equal(2, eight.LabelCount);
        Assert.Equal(new ComponentStats(0, 0, 3, 3, 5), eight.Stats[1]);
        // The background's four pixels touch diagonally: one component too (checked by labelling it).
        var bg = ConnectedComponents.Label(x.Select(v => !v).ToArray(), 3, 3, Connectivity.Eight);
        Assert.Equal(1, bg.ComponentCount);
        Assert.Equal(4, bg.Area(1));
        Assert.Equal(5, bg.Area(0));

        var four = ConnectedComponents.Label(x, 3, 3, Connectivity.Four);
        Assert.Equal(5, four.ComponentCount);
        Assert.All(Enumerable.Range(1, 5), l => Assert.Equal(1, four.Area(l)));
        Assert.Equal(new[] { 1, 0, 2, 0, 3, 0, 4, 0, 5 }, four.Labels);
        Assert.Equal(4, four.Area(0));
        Assert.Equal(new ComponentStats(0, 0, 3, 3, 4), four.Stats[0]);

        // A U shape: two provisional labels merged on the last row.
        var u = ConnectedComponents.Label(Mask("1001", "1001", "1111"), 3, 4, Connectivity.Four);
        Assert.Equal(1, u.ComponentCount);
        Assert.Equal(8, u.Area(1));
        Assert.Equal(new ComponentStats(0, 0, 4, 3, 8), u.Stats[1]);

        var mat = new bool[,] { { true, false }, { false, true } };
        Assert.Equal(1, ConnectedComponents.Label(mat).ComponentCount);
        Assert.Equal(2, ConnectedComponents.Label(mat, Connectivity.Four).ComponentCount);
    }

    [Fact]
    public void LabelOrderFollowsOpenCv()
    {
        // Pixel (row 1, col 0) and pixel (row 0, col 3). 8-connectivity (OpenCV's 2×2-block
        // algorithms) numbers by the first 2×2 block: block (rows 0-1, cols 0-1) comes first.
        // 4-connectivity numbers by the first pixel in raster order.
        var x = Mask("0001", "1000");
        var eight = ConnectedComponents.Label(x, 2, 4, Connectivity.Eight);
        Assert.Equal(new[] { 0, 0, 0, 2, 1, 0, 0, 0 }, eight.Labels);
        var four = ConnectedComponents.Label(x, 2, 4, Connectivity.Four);
        Assert.Equal(new[] { 0, 0, 0, 1, 2, 0, 0, 0 }, four.Labels);
    }

    [Fact]
    public void GetConnectedComponentsGivesAreasPerPixel()
    {
        var m = stack(new[] { MaskTensor("1100", "0001", "0011"), MaskTensor("0000", "0000", "0000") }).unsqueeze(1)
            .to_type(ScalarType.Byte);
        var (labels, areas) = ConnectedComponents.GetConnectedComponents(m);
        Assert.Equal(new long[] { 2, 1, 3, 4 }, labels.shape);
        Assert.Equal(ScalarType.Int32, areas.dtype);
        Assert.Equal(new[] { 2, 2, 0, 0, 0, 0, 0, 3, 0, 0, 3, 3 }, areas[0].flatten().data<int>().ToArray());
        Assert.All(areas[1].flatten().data<int>().ToArray(), v => Assert.Equal(0, v));
        var l0 = labels[0].flatten().data<int>().ToArray();
        Assert.True(l0[0] > 0 && l0[0] == l0[1] && l0[7] > 0 && l0[7] != l0[0] && l0[2] == 0);
    }

    [Fact]
    public void FillHolesInMaskScoresFillsSmallBackgroundComponents()
    {
        var a = new float[]
        {
            0, -1, -1, -1, -1,
            -1, 3, 3, 3, -1,
            -1, 3, -2, 3, -1,
            -1, 3, 3, 3, -1,
            -1, -1, -1, -1, -1,
        };
        // Two diagonal background pixels: one 8-connected hole of area 2 (padded to 5×5).
        var b = new float[]
        {
            3, 3, 3, 3, 3,
            3, -1, 3, 3, 3,
            3, 3, -1, 3, 3,
            3, 3, 3, 3, 3,
            3, 3, 3, 3, 3,
        };
        var logits = tensor(a.Concat(b).ToArray(), new long[] { 2, 1, 5, 5 });

        var r1 = ConnectedComponents.FillHolesInMaskScores(logits, 1).data<float>().ToArray();
        Assert.Equal(0.1f, r1[12]);               // the 1-pixel hole
        Assert.Equal(0f, r1[0]);                  // the outer ring (area 16, a 0 counts as background)
        Assert.Equal(-1f, r1[1]);
        Assert.Equal(-1f, r1[25 + 6]);            // the diagonal hole has area 2 > 1
        Assert.Equal(3f, r1[6]);

        var r2 = ConnectedComponents.FillHolesInMaskScores(logits, 2).data<float>().ToArray();
        Assert.Equal(0.1f, r2[25 + 6]);
        Assert.Equal(0.1f, r2[25 + 12]);
        Assert.Equal(-1f, r2[1]);

        var r16 = ConnectedComponents.FillHolesInMaskScores(logits, 16).data<float>().ToArray();
        Assert.Equal(0.1f, r16[0]);
        Assert.Equal(0.1f, r16[24]);
        Assert.Equal(3f, r16[6]);

        Assert.Throws<ArgumentOutOfRangeException>(() => ConnectedComponents.FillHolesInMaskScores(logits, 0));
        Assert.Equal(ScalarType.Float16,
            ConnectedComponents.FillHolesInMaskScores(logits.to_type(ScalarType.Float16), 1).dtype);
    }

    [Fact]
    public void HolesAndSprinklesAreBothFoundOnTheInputScores()
    {
        // A ring of 8 foreground pixels around a 1-pixel hole, in a background field. With max hole
        // area 1 and max sprinkle area 8: the hole becomes +10 and the ring (area 8 in the input,
        // though 9 once the hole is filled) becomes -10, as in SAM2Transforms.postprocess_masks.
        var x = tensor(new float[]
        {
            -4, -4, -4, -4, -4,
            -4, 5, 5, 5, -4,
            -4, 5, -1, 5, -4,
            -4, 5, 5, 5, -4,
            -4, -4, -4, -4, -4,
        }, new long[] { 1, 1, 5, 5 });
        var r = ConnectedComponents.FillHolesAndRemoveSprinkles(x, 0.0, 1, 8).data<float>().ToArray();
        Assert.Equal(10f, r[12]);
        Assert.Equal(-10f, r[6]);
        Assert.Equal(-4f, r[0]);

        var onlyHoles = ConnectedComponents.FillHolesAndRemoveSprinkles(x, 0.0, 1, 0).data<float>().ToArray();
        Assert.Equal(10f, onlyHoles[12]);
        Assert.Equal(5f, onlyHoles[6]);
        var onlySprinkles = ConnectedComponents.FillHolesAndRemoveSprinkles(x, 0.0, 0, 7).data<float>().ToArray();
        Assert.Equal(-1f, onlySprinkles[12]);
        Assert.Equal(5f, onlySprinkles[6]); // area 8 > 7
    }

    // ------------------------------------------------------------ remove_small_regions

    [Fact]
    public void RemoveSmallHolesUsesEightConnectivity()
    {
        var m = Mask("11111", "10111", "11011", "11111", "11111");
        // The two background pixels touch diagonally: one hole of area 2, not two of area 1.
        var (same, changed) = AmgUtils.RemoveSmallRegions(m, 5, 5, 2, RegionMode.Holes);
        Assert.False(changed);
        Assert.Same(m, same);
        var (filled, changed3) = AmgUtils.RemoveSmallRegions(m, 5, 5, 3, RegionMode.Holes);
        Assert.True(changed3);
        Assert.All(filled, v => Assert.True(v));

        // Background touching the border is a hole like any other if it is small.
        var edge = Mask("0111", "1111");
        Assert.Equal(Mask("1111", "1111"), AmgUtils.RemoveSmallRegions(edge, 2, 4, 2, RegionMode.Holes).Mask);
    }

    [Fact]
    public void RemoveSmallIslandsUsesEightConnectivityAndKeepsTheLargest()
    {
        var m = Mask("100000", "010000", "000000", "000111", "000111", "000111");
        var big = Mask("000000", "000000", "000000", "000111", "000111", "000111");

        // Diagonal pair = one island of area 2: not below 2.
        var (same, changed) = AmgUtils.RemoveSmallRegions(m, 6, 6, 2, RegionMode.Islands);
        Assert.False(changed);
        Assert.Same(m, same);

        var (r3, c3) = AmgUtils.RemoveSmallRegions(m, 6, 6, 3, RegionMode.Islands);
        Assert.True(c3);
        Assert.Equal(big, r3);

        // Every island is small: the largest is kept.
        var (r100, c100) = AmgUtils.RemoveSmallRegions(m, 6, 6, 100, RegionMode.Islands);
        Assert.True(c100);
        Assert.Equal(big, r100);

        // A tie between two 1-pixel islands: OpenCV's label 1 (the first 2×2 block) is kept.
        var (tie, _) = AmgUtils.RemoveSmallRegions(Mask("0001", "1000"), 2, 4, 5, RegionMode.Islands);
        Assert.Equal(Mask("0000", "1000"), tie);

        // Empty mask: nothing to do in either mode.
        var empty = new bool[12];
        Assert.False(AmgUtils.RemoveSmallRegions(empty, 3, 4, 20, RegionMode.Islands).Changed);
        Assert.False(AmgUtils.RemoveSmallRegions(empty, 3, 4, 5, RegionMode.Holes).Changed);

        var (t, tc) = AmgUtils.RemoveSmallRegions(tensor(m, new long[] { 6, 6 }), 3, AmgUtils.ParseRegionMode("islands"));
        Assert.True(tc);
        Assert.Equal(big, t.data<bool>().ToArray());
        Assert.Throws<ArgumentException>(() => AmgUtils.ParseRegionMode("specks"));
    }

    // ------------------------------------------------------------ MaskData

    [Fact]
    public void MaskDataFiltersAndConcatenates()
    {
        var d = new MaskData
        {
            IouPreds = tensor(new float[] { 0.9f, 0.2f, 0.7f }),
            Boxes = tensor(new long[] { 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3 }, new long[] { 3, 4 }),
            Rles = new List<Rle> { new(1, 1, new[] { 1 }), new(1, 1, new[] { 0, 1 }), new(1, 1, new[] { 1 }) },
        };
        Assert.Equal(3, d.Count);
        d.Filter(d.IouPreds! > 0.5);
        Assert.Equal(2, d.Count);
        Assert.Equal(new[] { 0.9f, 0.7f }, d.IouPreds!.data<float>().ToArray());
        Assert.Equal(new long[] { 0, 0, 1, 1, 2, 2, 3, 3 }, d.Boxes!.data<long>().ToArray());
        Assert.Equal(2, d.Rles!.Count);

        d.Filter(new long[] { 1, 0 });
        Assert.Equal(new[] { 0.7f, 0.9f }, d.IouPreds!.data<float>().ToArray());

        var e = new MaskData { IouPreds = tensor(new float[] { 0.5f }), Boxes = zeros(new long[] { 1, 4 }, dtype: ScalarType.Int64), Rles = new List<Rle> { new(1, 1, new[] { 1 }) } };
        d.Cat(e);
        Assert.Equal(3, d.Count);
        Assert.Equal(new[] { 0.7f, 0.9f, 0.5f }, d.IouPreds!.data<float>().ToArray());
        Assert.Equal(3, d.Rles!.Count);

        var f = new MaskData();
        f.Cat(e);
        Assert.Equal(1, f.Count);
        Assert.NotSame(e.IouPreds, f.IouPreds);

        d.ToCpuFloat();
        Assert.Equal(ScalarType.Float32, d.Boxes!.dtype);
        d.Dispose();
        Assert.Equal(0, d.Count);
    }

    [Fact]
    public void PostprocessSmallRegionsRewritesChangedMasks()
    {
        // Mask 0 has a 1-pixel island next to a big blob: changed. Mask 1 is clean and a near copy
        // of mask 0's blob: NMS (IoU > 0.5) prefers the unchanged one (score 1) and drops mask 0.
        // Mask 2 is a lone changed mask (small hole): kept, its RLE and box rewritten.
        var m0 = Mask("1000000", "0000000", "0001111", "0001111", "0001111");
        var m1 = Mask("0000000", "0000000", "0001111", "0001111", "0001111");
        var m2 = Mask("1110000", "1010000", "1110000", "0000000", "0000000");
        var data = new MaskData
        {
            Rles = new List<Rle> { AmgUtils.MaskToRle(m0, 5, 7), AmgUtils.MaskToRle(m1, 5, 7), AmgUtils.MaskToRle(m2, 5, 7) },
            Boxes = tensor(new float[] { 0, 0, 6, 4, 3, 2, 6, 4, 9, 9, 9, 9 }, new long[] { 3, 4 }),
            IouPreds = tensor(new float[] { 0.9f, 0.8f, 0.7f }),
        };
        AmgUtils.PostprocessSmallRegions(data, 2, 0.5);
        Assert.Equal(2, data.Count);
        Assert.Equal(new[] { 0.8f, 0.7f }, data.IouPreds!.data<float>().ToArray());
        Assert.Equal(Mask("1110000", "1110000", "1110000", "0000000", "0000000"), AmgUtils.RleToMaskArray(data.Rles![1]));
        Assert.Equal(new float[] { 3, 2, 6, 4, 0, 0, 2, 2 }, data.Boxes!.data<float>().ToArray());
    }

    // ------------------------------------------------------------ golden automatic masks

    public static IEnumerable<object[]> AmgCases() => Golden.CasesOfKind("automatic_masks");

    [Theory]
    [MemberData(nameof(AmgCases))]
    public void GoldenAnnotationsFollowFromTheExpectedMasks(string folder, string caseName)
    {
        var c = Golden.Case(folder, caseName);
        var prompts = c.GetProperty("prompts");
        var anns = c.GetProperty("annotations").EnumerateArray().ToList();
        var tensors = Golden.Tensors(Path.Combine(folder, c.GetProperty("expected").GetString()!));
        var keys = tensors.Keys.Where(k => k.StartsWith("mask_")).OrderBy(k => k, StringComparer.Ordinal).ToList();
        Assert.Equal(anns.Count, keys.Count);

        int h = (int)tensors[keys[0]].shape[0], w = (int)tensors[keys[0]].shape[1];
        var (crops, layers) = AmgUtils.GenerateCropBoxes(h, w, prompts.GetProperty("crop_n_layers").GetInt32(),
            prompts.GetProperty("crop_overlap_ratio").GetDouble());
        var grids = AmgUtils.BuildAllLayerPointGrids(prompts.GetProperty("points_per_side").GetInt32(),
            prompts.GetProperty("crop_n_layers").GetInt32(), prompts.GetProperty("crop_n_points_downscale_factor").GetInt32());
        int minArea = prompts.GetProperty("min_mask_region_area").GetInt32();

        var masks = stack(keys.Select(k => tensors[k] != 0).ToArray());
        var rles = AmgUtils.MaskToRle(masks);
        var boxes = AmgUtils.BatchedMaskToBox(masks);
        for (int i = 0; i < anns.Count; i++)
        {
            var ann = anns[i];
            Assert.Equal(ann.GetProperty("area").GetInt64(), AmgUtils.AreaFromRle(rles[i]));
            var bbox = ann.GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            var xywh = AmgUtils.BoxXyxyToXywh(boxes[i].to_type(ScalarType.Float32)).data<float>().ToArray();
            Assert.Equal(bbox, xywh.Select(v => (double)v).ToArray());

            // Round trip through the RLE.
            var arr = masks[i].data<bool>().ToArray();
            Assert.Equal(arr, AmgUtils.RleToMaskArray(rles[i]));
            Assert.Equal(rles[i].Counts, CocoRleCodec.Decode(AmgUtils.CocoEncodeRle(rles[i])).Counts);

            // The crop box is one of the generated crops (XYWH in the annotation) and the point
            // one of that crop layer's grid points, scaled to the crop and shifted.
            var cropXywh = ann.GetProperty("crop_box").EnumerateArray().Select(v => (int)v.GetDouble()).ToArray();
            int ci = crops.FindIndex(b => b[0] == cropXywh[0] && b[1] == cropXywh[1]
                && b[2] - b[0] == cropXywh[2] && b[3] - b[1] == cropXywh[3]);
            Assert.True(ci >= 0, $"mask {i}: crop box not generated");
            var pt = ann.GetProperty("point_coords")[0].EnumerateArray().Select(v => v.GetDouble()).ToArray();
            var grid = grids[layers[ci]];
            bool found = false;
            for (int p = 0; p < grid.GetLength(0) && !found; p++)
                found = Math.Abs(grid[p, 0] * cropXywh[2] + cropXywh[0] - pt[0]) < 1e-3
                    && Math.Abs(grid[p, 1] * cropXywh[3] + cropXywh[1] - pt[1]) < 1e-3;
            Assert.True(found, $"mask {i}: point ({pt[0]}, {pt[1]}) not on the grid of crop {ci}");

            // remove_small_regions on real masks against an independent flood fill. (SAM 2's
            // generator never calls postprocess_small_regions: min_mask_region_area only becomes the
            // predictor's max_hole_area / max_sprinkle_area on the low-resolution logits, so the
            // full-resolution masks can still hold small holes and islands, and some do.)
            CheckRemoveSmallRegions(arr, h, w, minArea, $"mask {i}");
        }
    }

    // Expected remove_small_regions results from a plain 8-neighbour flood fill.
    static void CheckRemoveSmallRegions(bool[] mask, int h, int w, int minArea, string what)
    {
        foreach (var mode in new[] { RegionMode.Holes, RegionMode.Islands })
        {
            bool target = mode == RegionMode.Islands; // pixels whose components are examined
            var (comp, sizes) = FloodFill(mask, h, w, target);
            var cc = ConnectedComponents.Label(mask.Select(v => v == target).ToArray(), h, w);
            Assert.Equal(sizes.OrderBy(v => v), cc.Stats.Skip(1).Select(st => st.Area).OrderBy(v => v));

            bool anySmall = sizes.Any(v => v < minArea);
            var (result, changed) = AmgUtils.RemoveSmallRegions(mask, h, w, minArea, mode);
            Assert.True(anySmall == changed, $"{what} {mode}: changed={changed}, expected {anySmall}");
            if (!anySmall) { Assert.Same(mask, result); continue; }

            var expected = new bool[mask.Length];
            if (mode == RegionMode.Holes)
            {
                for (int p = 0; p < mask.Length; p++) expected[p] = mask[p] || sizes[comp[p]] < minArea;
            }
            else
            {
                bool anyBig = sizes.Any(v => v >= minArea);
                int largest = sizes.Max();
                if (!anyBig && sizes.Count(v => v == largest) > 1) continue; // tie: order-dependent
                for (int p = 0; p < mask.Length; p++)
                    expected[p] = comp[p] >= 0 && (anyBig ? sizes[comp[p]] >= minArea : sizes[comp[p]] == largest);
            }
            Assert.True(expected.SequenceEqual(result), $"{what} {mode}: result differs from the flood fill");
        }
    }

    // Components of the pixels equal to `target`: component index per pixel (-1 elsewhere) and sizes.
    static (int[] Comp, List<int> Sizes) FloodFill(bool[] mask, int h, int w, bool target)
    {
        var comp = new int[mask.Length];
        Array.Fill(comp, -1);
        var sizes = new List<int>();
        var stack = new Stack<int>();
        for (int start = 0; start < mask.Length; start++)
        {
            if (mask[start] != target || comp[start] >= 0) continue;
            int id = sizes.Count, size = 0;
            comp[start] = id;
            stack.Push(start);
            while (stack.Count > 0)
            {
                int p = stack.Pop();
                size++;
                int y = p / w, x = p % w;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int yy = y + dy, xx = x + dx;
                        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                        int q = yy * w + xx;
                        if (mask[q] == target && comp[q] < 0) { comp[q] = id; stack.Push(q); }
                    }
            }
            sizes.Add(size);
        }
        return (comp, sizes);
    }
}
