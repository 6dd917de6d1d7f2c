using Sam2Sharp.Imaging;
using Sam2Sharp.Modeling;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sam2Sharp.Video;

/// <summary>
/// Interactive video segmentation with SAM 2's streaming memory, as the reference's
/// SAM2VideoPredictor: prompts (points, boxes, masks) on any frame for any number of objects,
/// propagation forward or backward, corrections, removal.
/// </summary>
public sealed class Sam2VideoPredictor(Sam2Base model)
{
    public Sam2Base Model { get; } = model;
    int ImageSize => Model.ImageSize;

    /// <summary>
    /// While propagating, the mask logits and memories of tracked frames this many frames behind
    /// the current one are moved to disk (null: everything stays in memory, as the reference).
    /// The default is past the reach of memory attention (num_maskmem × stride + 2), so tracking
    /// is unchanged and RAM stays flat over long videos; spilled frames are read back when a
    /// later prompt or propagation needs them.
    /// </summary>
    public int? SpillBehind { get; set; } = model.NumMaskmem * model.Config.MemoryTemporalStrideForEval + 2;

    /// <summary>Opens a video: a folder of JPEG/PNG frames or a video file.</summary>
    public VideoSession InitState(string path) => InitState(FrameSource.Open(path));

    public VideoSession InitState(IFrameSource frames)
    {
        var s = new VideoSession(frames);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        GetImageFeature(s, 0); // as the reference: warm up on frame 0
        return s;
    }

    TrackedObject ObjectFor(VideoSession s, int objId)
    {
        int i = s.IndexOf(objId);
        if (i >= 0) return s.Objects[i];
        var o = new TrackedObject(objId);
        s.Objects.Add(o);
        return o;
    }

    void CheckFrame(VideoSession s, int frame)
    {
        if (frame < 0 || frame >= s.NumFrames)
            throw new Sam2Exception($"frame {frame} is outside the video (frames 0 to {s.NumFrames - 1})");
    }

    /// <summary>
    /// Adds clicks (x, y in video pixels; label 1 foreground, 0 background) and/or a box for an
    /// object on a frame, and returns every object's masks on that frame.
    /// </summary>
    public VideoFrameMasks AddNewPointsOrBox(VideoSession s, int frameIdx, int objId, float[,]? points = null, int[]? labels = null,
        bool clearOldPoints = true, bool normalizeCoords = true, float[]? box = null)
    {
        CheckFrame(s, frameIdx);
        if ((points is null) != (labels is null)) throw new Sam2Exception("points and labels must be given together");
        if (points is null && box is null) throw new Sam2Exception("at least one of points or box must be given");
        if (points is not null && points.GetLength(0) != labels!.Length) throw new Sam2Exception("one label per point is needed");
        if (box is not null && !clearOldPoints)
            throw new Sam2Exception("a box must come before any click, so it cannot be added without clearing old points");
        using var pause = GcPause.Start();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var obj = ObjectFor(s, objId);
        var pts = points is null ? zeros(1, 0, 2) : tensor(points).reshape(1, -1, 2);
        var lbl = labels is null ? zeros(1, 0, ScalarType.Int32) : tensor(labels, ScalarType.Int32).reshape(1, -1);
        if (box is not null)
        {
            pts = cat(new[] { tensor(box).reshape(1, 2, 2), pts }, 1);
            lbl = cat(new[] { tensor(new[] { 2, 3 }, ScalarType.Int32).reshape(1, 2), lbl }, 1);
        }
        if (normalizeCoords) pts = pts / tensor(new float[] { s.VideoWidth, s.VideoHeight });
        pts = pts * ImageSize;
        var old = clearOldPoints ? null : obj.PointInputs.GetValueOrDefault(frameIdx);
        var pointInputs = PointInputs.Concat(old, pts, lbl);
        pointInputs.Coords.DetachFromDisposeScope();
        pointInputs.Labels.DetachFromDisposeScope();
        obj.PointInputs[frameIdx] = pointInputs;
        if (obj.MaskInputs.Remove(frameIdx, out var oldMask)) oldMask.Dispose();

        bool isInitCondFrame = !obj.FramesTracked.ContainsKey(frameIdx);
        bool reverse = !isInitCondFrame && obj.FramesTracked[frameIdx];
        bool isCond = isInitCondFrame || Model.Config.AddAllFramesToCorrectAsCond;
        // A correction starts from the mask the object already has on this frame.
        var prevOut = obj.TempOutput.Get(isCond).GetValueOrDefault(frameIdx) ?? obj.Output.Find(frameIdx);
        Tensor? prevLogits = prevOut is not null ? prevOut.PredMasks.clamp(-32.0, 32.0) : null;
        var current = RunSingleFrameInference(s, obj.Output, frameIdx, isInitCondFrame, pointInputs, null, reverse,
            runMemEncoder: false, prevLogits);
        Store(obj.TempOutput.Get(isCond), frameIdx, current);
        return Escape(ConsolidatedFrame(s, frameIdx, isCond));
    }

