using Sam2Sharp.Amg;
using Sam2Sharp.Imaging;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>The crops of a layer encoded as one batch give the masks of one crop at a time (golden micro model).</summary>
public class AmgCropBatchTests
{
    static string Folder => Golden.Folders()[0];

    /// <summary>The golden automatic-mask cases with crop layers (the reference's options; its masks are checked elsewhere).</summary>
    public static IEnumerable<object[]> CropCases() => Golden.CasesOfKind("automatic_masks")
        .Where(c => AutomaticMaskGeneratorGoldenTests.Options(Golden.Case((string)c[0], (string)c[1]).GetProperty("prompts")).CropNLayers > 0);

    [Theory]
    [MemberData(nameof(CropCases))]
    public void BatchedCropsEqualOneAtATime(string folder, string name)
    {
        var c = Golden.Case(folder, name);
        var options = AutomaticMaskGeneratorGoldenTests.Options(c.GetProperty("prompts"));
        var img = RgbImage.Load(Path.Combine(folder, c.GetProperty("image").GetString()!));
        var model = ImagePredictorGoldenTests.Model(folder);
        List<MaskAnnotation> Run(int cropsPerBatch)
        {
            using var g = new Sam2AutomaticMaskGenerator(model, options) { MaxCropsPerEncoderBatch = cropsPerBatch };
            return g.Generate(img);
        }
        var single = Run(1);
        var batched = Run(4);

        Assert.NotEmpty(single);
        // Not vacuous where the reference kept crop masks: masks of layer-1 crops are there (their box is not the whole image).
        if (c.GetProperty("annotations").EnumerateArray().Any(a => a.GetProperty("crop_box")[2].GetDouble() < img.Width))
            Assert.Contains(single, a => a.CropBox[2] < img.Width || a.CropBox[3] < img.Height);
        Assert.Equal(single.Count, batched.Count);
        for (int i = 0; i < single.Count; i++)
        {
            var (s, b) = (single[i], batched[i]);
            Assert.Equal(s.CropBox, b.CropBox);
            Assert.Equal(s.PointCoords[0], b.PointCoords[0]);
            Assert.True(Math.Abs(s.PredictedIou - b.PredictedIou) <= 1e-4, $"mask {i}: predicted IoU {b.PredictedIou} vs {s.PredictedIou}");
            Assert.True(Math.Abs(s.StabilityScore - b.StabilityScore) <= 1e-3, $"mask {i}: stability {b.StabilityScore} vs {s.StabilityScore}");
            var (sm, bm) = (s.Segmentation.ToMaskArray(), b.Segmentation.ToMaskArray());
            int differ = sm.Zip(bm).Count(p => p.First != p.Second);
            Assert.True(differ <= sm.Length / 10000, $"mask {i}: {differ} of {sm.Length} pixels differ");
        }
    }

    [Fact]
    public void EncoderBatchEqualsSingleImages()
    {
        var img = RgbImage.Load(Path.Combine(Folder, "inputs", "image.png"));
        var model = ImagePredictorGoldenTests.Model(Folder);
        var (boxes, layers) = AmgUtils.GenerateCropBoxes(img.Height, img.Width, 1, new AmgOptions().CropOverlapRatio);
        var crops = boxes.Where((_, i) => layers[i] == 1).Select(b => Sam2AutomaticMaskGenerator.Crop(img, b)).ToList();
        Assert.Equal(4, crops.Count);
        using var batch = new Sam2ImagePredictor(model);
        batch.SetImageBatch(crops);
        using var one = new Sam2ImagePredictor(model);
        for (int k = 0; k < crops.Count; k++)
        {
            one.SetImage(crops[k]);
            using var e = batch.ImageEmbedding[TensorIndex.Slice(k, k + 1)];
            double d = Golden.MaxAbsDiff(e, one.ImageEmbedding);
            Assert.True(d <= 1e-4, $"crop {k}: embedding differs by {d}");
        }
    }
}
