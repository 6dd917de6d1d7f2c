using Sam2Sharp.Amg;
using Sam2Sharp.Imaging;
using Sam2Sharp.Video;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>
/// bfloat16 against the float32 reference outputs of the golden cases. Each case prints one line of
/// agreement figures (docs/performance.md publishes them); the asserts hold the level measured.
/// </summary>
public class PrecisionAgreementTests(ITestOutputHelper output)
{
    // The lowest mask IoU measured in bf16 on the goldens, rounded down (image 0.9911, video 0.9843); the issue's floor is 0.97.
    const double MinImageMaskIou = 0.99, MinVideoMaskIou = 0.98;
    // Automatic masks: a reference mask is matched when a bf16 mask has IoU ≥ 0.97 with it. Masks near the predicted-IoU
    // threshold come and go (measured on sam2-micro: 26 bf16 masks for 21, 18 of 21 matched; sam2.1-micro 1 for 1, matched),
    // so what is held is that level: at least 85 % matched, the count within 25 %.
    const double MinAmgMaskIou = 0.97, MinAmgMatched = 0.85, MaxAmgCountChange = 0.25;

    public static IEnumerable<object[]> ImageCases() => Golden.CasesOfKind("image_predict");
    public static IEnumerable<object[]> VideoCases() => Golden.CasesOfKind("video");
    public static IEnumerable<object[]> AmgCases() => Golden.CasesOfKind("automatic_masks");

    [Theory]
    [MemberData(nameof(ImageCases))]
    public void Bf16ImagePredictionAgreesWithReference(string folder, string name)
    {
        var c = Golden.Case(folder, name);
        var exp = Golden.Tensors(Path.Combine(folder, c.GetProperty("expected").GetString()!));
        var model = ImagePredictorGoldenTests.Model(folder, Sam2Precision.BFloat16);
        Assert.Equal(Sam2Precision.BFloat16, model.Precision);
        using var p = new Sam2ImagePredictor(model);
        p.SetImage(RgbImage.Load(Path.Combine(folder, c.GetProperty("image").GetString()!)));
        var (coords, labels, boxes, mask) = ImagePredictorGoldenTests.Prompts(folder, c.GetProperty("prompts"));
        bool multimask = c.TryGetProperty("multimask_output", out var mm) && mm.GetBoolean();
        using var pred = p.Predict(coords, labels, boxes, mask, multimask, returnLogits: true);

        var em = exp["masks"].reshape(-1, exp["masks"].shape[^2], exp["masks"].shape[^1]);
        var am = (pred.Masks > 0).reshape(-1, pred.Masks.shape[^2], pred.Masks.shape[^1]);
        double minIou = Enumerable.Range(0, (int)em.shape[0]).Min(i => Golden.Iou(em[i], am[i]));
        double lowResErr = Golden.MaxAbsDiff(exp["low_res_logits"], pred.LowResLogits);
        double iouErr = Golden.MaxAbsDiff(exp["iou_predictions"], pred.IouPredictions);
        // A flipped decision: the mask a multimask caller would pick (highest predicted IoU) changes.
        var eBest = exp["iou_predictions"].reshape(-1, exp["iou_predictions"].shape[^1]).argmax(-1);
        var aBest = pred.IouPredictions.reshape(-1, pred.IouPredictions.shape[^1]).argmax(-1);
        long flipped = (eBest != aBest).sum().item<long>();
        output.WriteLine($"bf16_agreement image {Path.GetFileName(folder)}/{name} min_mask_iou {minIou:F4} " +
            $"low_res_logits_max_abs_err {lowResErr:F4} iou_pred_max_abs_err {iouErr:F4} best_mask_flips {flipped}/{eBest.shape[0]}");
        Assert.True(minIou >= MinImageMaskIou, $"{name}: bf16 mask IoU {minIou:F4} < {MinImageMaskIou}");
        Assert.Equal(0, flipped);
    }