    /// <summary>Adds a mask (H×W, nonzero = object, any size) for an object on a frame.</summary>
    public VideoFrameMasks AddNewMask(VideoSession s, int frameIdx, int objId, Tensor mask)
    {
        CheckFrame(s, frameIdx);
        if (mask.dim() != 2) throw new Sam2Exception($"a mask must be 2-D (H×W), got [{string.Join(",", mask.shape)}]");
        using var pause = GcPause.Start();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var obj = ObjectFor(s, objId);
        var m = (mask.to_type(ScalarType.Bool)).to_type(float32)[TensorIndex.None, TensorIndex.None];
        if (m.shape[2] != ImageSize || m.shape[3] != ImageSize)
        {
            m = F.interpolate(m, new long[] { ImageSize, ImageSize }, mode: InterpolationMode.Bilinear, align_corners: false, antialias: true);
            m = (m >= 0.5).to_type(float32);
        }
        if (obj.MaskInputs.Remove(frameIdx, out var oldMask)) oldMask.Dispose();
        obj.MaskInputs[frameIdx] = m.DetachFromDisposeScope();
        if (obj.PointInputs.Remove(frameIdx, out var oldPts)) { oldPts.Coords.Dispose(); oldPts.Labels.Dispose(); }

        bool isInitCondFrame = !obj.FramesTracked.ContainsKey(frameIdx);
        bool reverse = !isInitCondFrame && obj.FramesTracked[frameIdx];
        bool isCond = isInitCondFrame || Model.Config.AddAllFramesToCorrectAsCond;
        var current = RunSingleFrameInference(s, obj.Output, frameIdx, isInitCondFrame, null, m, reverse, runMemEncoder: false);
        Store(obj.TempOutput.Get(isCond), frameIdx, current);
        return Escape(ConsolidatedFrame(s, frameIdx, isCond));
    }

    /// <summary>Tracks every object through the video from <paramref name="startFrameIdx"/> (default: the
    /// first prompted frame) for at most <paramref name="maxFrameNumToTrack"/> frames, lazily.</summary>
    public IEnumerable<VideoFrameMasks> PropagateInVideo(VideoSession s, int? startFrameIdx = null, int? maxFrameNumToTrack = null, bool reverse = false)
    {
        PropagateInVideoPreflight(s);
        var order = PropagationFrames(s, startFrameIdx, maxFrameNumToTrack, reverse);
        return PropagateFrames(s, order, reverse);
    }

    /// <summary>The frames a propagation visits, in order: from <paramref name="startFrameIdx"/> (default: the first
    /// frame with a prompt) for at most <paramref name="maxFrameNumToTrack"/> frames after it, backward if <paramref name="reverse"/>.</summary>
    public IReadOnlyList<int> PropagationFrames(VideoSession s, int? startFrameIdx = null, int? maxFrameNumToTrack = null, bool reverse = false)
    {
        if (startFrameIdx is { } sf) CheckFrame(s, sf);
        int numFrames = s.NumFrames;
        // Prompts not yet moved into the memory bank (before the preflight) count as prompted frames too.
        int start = startFrameIdx ?? s.Objects.SelectMany(o => o.Output.CondFrameOutputs.Keys.Concat(o.TempOutput.CondFrameOutputs.Keys))
            .DefaultIfEmpty(0).Min();
        int max = maxFrameNumToTrack ?? numFrames;
        if (max < 0) throw new Sam2Exception("max_frames must not be negative");
        if (reverse)
        {
            int end = Math.Max(start - max, 0);
            return start > 0 ? Enumerable.Range(end, start - end + 1).Reverse().ToList() : [];
        }
        int last = Math.Min(start + max, numFrames - 1);
        return Enumerable.Range(start, Math.Max(0, last - start + 1)).ToList();
    }

