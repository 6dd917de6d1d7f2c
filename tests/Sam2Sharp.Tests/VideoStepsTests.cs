using Sam2Sharp.Imaging;
using Sam2Sharp.Video;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary>The library's steps parser and runner: the JSON shape refused field by field, and the runner's outputs,
/// progress and cancellation against the predictor's own frame range.</summary>
public sealed class VideoStepsTests
{
    static readonly string Folder = Golden.Folders()[0];
    static string Video => Path.Combine(Folder, "inputs", "video");

    static IReadOnlyList<VideoStep> Parse(IFrameSource frames, params string[] steps) =>
        VideoSteps.Parse($$"""{"steps":[{{string.Join(",", steps)}}]}""", frames, Folder, "s.json");

    [Theory]
    [InlineData("""{"op":"add_box","frame":0,"frame":1,"obj_id":2,"box":[1,2,30,40]}""", "s.json: step 0 (add_box), field 'frame': given twice")]
    [InlineData("""{"op":"add_box","frame":0,"obj_id":2,"box":[1,2,30,40],"mask":"x.png"}""", "s.json: step 0 (add_box), field 'mask': unknown field for add_box (allowed: frame, obj_id, box)")]
    [InlineData("""{"op":"propagate","reverse":"yes"}""", "s.json: step 0 (propagate), field 'reverse': must be true or false, got \"yes\"")]
    [InlineData("""{"op":"add_points","frame":0,"obj_id":1,"points":[["a",1]],"labels":[1]}""", "s.json: step 0 (add_points), field 'points': must be an array of [x, y] numbers, got [[\"a\",1]]")]
    [InlineData("""{"op":"add_points","frame":0,"obj_id":1,"points":[[1,2,3]],"labels":[1]}""", "s.json: step 0 (add_points), field 'points': point 0 must be [x, y]")]
    [InlineData("""{"op":"add_points","frame":0,"obj_id":1.5,"points":[[1,2]],"labels":[1]}""", "s.json: step 0 (add_points), field 'obj_id': must be an integer, got 1.5")]
    [InlineData("""{"op":"add_box","frame":0,"obj_id":2}""", "s.json: step 0 (add_box), field 'box': missing")]
    [InlineData("""{"op":"propagate","max_frames":-2}""", "s.json: step 0 (propagate), field 'max_frames': must not be negative, got -2")]
    [InlineData("""[1]""", "s.json: step 0 (?): a step must be a JSON object, got array")]
    public void WrongStepsAreRefusedNamingStepAndField(string step, string message)
    {
        using var frames = FrameSource.Open(Video);
        var e = Assert.Throws<Sam2Exception>(() => Parse(frames, step));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void StepsAreReadIntoTheirRecords()
    {
        using var frames = FrameSource.Open(Video);
        var steps = Parse(frames,
            """{"obj_id":1,"op":"add_points","frame":2,"points":[[10,20]],"labels":[0],"clear_old_points":false}""",
            """{"op":"add_mask","frame":0,"obj_id":3,"mask":"empty"}""",
            """{"op":"propagate","reverse":true,"start_frame":4,"max_frames":1}""",
            """{"op":"reset"}""");
        var p = Assert.IsType<AddPointsStep>(steps[0]);
        Assert.Equal((0, "add_points", 2, 1, 10f, 20f, 0, false), (p.Index, p.Op, p.Frame, p.ObjId, p.Points[0][0], p.Points[0][1], p.Labels[0], p.ClearOldPoints));
        var m = Assert.IsType<AddMaskStep>(steps[1]);
        Assert.Null(m.MaskPath);
        Assert.Equal(new PropagateStep(true, 4, 1) { Index = 2 }, steps[2]);
        Assert.Equal(("reset", 3), (steps[3].Op, steps[3].Index));
    }

    sealed class Collect(List<VideoStepProgress> into) : IProgress<VideoStepProgress>
    {
        public void Report(VideoStepProgress value) => into.Add(value);
    }

    [Fact]
    public void RunnerYieldsThePredictorsFramesWithProgressAndStopsWhenCancelled()
    {
        using var model = Sam2Builder.Load(Path.Combine(Folder, "config.yaml"), Path.Combine(Folder, "model.pt"), c => c.WithVideoPostprocessing());
        var predictor = new Sam2VideoPredictor(model);
        using var session = predictor.InitState(Video);
        var steps = Parse(session.Frames,
            """{"op":"add_points","frame":3,"obj_id":1,"points":[[144,108]],"labels":[1]}""",
            """{"op":"propagate","max_frames":2}""",
            """{"op":"propagate","reverse":true}""");
        var runner = new VideoStepRunner(predictor, session);
        var reports = new List<VideoStepProgress>();
        var got = new List<(int Step, int Frame)>();
        foreach (var (step, masks) in runner.Run(steps.Take(1)))
            using (masks) got.Add((step.Index, masks.FrameIdx));
        // Before the preflight the prompt is not in the memory bank yet; the rule counts it all the same.
        Assert.Equal([3, 4, 5], predictor.PropagationFrames(session, maxFrameNumToTrack: 2));
        foreach (var (step, masks) in runner.Run(steps.Skip(1), new Collect(reports)))
            using (masks) got.Add((step.Index, masks.FrameIdx));
        Assert.Equal([(0, 3), (1, 3), (1, 4), (1, 5), (2, 3), (2, 2), (2, 1), (2, 0)], got);
        Assert.Equal([(1, 0, 3), (1, 1, 3), (1, 2, 3), (1, 3, 3), (2, 0, 4), (2, 1, 4), (2, 2, 4), (2, 3, 4), (2, 4, 4)],
            reports.Select(r => (r.Step.Index, r.Done, r.Total)));

        using var cts = new CancellationTokenSource();
        int seen = 0;
        Assert.Throws<OperationCanceledException>(() =>
        {
            foreach (var (_, masks) in runner.Run(steps.Skip(1), cancellationToken: cts.Token))
                using (masks) { seen++; cts.Cancel(); }
        });
        Assert.Equal(1, seen);
    }
}
