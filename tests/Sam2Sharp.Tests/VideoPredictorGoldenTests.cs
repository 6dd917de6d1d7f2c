using System.Globalization;
using System.Text.Json;
using Sam2Sharp.Imaging;
using Sam2Sharp.Modeling;
using Sam2Sharp.Video;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>A whole video session, step by step, against the reference's outputs.</summary>
public class VideoPredictorGoldenTests
{
    /// <summary>Every video case, run with the memory bank in RAM and with everything but the last frame spilled to disk.</summary>
    public static IEnumerable<object[]> Cases() =>
        Golden.CasesOfKind("video").SelectMany(c => new[] { c.Append((object)0).ToArray(), c.Append((object)1).ToArray() });

    /// <summary>The folder's model with the case's video post-processing (the reference video builder's defaults).</summary>
    public static Sam2Base Model(string folder, JsonElement c)
    {
        var pp = c.GetProperty("postprocessing");
        string P(string k) => pp.GetProperty(k).GetString()!;
        double D(string k) => double.Parse(P(k), CultureInfo.InvariantCulture);
        return Sam2Builder.Load(Path.Combine(folder, "config.yaml"), Path.Combine(folder, "model.pt"), cfg => cfg with
        {
            SamMaskDecoderExtraArgs = new()
            {
                DynamicMultimaskViaStability = P("sam_mask_decoder_extra_args.dynamic_multimask_via_stability") == "true",
                DynamicMultimaskStabilityDelta = D("sam_mask_decoder_extra_args.dynamic_multimask_stability_delta"),
                DynamicMultimaskStabilityThresh = D("sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh"),
            },
            BinarizeMaskFromPtsForMemEnc = P("binarize_mask_from_pts_for_mem_enc") == "true",
            FillHoleArea = int.Parse(P("fill_hole_area"), CultureInfo.InvariantCulture),
        });
    }

    /// <summary>Asserts one output (objects × H × W logits) against the reference's within the README's tolerances.</summary>
#pragma warning disable xUnit1013 // shared with the command-line tests
    public static void AssertStep(string key, Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        var e = expected.to_type(float32); var a = actual.to_type(float32);
        for (int o = 0; o < e.shape[0]; o++)
        {
            double iou = Golden.Iou(e[o], a[o]);
            Assert.True(iou >= 0.99, $"{key} object row {o}: IoU {iou:F4} < 0.99");
        }
        // Where neither is the no-object score, logits agree on average.
        var both = (e > -1000) & (a > -1000);
        long n = both.sum().item<long>();
        var noObjAgree = ((e <= -1000) == (a <= -1000)).all().item<bool>();
        Assert.True(noObjAgree, $"{key}: the no-object rows differ");
        if (n > 0)
        {
            double mean = (e - a).abs().masked_select(both).mean().item<float>();
            Assert.True(mean <= 1e-2, $"{key}: mean abs logit diff {mean:G4} > 1e-2");
        }
    }
#pragma warning restore xUnit1013

    [Theory]
    [MemberData(nameof(Cases))]
    public void VideoSessionMatchesReference(string folder, string name, int spillBehind)
    {
        var c = Golden.Case(folder, name);
        var exp = Golden.Tensors(Path.Combine(folder, c.GetProperty("expected").GetString()!));
        using var model = Model(folder, c);
        var predictor = new Sam2VideoPredictor(model) { SpillBehind = spillBehind == 0 ? null : spillBehind };
        using var session = predictor.InitState(Path.Combine(folder, c.GetProperty("video").GetString()!));
        // The case lists one entry per output; the outputs of one call (a propagation) share its call number.
        var entries = c.GetProperty("prompts").GetProperty("steps").EnumerateArray().ToList();
        var calls = entries.GroupBy(e => e.GetProperty("call").GetInt32()).Select(g => g.First().GetProperty("step").GetRawText());
        var steps = VideoSteps.Parse($"{{\"steps\":[{string.Join(",", calls)}]}}", session.Frames, folder, name);
        int i = 0;
        foreach (var (step, r) in new VideoStepRunner(predictor, session).Run(steps))
        {
            using (r)
            {
                Assert.True(i < entries.Count, $"step {step.Index}: extra output for frame {r.FrameIdx}");
                var e = entries[i++];
                Assert.Equal(e.GetProperty("frame").GetInt32(), r.FrameIdx);
                Assert.Equal(e.GetProperty("obj_ids").EnumerateArray().Select(v => v.GetInt32()), r.ObjIds);
                string key = e.GetProperty("key").GetString()!;
                AssertStep(key, exp[$"{key}_logits"], r.MaskLogits.squeeze(1));
            }
        }
        Assert.Equal(entries.Count, i);

        // The final state: every object's low-res mask, pointer and score on every frame.
        foreach (var (objId, objIdx) in session.ObjIds.Select((id, k) => (id, k)))
        {
            var o = session.Objects[objIdx];
            for (int f = 0; f < session.NumFrames; f++)
            {
                string p = $"final_obj{objId}_f{f:D3}";
                if (!exp.ContainsKey($"{p}_pred_masks")) continue;
                var fo = o.Output.Find(f);
                Assert.True(fo is not null, $"{p}: no output kept");
                var es = exp[$"{p}_object_score"].to_type(float32);
                var s = fo!.ObjectScoreLogits!.to_type(float32);
                Assert.True(Golden.MaxAbsDiff(es, s) <= 1e-3 || (es.item<float>() > 0) == (s.item<float>() > 0) && Math.Abs(es.item<float>() - s.item<float>()) <= 1e-3,
                    $"{p}: object score {s.item<float>()} vs {es.item<float>()}");
                Assert.Equal(es.item<float>() > 0, s.item<float>() > 0);
                double lowDiff = Golden.MaxAbsDiff(exp[$"{p}_pred_masks"], fo.PredMasks);
                Assert.True(lowDiff <= 1e-2 || Golden.Iou(exp[$"{p}_pred_masks"], fo.PredMasks) >= 0.99, $"{p}: pred_masks max abs diff {lowDiff}");
            }
        }
    }
}