    IEnumerable<VideoFrameMasks> PropagateFrames(VideoSession s, IEnumerable<int> order, bool reverse)
    {
        var objIds = s.ObjIds;
        foreach (int frameIdx in order)
        {
            VideoFrameMasks result;
            using (GcPause.Start())
            using (no_grad())
            using (var scope = NewDisposeScope())
            {
                var perObj = new List<Tensor>();
                foreach (var obj in s.Objects)
                {
                    Tensor predMasks;
                    if (obj.Output.CondFrameOutputs.TryGetValue(frameIdx, out var condOut))
                    {
                        predMasks = condOut.PredMasks;
                        if (Model.Config.ClearNonCondMemAroundInput) ClearNonCondMemAroundInput(s, frameIdx, obj);
                    }
                    else
                    {
                        var current = RunSingleFrameInference(s, obj.Output, frameIdx, false, null, null, reverse, runMemEncoder: true);
                        Store(obj.Output.NonCondFrameOutputs, frameIdx, current);
                        predMasks = current.PredMasks;
                    }
                    obj.FramesTracked[frameIdx] = reverse;
                    perObj.Add(predMasks);
                    if (SpillBehind is { } behind
                        && obj.Output.NonCondFrameOutputs.TryGetValue(reverse ? frameIdx + behind : frameIdx - behind, out var old)
                        && !old.IsSpilled)
                        old.Spill(s.SpillDirectory);
                }
                var all = perObj.Count > 1 ? cat(perObj, 0) : perObj[0];
                result = new VideoFrameMasks(frameIdx, objIds, VideoResMasks(s, all).MoveToOuterDisposeScope());
            }
            yield return result;
        }
    }

    /// <summary>Moves the prompt outputs into the memory bank, encoding their memories, before tracking.</summary>
    public void PropagateInVideoPreflight(VideoSession s)
    {
        if (s.Objects.Count == 0) throw new Sam2Exception("no points, boxes or masks were given for any object; add prompts first");
        using var _ = no_grad();
        foreach (var obj in s.Objects)
        {
            foreach (bool isCond in new[] { false, true })
            {
                var temp = obj.TempOutput.Get(isCond);
                foreach (var (frameIdx, output) in temp)
                {
                    if (output.MaskmemFeatures is null)
                    {
                        using var scope = NewDisposeScope();
                        var highRes = F.interpolate(output.PredMasks, new long[] { ImageSize, ImageSize }, mode: InterpolationMode.Bilinear, align_corners: false);
                        var (features, posEnc) = RunMemoryEncoder(s, frameIdx, highRes, output.ObjectScoreLogits!, isMaskFromPts: true);
                        output.MaskmemFeatures = features.DetachFromDisposeScope();
                        output.MaskmemPosEnc = posEnc;
                    }
                    Store(obj.Output.Get(isCond), frameIdx, output);
                    if (Model.Config.ClearNonCondMemAroundInput) ClearNonCondMemAroundInput(s, frameIdx, obj);
                }
                temp.Clear();
            }
            if (obj.Output.CondFrameOutputs.Count == 0)
                throw new Sam2Exception($"object {obj.Id} has no points, box or mask on any frame; add prompts first");
            foreach (var frameIdx in obj.Output.CondFrameOutputs.Keys)
                if (obj.Output.NonCondFrameOutputs.Remove(frameIdx, out var stale)) stale.Dispose();
        }
    }