    [Theory]
    [MemberData(nameof(VideoCases))]
    public void Bf16VideoSessionAgreesWithReference(string folder, string name)
    {
        var c = Golden.Case(folder, name);
        var exp = Golden.Tensors(Path.Combine(folder, c.GetProperty("expected").GetString()!));
        using var model = VideoPredictorGoldenTests.Model(folder, c, new Sam2ModelOptions { Precision = Sam2Precision.BFloat16 });
        var predictor = new Sam2VideoPredictor(model, VideoPredictorGoldenTests.PredictorOptions(c));
        using var session = predictor.InitState(Path.Combine(folder, c.GetProperty("video").GetString()!));
        double minIou = 1, meanErrMax = 0;
        int rows = 0, presenceFlips = 0;
        VideoPredictorGoldenTests.Replay(folder, name, c, predictor, session, (step, r) =>
        {
            var e = exp[$"{step.GetProperty("key").GetString()}_logits"].to_type(float32);
            var a = r.MaskLogits.squeeze(1).to_type(float32);
            for (int o = 0; o < e.shape[0]; o++, rows++)
            {
                minIou = Math.Min(minIou, Golden.Iou(e[o], a[o]));
                // "Object present" is the decision: a row at the no-object score on one side only.
                if ((e[o] <= -1000).all().item<bool>() != (a[o] <= -1000).all().item<bool>()) presenceFlips++;
                var both = (e[o] > -1000) & (a[o] > -1000);
                if (both.any().item<bool>())
                    meanErrMax = Math.Max(meanErrMax, (e[o] - a[o]).abs().masked_select(both).mean().item<float>());
            }
        });
        output.WriteLine($"bf16_agreement video {Path.GetFileName(folder)}/{name} min_mask_iou {minIou:F4} " +
            $"max_mean_abs_logit_err {meanErrMax:F4} presence_flips {presenceFlips}/{rows}");
        Assert.True(minIou >= MinVideoMaskIou, $"{name}: bf16 mask IoU {minIou:F4} < {MinVideoMaskIou}");
        Assert.Equal(0, presenceFlips);
    }

    [Theory]
    [MemberData(nameof(AmgCases))]
    public void Bf16AutomaticMasksAgreeWithReference(string folder, string name)
    {
        var c = Golden.Case(folder, name);
        var exp = Golden.Tensors(Path.Combine(folder, c.GetProperty("expected").GetString()!));
        int expected = c.GetProperty("annotations").GetArrayLength();
        var img = RgbImage.Load(Path.Combine(folder, c.GetProperty("image").GetString()!));
        using var gen = new Sam2AutomaticMaskGenerator(ImagePredictorGoldenTests.Model(folder, Sam2Precision.BFloat16),
            AutomaticMaskGeneratorGoldenTests.Options(c.GetProperty("prompts")));
        var anns = gen.Generate(img);
        var masks = anns.Select(a => tensor(a.Segmentation.ToMaskArray(), new long[] { img.Height, img.Width })).ToList();
        // Each reference mask against its best match among bf16's (masks near a threshold may come and go).
        var best = Enumerable.Range(0, expected).Select(i =>
        {
            var em = exp[$"mask_{i:D3}"].reshape(img.Height, img.Width);
            return masks.Count == 0 ? 0 : masks.Max(m => Golden.Iou(em, m));
        }).ToList();
        double minBest = best.DefaultIfEmpty(1).Min();
        int matched = best.Count(v => v >= MinAmgMaskIou);
        output.WriteLine($"bf16_agreement amg {Path.GetFileName(folder)}/{name} masks {anns.Count} vs {expected} " +
            $"min_best_mask_iou {minBest:F4} matched_at_{MinAmgMaskIou} {matched}/{expected}");
        foreach (var m in masks) m.Dispose();
        Assert.True(Math.Abs(anns.Count - expected) <= MaxAmgCountChange * expected, $"{name}: {anns.Count} bf16 masks, {expected} in the reference");
        Assert.True(matched >= MinAmgMatched * expected, $"{name}: {matched} of {expected} reference masks with a bf16 mask of IoU ≥ {MinAmgMaskIou}");
    }
}
