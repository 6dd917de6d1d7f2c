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
    public static Sam2Base Model(string folder, JsonElement c, Sam2ModelOptions? options = null)
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
        }, options);
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
        Replay(folder, c, predictor, session, (step, r) =>
        {
            string key = step.GetProperty("key").GetString()!;
            Assert.Equal(step.GetProperty("obj_ids").EnumerateArray().Select(v => v.GetInt32()), r.ObjIds);
            AssertStep(key, exp[$"{key}_logits"], r.MaskLogits.squeeze(1));
        });

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

    /// <summary>Runs a video case's steps in order, handing each output (with its step) to <paramref name="check"/>, then disposing it.</summary>
    public static void Replay(string folder, JsonElement c, Sam2VideoPredictor predictor, VideoSession session, Action<JsonElement, VideoFrameMasks> check)
    {
        var steps = c.GetProperty("prompts").GetProperty("steps").EnumerateArray().ToList();
        int i = 0;
        while (i < steps.Count)
        {
            var st = steps[i].GetProperty("step");
            string op = st.GetProperty("op").GetString()!;
            if (op == "propagate")
            {
                int call = steps[i].GetProperty("call").GetInt32();
                int? start = st.TryGetProperty("start_frame", out var sf) ? sf.GetInt32() : null;
                foreach (var r in predictor.PropagateInVideo(session, start, null, st.GetProperty("reverse").GetBoolean()))
                {
                    Assert.True(i < steps.Count && steps[i].GetProperty("call").GetInt32() == call, $"extra output for frame {r.FrameIdx}");
                    Assert.Equal(steps[i].GetProperty("frame").GetInt32(), r.FrameIdx);
                    using (r) check(steps[i], r);
                    i++;
                }
                continue;
            }
            int frame = st.GetProperty("frame").GetInt32(), obj = st.GetProperty("obj_id").GetInt32();
            using VideoFrameMasks res = op switch
            {
                "add_points" => predictor.AddNewPointsOrBox(session, frame, obj, Floats2d(st.GetProperty("points")),
                    st.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray()),
                "add_box" => predictor.AddNewPointsOrBox(session, frame, obj,
                    box: st.GetProperty("box").EnumerateArray().Select(v => v.GetSingle()).ToArray()),
                "add_mask" => predictor.AddNewMask(session, frame, obj, st.GetProperty("mask").GetString() == "empty"
                    ? zeros(session.VideoHeight, session.VideoWidth, ScalarType.Bool)
                    : MaskImages.ReadPngTensor(Path.Combine(folder, st.GetProperty("mask").GetString()!))),
                _ => throw new InvalidOperationException(op),
            };
            check(steps[i], res);
            i++;
        }
    }

    static float[,] Floats2d(JsonElement a)
    {
        var rows = a.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToList();
        var x = new float[rows.Count, rows[0].Length];
        for (int i = 0; i < rows.Count; i++) for (int j = 0; j < rows[i].Length; j++) x[i, j] = rows[i][j];
        return x;
    }
}