    /// <summary>Removes an object's prompts on a frame; a prompted frame becomes an ordinary tracked frame.</summary>
    public VideoFrameMasks? ClearAllPromptsInFrame(VideoSession s, int frameIdx, int objId, bool needOutput = true)
    {
        CheckFrame(s, frameIdx);
        int idx = s.IndexOf(objId);
        if (idx < 0) throw new Sam2Exception($"object {objId} does not exist (objects: {string.Join(", ", s.ObjIds)})");
        var obj = s.Objects[idx];
        if (obj.PointInputs.Remove(frameIdx, out var p)) { p.Coords.Dispose(); p.Labels.Dispose(); }
        if (obj.MaskInputs.Remove(frameIdx, out var m)) m.Dispose();
        foreach (bool c in new[] { true, false })
            if (obj.TempOutput.Get(c).Remove(frameIdx, out var t)) t.Dispose();
        if (obj.Output.CondFrameOutputs.Remove(frameIdx, out var o))
        {
            Store(obj.Output.NonCondFrameOutputs, frameIdx, o);
            obj.FramesTracked.Remove(frameIdx);
        }
        if (!needOutput) return null;
        bool isCond = s.Objects.Any(x => x.TempOutput.CondFrameOutputs.ContainsKey(frameIdx));
        using var _ = no_grad();
        return ConsolidatedFrame(s, frameIdx, isCond);
    }

    /// <summary>Removes an object everywhere; returns the remaining ids and the updated masks of its prompted frames.</summary>
    public (IReadOnlyList<int> ObjIds, IReadOnlyList<VideoFrameMasks> Updated) RemoveObject(VideoSession s, int objId, bool strict = true, bool needOutput = true)
    {
        int idx = s.IndexOf(objId);
        if (idx < 0)
        {
            if (!strict) return (s.ObjIds, []);
            throw new Sam2Exception($"cannot remove object {objId}: it does not exist (objects: {string.Join(", ", s.ObjIds)})");
        }
        if (s.Objects.Count == 1)
        {
            ResetState(s);
            return (s.ObjIds, []);
        }
        var obj = s.Objects[idx];
        var inputFrames = obj.PointInputs.Keys.Concat(obj.MaskInputs.Keys).Distinct().OrderBy(f => f).ToList();
        foreach (var f in inputFrames) ClearAllPromptsInFrame(s, f, objId, needOutput: false);
        obj.Clear();
        s.Objects.RemoveAt(idx);
        var updated = new List<VideoFrameMasks>();
        if (needOutput)
        {
            using var _ = no_grad();
            foreach (var f in inputFrames)
                updated.Add(ConsolidatedFrame(s, f, s.Objects.Any(x => x.TempOutput.CondFrameOutputs.ContainsKey(f))));
        }
        return (s.ObjIds, updated);
    }

    /// <summary>Forgets every object and prompt; the frames stay open.</summary>
    public void ResetState(VideoSession s)
    {
        foreach (var o in s.Objects) o.Clear();
        s.Objects.Clear();
    }

    // --- the steps behind the operations ---

    PreparedFeatures GetImageFeature(VideoSession s, int frameIdx)
    {
        if (s.CachedFrame != frameIdx || s.CachedFeatures is null)
        {
            s.ClearFeatureCache();
            using var scope = NewDisposeScope();
            var image = Preprocess.VideoFrame(s.Frames.Read(frameIdx), ImageSize).unsqueeze(0);
            var o = Model.ForwardImage(image);
            foreach (var t in o.BackboneFpn.Concat(o.VisionPosEnc)) t.DetachFromDisposeScope();
            s.CachedFeatures = o;
            s.CachedFrame = frameIdx;
        }
        return Model.PrepareBackboneFeatures(s.CachedFeatures);
    }

    FrameOutput RunSingleFrameInference(VideoSession s, ObjectMemory output, int frameIdx, bool isInitCondFrame,
        PointInputs? pointInputs, Tensor? maskInputs, bool reverse, bool runMemEncoder, Tensor? prevSamMaskLogits = null)
    {
        using var scope = NewDisposeScope();
        var feats = GetImageFeature(s, frameIdx);
        var current = Model.TrackStep(frameIdx, isInitCondFrame, feats, pointInputs, maskInputs, output, s.NumFrames,
            reverse, runMemEncoder, prevSamMaskLogits);
        var predMasks = current.PredMasks;
        if (Model.Config.FillHoleArea > 0) predMasks = ConnectedComponents.FillHolesInMaskScores(predMasks, Model.Config.FillHoleArea);
        var compact = new FrameOutput
        {
            PointInputs = pointInputs,
            MaskInputs = maskInputs,
            // Memories are kept in bfloat16, as the reference stores them.
            MaskmemFeatures = current.MaskmemFeatures?.to_type(ScalarType.BFloat16),
            MaskmemPosEnc = current.MaskmemPosEnc is null ? null : MaskmemPosEnc(s, current.MaskmemPosEnc),
            PredMasks = predMasks,
            ObjPtr = current.ObjPtr,
            ObjectScoreLogits = current.ObjectScoreLogits,
        };
        return compact.Keep().Own();
    }

