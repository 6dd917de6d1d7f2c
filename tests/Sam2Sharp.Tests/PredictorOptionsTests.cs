using Sam2Sharp.Imaging;
using Sam2Sharp.Modeling;
using Sam2Sharp.Video;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>Options apart from the model, typed prompts, cancellation and progress of propagation (golden micro model).</summary>
public class PredictorOptionsTests
{
    static string Folder => Path.Combine(Golden.SharedDir, "golden", "sam2.1-micro");
    static string VideoDir => Path.Combine(Folder, "inputs", "video");
    static Sam2Base Load(Sam2ModelOptions? o = null) => Sam2Builder.Load(Path.Combine(Folder, "config.yaml"), Path.Combine(Folder, "model.pt"), o);

    [Fact]
    public void TheBuilderAppliesTheReferencePostprocessingUnlessToldNot()
    {
        using var post = Load();
        Assert.True(post.Options.ApplyPostprocessing);
        Assert.True(post.Config.SamMaskDecoderExtraArgs.DynamicMultimaskViaStability);
        Assert.Equal(0.05, post.Config.SamMaskDecoderExtraArgs.DynamicMultimaskStabilityDelta);
        Assert.Equal(0.98, post.Config.SamMaskDecoderExtraArgs.DynamicMultimaskStabilityThresh);
        Assert.True(post.Config.BinarizeMaskFromPtsForMemEnc);

        using var plain = Load(new Sam2ModelOptions { ApplyPostprocessing = false, ConfigOverrides = c => c with { MultimaskMaxPtNum = 2 } });
        Assert.False(plain.Config.SamMaskDecoderExtraArgs.DynamicMultimaskViaStability);
        Assert.False(plain.Config.BinarizeMaskFromPtsForMemEnc);
        Assert.Equal(2, plain.Config.MultimaskMaxPtNum);
    }

    [Fact]
    public void BadPredictorOptionsAreRefusedByName()
    {
        using var model = Load();
        var e = Assert.Throws<Sam2Exception>(() => new Sam2VideoPredictor(model, new Sam2VideoPredictorOptions { FillHoleArea = -1 }));
        Assert.Contains("fill hole area", e.Message);
        e = Assert.Throws<Sam2Exception>(() => new Sam2VideoPredictor(model, new Sam2VideoPredictorOptions { SpillBehind = 0 }));
        Assert.Contains("spill behind", e.Message);
        e = Assert.Throws<Sam2Exception>(() => new Sam2ImagePredictor(model, new Sam2ImagePredictorOptions { MaxHoleArea = -3 }));
        Assert.Contains("max hole area", e.Message);
    }

    [Fact]
    public void TypedImagePromptsGiveWhatTheArraysGive()
    {
        using var model = Load();
        using var p = new Sam2ImagePredictor(model);
        p.SetImage(RgbImage.Load(Path.Combine(Folder, "inputs", "image.png")));
        using var a = p.Predict(new float[,] { { 144, 108 }, { 192, 54 } }, [1, 0], new float[,] { { 100, 40, 260, 200 } }, returnLogits: true);
        using var t = p.Predict([PromptPoint.Foreground(144, 108), PromptPoint.Background(192, 54)], [new PromptBox(100, 40, 260, 200)], returnLogits: true);
        Assert.True(a.Masks.eq(t.Masks).all().item<bool>());
        Assert.True(a.IouPredictions.eq(t.IouPredictions).all().item<bool>());
        var e = Assert.Throws<Sam2Exception>(() => p.Predict([new PromptPoint(1, 1, (PointLabel)7)]));
        Assert.Contains("point 0", e.Message);
    }

    [Fact]
    public void OneModelServesVideoPredictorsWithDifferentOptionsAndTypedPromptsMatchArrays()
    {
        using var model = Load();
        var overlapping = new Sam2VideoPredictor(model);
        var apart = new Sam2VideoPredictor(model, new Sam2VideoPredictorOptions { NonOverlapMasks = true });
        using var s1 = overlapping.InitState(VideoDir);
        using var s2 = apart.InitState(VideoDir);
        overlapping.AddNewPointsOrBox(s1, 0, 1, new float[,] { { 144, 108 }, { 192, 54 } }, [1, 0]).Dispose();
        overlapping.AddNewPointsOrBox(s1, 0, 2, box: [198, 18, 288, 81]).Dispose();
        apart.AddNewPointsOrBox(s2, 0, 1, [PromptPoint.Foreground(144, 108), PromptPoint.Background(192, 54)]).Dispose();
        apart.AddNewPointsOrBox(s2, 0, 2, null, new PromptBox(198, 18, 288, 81)).Dispose();
        // Sessions of the two predictors advance in turn on the same model.
        using var e1 = overlapping.PropagateInVideo(s1, maxFrameNumToTrack: 3).GetEnumerator();
        using var e2 = apart.PropagateInVideo(s2, maxFrameNumToTrack: 3).GetEnumerator();
        while (e1.MoveNext())
        {
            Assert.True(e2.MoveNext());
            using var a = e1.Current;
            using var b = e2.Current;
            Assert.Equal(a.FrameIdx, b.FrameIdx);
            // The options change only the output: the non-overlapping masks are the constraint applied to the others.
            using var expected = Sam2Base.ApplyNonOverlappingConstraints(a.MaskLogits);
            Assert.True(expected.allclose(b.MaskLogits, rtol: 0, atol: 1e-5), $"frame {a.FrameIdx}");
            var bv = b.MaskLogits.flatten().data<float>().ToArray();
            int hw = bv.Length / 2;
            Assert.DoesNotContain(Enumerable.Range(0, hw), i => bv[i] > 0 && bv[i + hw] > 0);
        }
        Assert.False(e2.MoveNext());
    }

    sealed class Recorder(Action<PropagationProgress> onReport) : IProgress<PropagationProgress>
    {
        public List<PropagationProgress> Reports { get; } = new();
        public void Report(PropagationProgress value) { Reports.Add(value); onReport(value); }
    }

    [Fact]
    public void PropagationReportsProgressAndStopsWhenCancelled()
    {
        using var model = Load();
        var predictor = new Sam2VideoPredictor(model);
        using var s = predictor.InitState(VideoDir);
        predictor.AddNewPointsOrBox(s, 0, 1, [PromptPoint.Foreground(144, 108)]).Dispose();

        using (var cancelled = new CancellationTokenSource())
        {
            cancelled.Cancel();
            Assert.Throws<OperationCanceledException>(() => predictor.PropagateInVideo(s, cancellationToken: cancelled.Token));
        }

        using var cts = new CancellationTokenSource();
        var progress = new Recorder(p => { if (p.Done == 3) cts.Cancel(); });
        var seen = new List<int>();
        Assert.Throws<OperationCanceledException>(() =>
        {
            foreach (var r in predictor.PropagateInVideo(s, progress: progress, cancellationToken: cts.Token))
                using (r) seen.Add(r.FrameIdx);
        });
        Assert.Equal(new[] { 0, 1, 2 }, seen);
        Assert.Equal(new[] { new PropagationProgress(0, 1, 10), new(1, 2, 10), new(2, 3, 10) }, progress.Reports);

        // The session stays usable: a new propagation tracks every frame.
        int n = 0;
        foreach (var r in predictor.PropagateInVideo(s)) using (r) n++;
        Assert.Equal(10, n);
    }
}
