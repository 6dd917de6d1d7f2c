namespace Sam2Sharp.Training;

/// <summary>A clip chosen from a video: positions in <see cref="VosVideo.Frames"/> in playing order, and the objects to track.</summary>
public sealed record SampledClip(VosVideo Video, IReadOnlyList<int> FrameIndices, IReadOnlyList<int> ObjectIds);

/// <summary>
/// The reference's RandomUniformSampler: <see cref="NumFrames"/> consecutive frames from a uniformly random start,
/// played backwards with probability <see cref="ReverseTimeProb"/>, and up to <see cref="MaxNumObjects"/> objects
/// drawn at random among those visible on the clip's first frame.
/// </summary>
public sealed class VosSampler
{
    /// <summary>Frames per clip.</summary>
    public int NumFrames { get; }
    /// <summary>Objects per clip at most.</summary>
    public int MaxNumObjects { get; }
    /// <summary>Chance of playing a clip backwards.</summary>
    public double ReverseTimeProb { get; }

    /// <summary>Clips of <paramref name="numFrames"/> frames with at most <paramref name="maxNumObjects"/> objects.</summary>
    public VosSampler(int numFrames, int maxNumObjects, double reverseTimeProb = 0.0)
    {
        if (numFrames < 1) throw new Sam2Exception($"the number of frames per clip must be at least 1, got {numFrames}");
        if (maxNumObjects < 1) throw new Sam2Exception($"the number of objects per clip must be at least 1, got {maxNumObjects}");
        if (reverseTimeProb is < 0 or > 1) throw new Sam2Exception($"the reverse-time probability must be in [0, 1], got {reverseTimeProb}");
        NumFrames = numFrames; MaxNumObjects = maxNumObjects; ReverseTimeProb = reverseTimeProb;
    }

    /// <summary>Refuses a video this sampler can never draw a clip from (too short, or no clip starts on a visible object).</summary>
    public void Check(VosVideo video)
    {
        if (video.Count < NumFrames)
            throw new Sam2Exception($"video {video.Name}: cannot sample {NumFrames} frames, it has only {video.Count} annotated frames");
        if (Starts(video).Count == 0)
            throw new Sam2Exception($"video {video.Name}: no clip of {NumFrames} frames starts on a frame with a visible object");
    }

    /// <summary>
    /// The reference draws a start and a direction and retries until the first frame shows an object; drawing
    /// directly among the acceptable (start, direction) pairs, weighted by the direction's probability, gives the
    /// same distribution and cannot fail.
    /// </summary>
    public SampledClip Sample(VosVideo video, Random rng)
    {
        var starts = Starts(video);
        if (starts.Count == 0) Check(video);
        double total = starts.Sum(s => s.Weight), u = rng.NextDouble() * total;
        var pick = starts[^1];
        foreach (var s in starts)
        {
            if (u < s.Weight) { pick = s; break; }
            u -= s.Weight;
        }
        var frames = Enumerable.Range(pick.Start, NumFrames).ToArray();
        if (pick.Reverse) Array.Reverse(frames);

        // random.sample: a uniformly random ordered subset (partial Fisher–Yates).
        var visible = video.Frames[frames[0]].VisibleObjectIds.ToArray();
        int k = Math.Min(visible.Length, MaxNumObjects);
        for (int i = 0; i < k; i++)
        {
            int j = i + rng.Next(visible.Length - i);
            (visible[i], visible[j]) = (visible[j], visible[i]);
        }
        return new SampledClip(video, frames, visible[..k]);
    }

    List<(int Start, bool Reverse, double Weight)> Starts(VosVideo video)
    {
        var list = new List<(int, bool, double)>();
        for (int s = 0; s + NumFrames <= video.Count; s++)
        {
            if (ReverseTimeProb < 1 && video.Frames[s].VisibleObjectIds.Count > 0) list.Add((s, false, 1 - ReverseTimeProb));
            if (ReverseTimeProb > 0 && video.Frames[s + NumFrames - 1].VisibleObjectIds.Count > 0) list.Add((s, true, ReverseTimeProb));
        }
        return list;
    }
}