    (Tensor Features, IReadOnlyList<Tensor> PosEnc) RunMemoryEncoder(VideoSession s, int frameIdx, Tensor highResMasks,
        Tensor objectScoreLogits, bool isMaskFromPts)
    {
        using var scope = NewDisposeScope();
        var feats = GetImageFeature(s, frameIdx);
        var (features, posEnc) = Model.EncodeNewMemory(feats.VisionFeats[^1], feats.FeatSizes[^1], highResMasks, objectScoreLogits, isMaskFromPts);
        return (features.to_type(ScalarType.BFloat16).MoveToOuterDisposeScope(), MaskmemPosEnc(s, posEnc));
    }

    /// <summary>The session's single copy of the memory position encoding.</summary>
    static IReadOnlyList<Tensor> MaskmemPosEnc(VideoSession s, IReadOnlyList<Tensor> computed)
    {
        if (s.MaskmemPosEnc is null)
            s.MaskmemPosEnc = computed.Select(x => x[TensorIndex.Slice(0, 1)].clone().DetachFromDisposeScope()).ToList();
        return s.MaskmemPosEnc;
    }

    /// <summary>Puts an output in a memory dictionary, freeing the one it replaces.</summary>
    static void Store(SortedDictionary<int, FrameOutput> d, int frameIdx, FrameOutput o)
    {
        if (d.TryGetValue(frameIdx, out var old) && !ReferenceEquals(old, o)) old.Dispose();
        d[frameIdx] = o;
    }

    void ClearNonCondMemAroundInput(VideoSession s, int frameIdx, TrackedObject obj)
    {
        int r = Model.Config.MemoryTemporalStrideForEval;
        for (int t = frameIdx - r * Model.NumMaskmem; t <= frameIdx + r * Model.NumMaskmem; t++)
            if (obj.Output.NonCondFrameOutputs.Remove(t, out var o)) o.Dispose();
    }

    /// <summary>Every object's current mask on a frame, at the video's size (objects without one get the no-object score).</summary>
    VideoFrameMasks ConsolidatedFrame(VideoSession s, int frameIdx, bool isCond)
    {
        using var scope = NewDisposeScope();
        var consolidated = full(s.Objects.Count, 1, s.VideoHeight, s.VideoWidth, Sam2Base.NoObjScore, dtype: float32);
        for (int i = 0; i < s.Objects.Count; i++)
        {
            var obj = s.Objects[i];
            var o = obj.TempOutput.Get(isCond).GetValueOrDefault(frameIdx) ?? obj.Output.Find(frameIdx);
            if (o is null) continue;
            consolidated[TensorIndex.Slice(i, i + 1)] = F.interpolate(o.PredMasks, new long[] { s.VideoHeight, s.VideoWidth },
                mode: InterpolationMode.Bilinear, align_corners: false);
        }
        return new VideoFrameMasks(frameIdx, s.ObjIds, VideoResMasks(s, consolidated).MoveToOuterDisposeScope());
    }

    /// <summary>Hands a result computed inside an operation's dispose scope to the caller.</summary>
    static VideoFrameMasks Escape(VideoFrameMasks r)
    {
        r.MaskLogits.MoveToOuterDisposeScope();
        return r;
    }

    /// <summary>Low-resolution logits of all objects to the video's size, non-overlapping if so set.</summary>
    Tensor VideoResMasks(VideoSession s, Tensor anyResMasks)
    {
        var m = anyResMasks.shape[^2] == s.VideoHeight && anyResMasks.shape[^1] == s.VideoWidth ? anyResMasks
            : F.interpolate(anyResMasks, new long[] { s.VideoHeight, s.VideoWidth }, mode: InterpolationMode.Bilinear, align_corners: false);
        return Model.Config.NonOverlapMasks ? Sam2Base.ApplyNonOverlappingConstraints(m) : m;
    }
}
