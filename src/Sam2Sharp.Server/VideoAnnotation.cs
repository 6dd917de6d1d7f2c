using Sam2Sharp.Export;
using Sam2Sharp.Imaging;
using Sam2Sharp.Video;

namespace Sam2Sharp.Server;

/// <summary>Which way a propagation goes from its start frame.</summary>
public enum PropagationDirection { Forward, Backward, Both }

/// <summary>A video session: the library's <see cref="Sam2VideoPredictor"/> and <see cref="VideoSession"/> do the tracking.</summary>
public sealed class VideoAnnotation : AnnotationSession
{
    readonly Sam2VideoPredictor predictor;
    readonly VideoSession session;
    readonly ComputeThread compute;
    readonly IDisposable embedAhead;
    volatile int focus;
    volatile int[] embedded = [];
    // Frame → each object's score there, replaced whole (read by viewers outside the session lock).
    readonly System.Collections.Concurrent.ConcurrentDictionary<int, Dictionary<int, double>> scores = new();

    /// <summary>A session on the frames (taking ownership); <see cref="AnnotationSession.BeginEmbedding"/> embeds the first,
    /// and later frames are embedded ahead in <paramref name="compute"/>'s idle time.</summary>
    public VideoAnnotation(Sam2VideoPredictor predictor, IFrameSource frames, string? tempFolder, ComputeThread compute) : base(tempFolder)
    {
        this.predictor = predictor;
        this.compute = compute;
        session = new VideoSession(frames);
        Annotations = new AnnotatedFrames(frames.Width, frames.Height, Enumerable.Range(0, frames.Count).Select(frames.Name).ToList());
        embedAhead = compute.AddIdleWork(EmbedAhead);
    }

    public override string Kind => "video";
    public override int NumFrames => session.NumFrames;
    public override int Width => session.VideoWidth;
    public override int Height => session.VideoHeight;
    public override AnnotatedFrames Annotations { get; }
    public IFrameSource Frames => session.Frames;

    public override RgbImage ReadFrame(int frame)
    {
        CheckFrame(frame);
        Focus(frame);
        return session.Frames.Read(frame);
    }

    /// <summary>Embeds the first frame, as the predictor's InitState does.</summary>
    protected override void Embed(IProgress<Sam2Progress> progress)
    {
        predictor.EmbedAhead(session, [0], progress: progress);
        embedded = session.EmbeddedFrames.ToArray();
    }

    /// <summary>The frame the user is on: embedding ahead starts there.</summary>
    void Focus(int frame)
    {
        if (focus == frame) return;
        focus = frame;
        compute.Poke();
    }

    /// <summary>
    /// Idle work: the frames the user will most likely prompt next (the current one, then those after it, then those
    /// before), as many as the session keeps. Not while a propagation runs: it embeds its own frames.
    /// </summary>
    bool EmbedAhead(CancellationToken yield)
    {
        if (IsClosed || IsPropagating || !IsReady) return false;
        int f = focus, n = session.NumFrames;
        var wanted = Enumerable.Range(f, n - f).Concat(Enumerable.Range(0, f).Reverse());
        try { return predictor.EmbedAhead(session, wanted, yield) > 0; }
        finally { embedded = session.EmbeddedFrames.ToArray(); }
    }

    /// <summary>How many frames have their image features ready (from a copy taken on the compute thread).</summary>
    public override int EmbeddedFrames => embedded.Length;

    FrameMasks Record(VideoFrameMasks r)
    {
        embedded = session.EmbeddedFrames.ToArray();
        using (r)
        {
            Annotations.Set(r.FrameIdx, r.ObjIds, r.MaskLogits);
            scores[r.FrameIdx] = ScoresOf(r);
            return CurrentMasks(r.FrameIdx);
        }
    }

    /// <summary>An object's score: the probability that it is on the frame (the sigmoid of its object-score logit).</summary>
    static Dictionary<int, double> ScoresOf(VideoFrameMasks r) =>
        r.ObjIds.Zip(r.ObjectScoreLogits).Where(p => p.Second is not null)
            .ToDictionary(p => p.First, p => Math.Round(1 / (1 + Math.Exp(-(double)p.Second!.Value)), 6));

    public override FrameMasks CurrentMasks(int frame)
    {
        CheckFrame(frame);
        return MasksOn(frame, scores.GetValueOrDefault(frame));
    }

    public override FrameMasks Prompt(int frame, int objId, float[,]? points, int[]? labels, float[]? box, bool clearOldPoints)
    {
        CheckFrame(frame);
        Focus(frame);
        return Record(predictor.AddNewPointsOrBox(session, frame, objId, points, labels, clearOldPoints, box: box));
    }

    void CheckObject(int objId)
    {
        if (session.IndexOf(objId) < 0)
            throw ApiException.NotFound($"object {objId} does not exist (objects: {(session.ObjIds.Count == 0 ? "none" : string.Join(", ", session.ObjIds))})");
    }

    public override FrameMasks ClearPrompts(int frame, int objId)
    {
        CheckFrame(frame);
        CheckObject(objId);
        var r = predictor.ClearAllPromptsInFrame(session, frame, objId)!;
        // The cleared object keeps no mask on that frame until it is tracked again.
        Annotations.Remove(frame, objId);
        return Record(r);
    }

    public override IReadOnlyList<FrameMasks> RemoveObject(int objId)
    {
        CheckObject(objId);
        var (_, updated) = predictor.RemoveObject(session, objId);
        Annotations.RemoveObject(objId);
        return updated.Select(Record).ToList();
    }

    /// <summary>The runs of a propagation (forward, backward, or forward then backward): start, direction and frame count,
    /// by the predictor's own rule for which frames a propagation visits.</summary>
    public IReadOnlyList<(int Start, bool Reverse, int Count)> PropagationRuns(int? startFrame, PropagationDirection direction, int? maxFrames)
    {
        if (session.Objects.Count == 0) throw ApiException.BadRequest("no object has prompts yet; click on an object first");
        if (startFrame is { } s) CheckFrame(s);
        if (maxFrames is < 0) throw ApiException.BadRequest("field 'max_frames' must not be negative");
        var runs = new List<(int, bool, int)>();
        foreach (bool reverse in new[] { false, true })
        {
            if (reverse ? direction == PropagationDirection.Forward : direction == PropagationDirection.Backward) continue;
            var frames = predictor.PropagationFrames(session, startFrame, maxFrames, reverse);
            // "both" starts its backward run where the forward one started.
            int start = startFrame ?? (runs.Count > 0 ? runs[0].Item1 : frames.Count > 0 ? frames[0] : 0);
            runs.Add((start, reverse, frames.Count));
        }
        return runs;
    }

    /// <summary>Tracks every object through the runs, lazily: each step of the enumeration is one frame, and
    /// <paramref name="cancellationToken"/> stops it before the next one (and between prompted frames of the preflight).</summary>
    public IEnumerable<FrameMasks> Propagate(IReadOnlyList<(int Start, bool Reverse, int Count)> runs, int? maxFrames,
        CancellationToken cancellationToken = default)
    {
        foreach (var (start, reverse, _) in runs)
            foreach (var r in predictor.PropagateInVideo(session, start, maxFrames, reverse, cancellationToken: cancellationToken))
                yield return Record(r);
    }

    protected override void DisposeState()
    {
        embedAhead.Dispose();
        session.Dispose();
    }
}
