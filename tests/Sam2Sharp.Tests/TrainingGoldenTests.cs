using System.Text.Json;
using Sam2Sharp.Training;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>SAM2Train's forward with correction clicks, the loss and its gradients against the reference (golden */train/).</summary>
public class TrainingGoldenTests(ITestOutputHelper log)
{
    public static IEnumerable<object[]> Folders() =>
        Golden.Folders().Where(f => Directory.Exists(Path.Combine(f, "train"))).Select(f => new object[] { f });

    static Sam2TrainOptions Options(JsonElement s) => new()
    {
        ProbToUsePtInputForEval = s.GetProperty("prob_to_use_pt_input_for_eval").GetDouble(),
        ProbToUseBoxInputForEval = s.GetProperty("prob_to_use_box_input_for_eval").GetDouble(),
        NumFramesToCorrectForEval = s.GetProperty("num_frames_to_correct_for_eval").GetInt32(),
        NumInitCondFramesForEval = s.GetProperty("num_init_cond_frames_for_eval").GetInt32(),
        RandFramesToCorrectForEval = s.GetProperty("rand_frames_to_correct_for_eval").GetBoolean(),
        RandInitCondFramesForEval = s.GetProperty("rand_init_cond_frames_for_eval").GetBoolean(),
        NumCorrectionPtPerFrame = s.GetProperty("num_correction_pt_per_frame").GetInt32(),
        PtSamplingForEval = s.GetProperty("pt_sampling_for_eval").GetString()!,
        AddAllFramesToCorrectAsCond = s.GetProperty("add_all_frames_to_correct_as_cond").GetBoolean(),
        ForwardBackbonePerFrameForEval = s.GetProperty("forward_backbone_per_frame_for_eval").GetBoolean(),
    };

