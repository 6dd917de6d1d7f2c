using Sam2Sharp.Imaging;
using Sam2Sharp.Video;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>Frames embedded ahead into a multi-frame feature cache change nothing in the results.</summary>
public class VideoFeatureCacheTests
{
    /// <summary>Prompts, propagation, a correction and a second propagation; every output's logits, in order.</summary>
    static List<float[]> Play(Sam2VideoPredictor predictor, string video, Action<VideoSession>? beforeCorrection)
    {
        var outputs = new List<float[]>();
        void Keep(VideoFrameMasks m) { using (m) outputs.Add(m.MaskLogits.data<float>().ToArray()); }
        using var s = predictor.InitState(FrameSource.Open(video));
        Keep(predictor.AddNewPointsOrBox(s, 0, 1, new float[,] { { 144, 108 }, { 192, 54 } }, [1, 0]));
        Keep(predictor.AddNewPointsOrBox(s, 0, 2, box: [198, 18, 288, 81]));
        foreach (var m in predictor.PropagateInVideo(s)) Keep(m);
        beforeCorrection?.Invoke(s);
        Keep(predictor.AddNewPointsOrBox(s, 6, 1, new float[,] { { 150, 100 } }, [0], clearOldPoints: false));
        foreach (var m in predictor.PropagateInVideo(s, startFrameIdx: 6)) Keep(m);
        return outputs;
    }

    [Fact]
    public void EmbeddingAheadGivesTheSameMasks()
    {
        var folder = Golden.Folders()[0];
        string video = Path.Combine(folder, "inputs", "video");
        using var model = TestServer.LoadModel(folder);
        var plain = Play(new Sam2VideoPredictor(model), video, null);
        var cached = new Sam2VideoPredictor(model, new Sam2VideoPredictorOptions { FeatureCacheFrames = 4 });
        int embedded = -1;
        IReadOnlyList<int> kept = [];
        var ahead = Play(cached, video, s =>
        {
            embedded = cached.EmbedAhead(s, [6, 5, 4, 3, 2]);
            kept = s.EmbeddedFrames;
        });
        // Propagation ended with frames 6 to 9 kept: 5, 4 and 3 were embedded, and only the first four asked for are kept.
        Assert.Equal(3, embedded);
        Assert.Equal(new[] { 3, 4, 5, 6 }, kept.Order());
        Assert.Equal(plain.Count, ahead.Count);
        for (int i = 0; i < plain.Count; i++) Assert.Equal(plain[i], ahead[i]);
    }

    [Fact]
    public void EmbedAheadStopsWhenCancelledAndRefusesBadFrames()
    {
        var folder = Golden.Folders()[0];
        using var model = TestServer.LoadModel(folder);
        var predictor = new Sam2VideoPredictor(model, new Sam2VideoPredictorOptions { FeatureCacheFrames = 3 });
        using var s = predictor.InitState(FrameSource.Open(Path.Combine(folder, "inputs", "video")));
        Assert.Equal(new[] { 0 }, s.EmbeddedFrames);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => predictor.EmbedAhead(s, [0, 1], cancelled.Token));
        Assert.Equal(new[] { 0 }, s.EmbeddedFrames); // frame 0 was kept already: nothing to cancel before it
        Assert.Equal(0, predictor.EmbedAhead(s, [0], cancelled.Token));
        var e = Assert.Throws<Sam2Exception>(() => predictor.EmbedAhead(s, [2, 10]));
        Assert.Contains("frame 10", e.Message);
        Assert.Equal(3, predictor.EmbedAhead(s, [3, 4, 5, 6]));
        Assert.Equal(new[] { 3, 4, 5 }, s.EmbeddedFrames.Order()); // bounded: the oldest (frame 0) went first
        Assert.Throws<Sam2Exception>(() => new Sam2VideoPredictor(model, new Sam2VideoPredictorOptions { FeatureCacheFrames = 0 }));
    }
}
