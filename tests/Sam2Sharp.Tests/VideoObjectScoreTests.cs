using Sam2Sharp.Imaging;
using Sam2Sharp.Video;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary>The video outputs carry each object's object-score logit, the one its memory keeps.</summary>
public class VideoObjectScoreTests
{
    [Fact]
    public void PromptAndPropagationOutputsGiveEachObjectsScore()
    {
        var folder = Golden.Folders()[0];
        using var model = TestServer.LoadModel(folder);
        var predictor = new Sam2VideoPredictor(model);
        using var s = predictor.InitState(FrameSource.Open(Path.Combine(folder, "inputs", "video")));
        void Check(VideoFrameMasks m)
        {
            using (m)
            {
                Assert.Equal(m.ObjIds.Count, m.ObjectScoreLogits.Count);
                for (int i = 0; i < m.ObjIds.Count; i++)
                {
                    var kept = s.Objects[s.IndexOf(m.ObjIds[i])].Find(m.FrameIdx);
                    Assert.Equal(kept?.ObjectScoreLogits?.item<float>(), m.ObjectScoreLogits[i]);
                }
            }
        }
        Check(predictor.AddNewPointsOrBox(s, 0, 1, new float[,] { { 144, 108 } }, [1]));
        // Object 2 has no output on frame 3 yet: its score is null there.
        using (var two = predictor.AddNewPointsOrBox(s, 3, 2, box: [198, 18, 288, 81]))
            Assert.Equal(new[] { false, true }, two.ObjectScoreLogits.Select(x => x is not null));
        int frames = 0;
        foreach (var m in predictor.PropagateInVideo(s)) { Assert.All(m.ObjectScoreLogits, x => Assert.NotNull(x)); Check(m); frames++; }
        Assert.Equal(10, frames);
    }
}