    public static MultiStepMultiMasksAndIous Loss(JsonElement l) => new(
        l.GetProperty("weight_dict").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble()),
        focalAlpha: l.GetProperty("focal_alpha").GetDouble(), focalGamma: l.GetProperty("focal_gamma").GetDouble(),
        superviseAllIou: l.GetProperty("supervise_all_iou").GetBoolean(), iouUseL1Loss: l.GetProperty("iou_use_l1_loss").GetBoolean(),
        predObjScores: l.GetProperty("pred_obj_scores").GetBoolean(),
        focalGammaObjScore: l.GetProperty("focal_gamma_obj_score").GetDouble(),
        focalAlphaObjScore: l.GetProperty("focal_alpha_obj_score").GetDouble());

    /// <summary>The golden clip as a batch: T frames of one video, every object in it.</summary>
    public static BatchedVideoDatapoint Batch(Dictionary<string, Tensor> inputs)
    {
        var img = inputs["img_batch"];
        var masks = inputs["masks"].to_type(ScalarType.Bool);
        long t = masks.shape[0], o = masks.shape[1];
        var frameIdx = arange(t, dtype: ScalarType.Int32).view(t, 1, 1).expand(t, o, 1);
        var objToFrame = cat(new[] { frameIdx, zeros(t, o, 1, dtype: ScalarType.Int32) }, 2);
        return new BatchedVideoDatapoint(img, objToFrame, masks);
    }

    [Theory]
    [MemberData(nameof(Folders))]
    public void ForwardLossAndGradientsMatchReference(string folder) => Check(folder, perFrameBackbone: false);

    /// <summary>The same forward with each frame's image features computed when it is tracked (forward_backbone_per_frame_for_eval).</summary>
    [Theory]
    [MemberData(nameof(Folders))]
    public void PerFrameBackboneGivesTheSameForward(string folder) => Check(folder, perFrameBackbone: true);

    void Check(string folder, bool perFrameBackbone)
    {
        using var scope = NewDisposeScope();
        var dir = Path.Combine(folder, "train");
        var c = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "case.json"))).RootElement;
        var exp = Golden.Tensors(Path.Combine(dir, "expected.safetensors"));
        var batch = Batch(Golden.Tensors(Path.Combine(dir, "inputs.safetensors")));
        using var model = Sam2Builder.Load(Path.Combine(folder, "config.yaml"), Path.Combine(folder, "model.pt"), Golden.AsWritten);
        model.eval();
        var options = Options(c.GetProperty("settings"));
        if (perFrameBackbone) options = options with { ForwardBackbonePerFrameForEval = true };
        var train = new Sam2Train(model, options);

        var outs = train.Forward(batch);
        Assert.Equal((int)batch.NumFrames, outs.Count);
        for (int t = 0; t < outs.Count; t++)
        {
            var o = outs[t];
            int steps = exp.Keys.Count(k => k.StartsWith($"f{t}_step") && k.EndsWith("_ious"));
            Assert.Equal(steps, o.MultistepPredIous.Count);
            for (int s = 0; s < steps; s++)
            {
                string key = $"f{t}_step{s}";
                if (exp.TryGetValue(key + "_point_coords", out var pc))
                {
                    var pts = o.MultistepPointInputs[s]!;
                    Assert.True(Same(pc.to_type(float32), pts.Coords), $"{key} clicks: expected {Str(pc)}, got {Str(pts.Coords)}");
                    Assert.True(Same(exp[key + "_point_labels"].to_type(ScalarType.Int64), pts.Labels.to_type(ScalarType.Int64)),
                        $"{key} click labels: expected {Str(exp[key + "_point_labels"])}, got {Str(pts.Labels)}");
                }
                var mm = exp[key + "_multimasks"];
                Assert.Equal(mm.shape, o.MultistepPredMultimasksHighRes[s].shape);
                double d = Golden.MaxAbsDiff(mm, o.MultistepPredMultimasksHighRes[s]);
                Assert.True(d <= 1e-2, $"{key} multimasks: max abs diff {d:G4} > 1e-2");
                double di = Golden.MaxAbsDiff(exp[key + "_ious"], o.MultistepPredIous[s]);
                Assert.True(di <= 1e-3, $"{key} ious: max abs diff {di:G4} > 1e-3");
                var es = exp[key + "_object_score"]; var os = o.MultistepObjectScoreLogits[s];
                Assert.True(Golden.MaxAbsDiff(es, os) <= 1e-3, $"{key} object scores: {Str(es)} vs {Str(os)}");
                Assert.True(((es > 0) == (os > 0)).all().item<bool>(), $"{key} object presence differs");
            }
        }

        var loss = Loss(c.GetProperty("loss"));
        var losses = loss.Forward(outs, batch.Masks);
        foreach (var p in c.GetProperty("losses").EnumerateObject())
        {
            double e = p.Value.GetDouble(), a = losses[p.Name].item<float>();
            log.WriteLine($"{p.Name}: expected {e:G7}, got {a:G7}");
            Assert.True(Math.Abs(a - e) <= 1e-3 * Math.Abs(e), $"{p.Name}: expected {e:G7}, got {a:G7}");
        }

        if (perFrameBackbone) return;
        losses[MultiStepMultiMasksAndIous.CoreLoss].backward();
        var norms = c.GetProperty("grad_norms").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
        var noGrad = c.GetProperty("params_without_grad").EnumerateArray().Select(x => x.GetString()!).ToHashSet();
        var pars = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(norms.Keys.Concat(noGrad).OrderBy(k => k, StringComparer.Ordinal), pars.Keys.OrderBy(k => k, StringComparer.Ordinal));
        var bad = new List<string>();
        foreach (var (name, p) in pars)
        {
            var g = p.grad;
            if (noGrad.Contains(name))
            {
                if (g is not null && g.abs().max().item<float>() != 0) bad.Add($"{name}: expected no gradient");
                continue;
            }
            double e = norms[name];
            double a = g is null ? 0 : g.norm().item<float>();
            if (Math.Abs(a - e) > Math.Max(1e-2 * Math.Abs(e), 1e-6)) bad.Add($"{name}: grad norm {a:G6}, expected {e:G6}");
        }
        Assert.True(bad.Count == 0, $"{bad.Count} gradient norms differ:\n" + string.Join("\n", bad.Take(30)));
    }

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && (a == b).all().item<bool>();

    static string Str(Tensor t) => "[" + string.Join(", ", t.to_type(float32).flatten().data<float>().ToArray()) + "]";
}
