using System.Text.Json;
using Sam2Sharp.Imaging;
using Sam2Sharp.Modeling;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>The whole image path (preprocessing, encoder, heads, post-processing) against the reference.</summary>
public class ImagePredictorGoldenTests
{
    public static IEnumerable<object[]> FeatureCases() => Golden.CasesOfKind("image_features");
    public static IEnumerable<object[]> PredictCases() => Golden.CasesOfKind("image_predict");

    static readonly Dictionary<(string, Sam2Precision), Sam2Base> Models = new();

    /// <summary>The folder's model with the post-processing its cases.json says the reference used.</summary>
    public static Sam2Base Model(string folder, Sam2Precision precision = Sam2Precision.Float32)
    {
        lock (Models)
        {
            if (!Models.TryGetValue((folder, precision), out var m))
            {
                var pp = Golden.Cases(folder).GetProperty("image_postprocessing");
                bool dyn = pp.TryGetProperty("sam_mask_decoder_extra_args.dynamic_multimask_via_stability", out var v) && v.GetString() == "true";
                double D(string k) => double.Parse(pp.GetProperty(k).GetString()!, System.Globalization.CultureInfo.InvariantCulture);
                m = Sam2Builder.Load(Path.Combine(folder, "config.yaml"), Path.Combine(folder, "model.pt"), new Sam2ModelOptions
                {
                    ApplyPostprocessing = dyn,
                    ConfigOverrides = c => !dyn ? c : c with
                    {
                        SamMaskDecoderExtraArgs = c.SamMaskDecoderExtraArgs with
                        {
                            DynamicMultimaskStabilityDelta = D("sam_mask_decoder_extra_args.dynamic_multimask_stability_delta"),
                            DynamicMultimaskStabilityThresh = D("sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh"),
                        },
                    },
                    Precision = precision,
                });
                Models[(folder, precision)] = m;
            }
            return m;
        }
    }

    static void AssertClose(Tensor expected, Tensor actual, double relTol, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        double tol = relTol * Golden.MaxAbs(expected);
        double diff = Golden.MaxAbsDiff(expected, actual);
        Assert.True(diff <= tol, $"{what}: max abs diff {diff} > {tol}");
    }

    [Theory]
    [MemberData(nameof(FeatureCases))]
    public void ImageFeaturesMatchReference(string folder, string name)
    {
        var c = Golden.Case(folder, name);
        var exp = Golden.Tensors(Path.Combine(folder, c.GetProperty("expected").GetString()!));
        var model = Model(folder);
        var img = RgbImage.Load(Path.Combine(folder, c.GetProperty("image").GetString()!));
        using var input = Preprocess.Image(img, model.ImageSize);
        AssertClose(exp["input"], input, 1e-3, "input");
        using var p = new Sam2ImagePredictor(model);
        p.SetImage(img);
        AssertClose(exp["image_embed"], p.ImageEmbedding, 1e-3, "image_embed");
        AssertClose(exp["high_res_feat0"], p.HighResFeatures[0], 1e-3, "high_res_feat0");
        AssertClose(exp["high_res_feat1"], p.HighResFeatures[1], 1e-3, "high_res_feat1");
    }

    [Theory]
    [MemberData(nameof(PredictCases))]
    public void ImagePredictionMatchesReference(string folder, string name)
    {
        var c = Golden.Case(folder, name);
        var exp = Golden.Tensors(Path.Combine(folder, c.GetProperty("expected").GetString()!));
        var model = Model(folder);
        var img = RgbImage.Load(Path.Combine(folder, c.GetProperty("image").GetString()!));
        using var p = new Sam2ImagePredictor(model);
        p.SetImage(img);
        var (coords, labels, boxes, mask) = Prompts(folder, c.GetProperty("prompts"));
        bool multimask = c.TryGetProperty("multimask_output", out var mm) && mm.GetBoolean();
        using var pred = p.Predict(coords, labels, boxes, mask, multimask, returnLogits: true);
        AssertPrediction(exp, pred.Masks > 0, pred.IouPredictions, pred.LowResLogits, pred.Masks);
    }

    /// <summary>The README's image tolerances: IoU estimates, low-res logits, masks (IoU per mask), logits where given.</summary>
    internal static void AssertPrediction(Dictionary<string, Tensor> exp, Tensor masks, Tensor ious, Tensor lowRes, Tensor? logits)
    {
        Assert.Equal(exp["iou_predictions"].shape, ious.shape);
        double iouDiff = Golden.MaxAbsDiff(exp["iou_predictions"], ious);
        Assert.True(iouDiff <= 1e-3, $"iou_predictions: max abs diff {iouDiff}");
        Assert.Equal(exp["low_res_logits"].shape, lowRes.shape);
        double lowDiff = Golden.MaxAbsDiff(exp["low_res_logits"], lowRes);
        Assert.True(lowDiff <= 1e-2, $"low_res_logits: max abs diff {lowDiff}");
        var expMasks = exp["masks"];
        Assert.Equal(expMasks.shape, masks.shape);
        var em = expMasks.reshape(-1, expMasks.shape[^2], expMasks.shape[^1]);
        var am = masks.reshape(-1, masks.shape[^2], masks.shape[^1]);
        for (int i = 0; i < em.shape[0]; i++)
        {
            double iou = Golden.Iou(em[i], am[i]);
            Assert.True(iou >= 0.995, $"mask {i}: IoU {iou} < 0.995");
        }
        if (exp.TryGetValue("logits", out var expLogits) && logits is not null)
        {
            // float16 reference logits at the original size.
            double d = (expLogits.to_type(float32) - logits.to_type(float32)).abs().mean().item<float>();
            Assert.True(d <= 1e-2, $"logits: mean abs diff {d}");
        }
    }

    /// <summary>The prompts of an image case: points, labels, one or several boxes, a mask input file.</summary>
    public static (float[,]? coords, int[]? labels, float[,]? boxes, Tensor? mask) Prompts(string folder, JsonElement pr)
    {
        float[,]? coords = null; int[]? labels = null; float[,]? boxes = null; Tensor? mask = null;
        if (pr.TryGetProperty("point_coords", out var pc))
        {
            var pts = pc.EnumerateArray().Select(a => a.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToList();
            coords = new float[pts.Count, 2];
            for (int i = 0; i < pts.Count; i++) { coords[i, 0] = pts[i][0]; coords[i, 1] = pts[i][1]; }
            labels = pr.GetProperty("point_labels").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        }
        if (pr.TryGetProperty("box", out var bx))
        {
            var rows = bx[0].ValueKind == JsonValueKind.Array
                ? bx.EnumerateArray().Select(a => a.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToList()
                : new List<float[]> { bx.EnumerateArray().Select(v => v.GetSingle()).ToArray() };
            boxes = new float[rows.Count, 4];
            for (int i = 0; i < rows.Count; i++) for (int j = 0; j < 4; j++) boxes[i, j] = rows[i][j];
        }
        if (pr.TryGetProperty("mask_input", out var mi))
            mask = Golden.Tensors(Path.Combine(folder, mi.GetString()!))["mask_input"];
        return (coords, labels, boxes, mask);
    }
}
