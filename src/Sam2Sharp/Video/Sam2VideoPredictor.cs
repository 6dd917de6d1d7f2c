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
public sealed class Sam2VideoPredictor
{
    /// <summary>The model (shared: the predictor does not dispose it).</summary>
    public Sam2Base Model { get; }
    /// <summary>The options given at construction.</summary>
    public Sam2VideoPredictorOptions Options { get; }
    int ImageSize => Model.ImageSize;
    readonly int fillHoleArea;
    readonly int? spillBehind;

    /// <summary>A predictor on <paramref name="model"/> (shared, not owned) with the given options (default: the reference builder's).</summary>
    public Sam2VideoPredictor(Sam2Base model, Sam2VideoPredictorOptions? options = null)
    {
        Model = model;
        Options = options ?? new Sam2VideoPredictorOptions();
        fillHoleArea = Options.FillHoleAreaFor(model);
        spillBehind = Options.SpillBehindFor(model);
        if (fillHoleArea < 0) throw new Sam2Exception($"video predictor options: fill hole area must not be negative, got {fillHoleArea}");
        if (spillBehind < 1) throw new Sam2Exception($"video predictor options: spill behind must be at least 1 frame, got {spillBehind}");
        if (Options.FeatureCacheFrames < 1) throw new Sam2Exception($"video predictor options: feature cache frames must be at least 1, got {Options.FeatureCacheFrames}");
    }

    /// <summary>Opens a video (a folder of JPEG/PNG frames or a video file) and encodes its first frame.</summary>
    public VideoSession InitState(string path) => InitState(FrameSource.Open(path));

    /// <summary>A session over <paramref name="frames"/> (which it owns from now on), its first frame encoded.</summary>
    public VideoSession InitState(IFrameSource frames)
    {
        var s = new VideoSession(frames);
        try
        {
            using var unit = InferenceScope.Start();
            GetImageFeature(s, 0); // as the reference: warm up on frame 0
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    void CheckFrame(VideoSession s, int frame)
    {
        if (frame < 0 || frame >= s.NumFrames)
            throw new Sam2Exception($"frame {frame} is outside the video (frames 0 to {s.NumFrames - 1})");
    }

    /// <summary>
    /// Adds clicks and/or a box (x, y in video pixels, or in [0, 1] without <paramref name="normalizeCoords"/>)
    /// for an object on a frame, and returns every object's masks on that frame.
    /// </summary>
    public VideoFrameMasks AddNewPointsOrBox(VideoSession s, int frameIdx, int objId, IReadOnlyList<PromptPoint>? points,
        PromptBox? box = null, bool clearOldPoints = true, bool normalizeCoords = true)
    {
        var (coords, labels) = PromptArrays.Points(points);
        return AddNewPointsOrBox(s, frameIdx, objId, coords, labels, clearOldPoints, normalizeCoords, box?.ToArray());
    }

    /// <summary>
    /// Adds clicks (N×2 x, y in video pixels; N labels as <see cref="PointLabel"/>: 1 foreground, 0 background)
    /// and/or a box (x0, y0, x1, y1) for an object on a frame, and returns every object's masks on that frame.
    /// </summary>
    public VideoFrameMasks AddNewPointsOrBox(VideoSession s, int frameIdx, int objId, float[,]? points = null, int[]? labels = null,
        bool clearOldPoints = true, bool normalizeCoords = true, float[]? box = null)
    {
        CheckFrame(s, frameIdx);
        if ((points is null) != (labels is null)) throw new Sam2Exception("points and labels must be given together");
        if (points is null && box is null) throw new Sam2Exception("at least one of points or box must be given");
        if (points is not null && points.GetLength(0) != labels!.Length) throw new Sam2Exception("one label per point is needed");
        if (points is not null && points.GetLength(1) != 2) throw new Sam2Exception($"points must be N×2 (x, y), got N×{points.GetLength(1)}");
        if (box is not null && box.Length != 4) throw new Sam2Exception($"a box is 4 numbers (x0, y0, x1, y1), got {box.Length}");
        if (box is not null && !clearOldPoints)
            throw new Sam2Exception("a box must come before any click, so it cannot be added without clearing old points");
        using var unit = InferenceScope.Start();
        var obj = s.GetOrAdd(objId);
        var device = Model.Device;
        var pts = points is null ? zeros(1, 0, 2, device: device) : tensor(points, device: device).reshape(1, -1, 2);
        var lbl = labels is null ? zeros(1, 0, ScalarType.Int32, device) : tensor(labels, ScalarType.Int32, device).reshape(1, -1);
        if (box is not null)
        {
            pts = cat(new[] { tensor(box, device: device).reshape(1, 2, 2), pts }, 1);
            lbl = cat(new[] { tensor(new[] { 2, 3 }, ScalarType.Int32, device).reshape(1, 2), lbl }, 1);
        }
        if (normalizeCoords) pts = pts / tensor(new float[] { s.VideoWidth, s.VideoHeight }, device: device);
        pts = pts * ImageSize;
        var old = clearOldPoints ? null : obj.PointInputs.GetValueOrDefault(frameIdx);
        var pointInputs = PointInputs.Concat(old, pts, lbl);
        pointInputs.Coords.DetachFromDisposeScope();
        pointInputs.Labels.DetachFromDisposeScope();
        obj.SetPoints(frameIdx, pointInputs);
        obj.RemoveMask(frameIdx);

        bool isInitCondFrame = !obj.FramesTracked.ContainsKey(frameIdx);
        bool reverse = !isInitCondFrame && obj.FramesTracked[frameIdx];
        bool isCond = isInitCondFrame || Options.AddAllFramesToCorrectAsCond;
        // A correction starts from the mask the object already has on this frame.
        var prevOut = obj.Pending.Outputs(isCond).GetValueOrDefault(frameIdx) ?? obj.Memory.Find(frameIdx);
        Tensor? prevLogits = prevOut is not null ? prevOut.PredMasks.clamp(-32.0, 32.0) : null;
        var current = RunSingleFrameInference(s, obj.Memory, frameIdx, isInitCondFrame, pointInputs, null, reverse,
            runMemEncoder: false, prevLogits);
        obj.Pending.Store(frameIdx, current, isCond);
        return Escape(ConsolidatedFrame(s, frameIdx, isCond));
    }

    /// <summary>Adds a mask (H×W, nonzero = object, any size) for an object on a frame.</summary>
    public VideoFrameMasks AddNewMask(VideoSession s, int frameIdx, int objId, Tensor mask)
    {
        CheckFrame(s, frameIdx);
        if (mask.dim() != 2) throw new Sam2Exception($"a mask must be 2-D (H×W), got [{string.Join(",", mask.shape)}]");
        using var unit = InferenceScope.Start();
        var obj = s.GetOrAdd(objId);
        var m = mask.to_type(ScalarType.Bool).to(float32, Model.Device)[TensorIndex.None, TensorIndex.None];
        if (m.shape[2] != ImageSize || m.shape[3] != ImageSize)
        {
            m = F.interpolate(m, new long[] { ImageSize, ImageSize }, mode: InterpolationMode.Bilinear, align_corners: false, antialias: true);
            m = (m >= 0.5).to_type(float32);
        }
        obj.SetMask(frameIdx, m.DetachFromDisposeScope());
        obj.RemovePoints(frameIdx);

        bool isInitCondFrame = !obj.FramesTracked.ContainsKey(frameIdx);
        bool reverse = !isInitCondFrame && obj.FramesTracked[frameIdx];
        bool isCond = isInitCondFrame || Options.AddAllFramesToCorrectAsCond;
        var current = RunSingleFrameInference(s, obj.Memory, frameIdx, isInitCondFrame, null, m, reverse, runMemEncoder: false);
        obj.Pending.Store(frameIdx, current, isCond);
        return Escape(ConsolidatedFrame(s, frameIdx, isCond));
    }

    /// <summary>
    /// Tracks every object through the video from <paramref name="startFrameIdx"/> (default: the first prompted
    /// frame) for at most <paramref name="maxFrameNumToTrack"/> frames, lazily: one frame per item. The prompts are
    /// consolidated into the memory (<see cref="PropagateInVideoPreflight"/>) at once, before the first item.
    /// <paramref name="progress"/> hears of each frame done; <paramref name="cancellationToken"/> is checked before
    /// each frame (an <see cref="OperationCanceledException"/> then; the frames tracked so far stay in the memory).
    /// </summary>
    public IEnumerable<VideoFrameMasks> PropagateInVideo(VideoSession s, int? startFrameIdx = null, int? maxFrameNumToTrack = null, bool reverse = false,
        IProgress<PropagationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        PropagateInVideoPreflight(s, cancellationToken);
        var order = PropagationFrames(s, startFrameIdx, maxFrameNumToTrack, reverse);
        return PropagateFrames(s, order, reverse, progress, cancellationToken);
    }

    /// <summary>The frames a propagation visits, in order: from <paramref name="startFrameIdx"/> (default: the first
    /// frame with a prompt) for at most <paramref name="maxFrameNumToTrack"/> frames after it, backward if <paramref name="reverse"/>.</summary>
    public IReadOnlyList<int> PropagationFrames(VideoSession s, int? startFrameIdx = null, int? maxFrameNumToTrack = null, bool reverse = false)
    {
        if (startFrameIdx is { } sf) CheckFrame(s, sf);
        int numFrames = s.NumFrames;
        // Prompts not yet moved into the memory bank (before the preflight) count as prompted frames too.
        int start = startFrameIdx ?? s.Objects.SelectMany(o => o.CondFrameOutputs.Keys.Concat(o.Pending.CondFrameOutputs.Keys))
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

    IEnumerable<VideoFrameMasks> PropagateFrames(VideoSession s, IReadOnlyList<int> order, bool reverse,
        IProgress<PropagationProgress>? progress, CancellationToken cancellationToken)
    {
        var objIds = s.ObjIds;
        int radius = Model.Config.MemoryTemporalStrideForEval * Model.NumMaskmem;
        for (int done = 0; done < order.Count; done++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int frameIdx = order[done];
            VideoFrameMasks result;
            using (InferenceScope.Start())
            {
                var perObj = new Tensor[s.Objects.Count];
                var scores = new float?[s.Objects.Count];
                var toTrack = new List<int>();
                for (int i = 0; i < s.Objects.Count; i++)
                {
                    var obj = s.Objects[i];
                    if (obj.Memory.CondFrameOutputs.TryGetValue(frameIdx, out var condOut))
                    {
                        perObj[i] = condOut.PredMasks;
                        scores[i] = ScoreOf(condOut.ObjectScoreLogits);
                        if (Options.ClearNonCondMemAroundInput) obj.Memory.ClearNonCondAround(frameIdx, radius);
                    }
                    else toTrack.Add(i);
                }
                var tracked = TrackObjects(s, toTrack.Select(i => s.Objects[i].Memory).ToList(), frameIdx, reverse);
                for (int k = 0; k < toTrack.Count; k++)
                {
                    s.Objects[toTrack[k]].Memory.Store(frameIdx, tracked[k], isCond: false);
                    perObj[toTrack[k]] = tracked[k].PredMasks;
                    scores[toTrack[k]] = ScoreOf(tracked[k].ObjectScoreLogits);
                }
                foreach (var obj in s.Objects)
                {
                    obj.MarkTracked(frameIdx, reverse);
                    if (spillBehind is { } behind) obj.Memory.Spill(reverse ? frameIdx + behind : frameIdx - behind, s.Spill);
                }
                var all = perObj.Length > 1 ? cat(perObj, 0) : perObj[0];
                result = new VideoFrameMasks(frameIdx, objIds, VideoResMasks(s, all).MoveToOuterDisposeScope()) { ObjectScoreLogits = scores };
            }
            progress?.Report(new PropagationProgress(frameIdx, done + 1, order.Count));
            yield return result;
        }
    }

    /// <summary>
    /// Moves the prompt outputs into the memory bank, encoding their memories, before tracking (the reference's
    /// <c>propagate_in_video_preflight</c>). <paramref name="cancellationToken"/> is checked before each prompted
    /// frame; what was consolidated before a cancellation stays consolidated, and a later call finishes the rest.
    /// </summary>
    public void PropagateInVideoPreflight(VideoSession s, CancellationToken cancellationToken = default)
    {
        if (s.Objects.Count == 0) throw new Sam2Exception("no points, boxes or masks were given for any object; add prompts first");
        int radius = Model.Config.MemoryTemporalStrideForEval * Model.NumMaskmem;
        using var unit = InferenceScope.Start();
        foreach (var obj in s.Objects)
        {
            foreach (bool isCond in new[] { false, true })
            {
                foreach (int frameIdx in obj.Pending.Outputs(isCond).Keys.ToList())
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var output = obj.Pending.Outputs(isCond)[frameIdx];
                    if (output.MaskmemFeatures is null)
                    {
                        using var scope = NewDisposeScope();
                        var highRes = MaskResize.Bilinear(output.PredMasks, ImageSize, ImageSize);
                        var (features, posEnc) = RunMemoryEncoder(s, frameIdx, highRes, output.ObjectScoreLogits!, isMaskFromPts: true);
                        output.MaskmemFeatures = features.DetachFromDisposeScope();
                        output.MaskmemPosEnc = posEnc;
                    }
                    obj.Memory.Store(frameIdx, obj.Pending.Take(frameIdx, isCond)!, isCond);
                    if (Options.ClearNonCondMemAroundInput) obj.Memory.ClearNonCondAround(frameIdx, radius);
                }
            }
            if (obj.Memory.CondFrameOutputs.Count == 0)
                throw new Sam2Exception($"object {obj.Id} has no points, box or mask on any frame; add prompts first");
            foreach (var frameIdx in obj.Memory.CondFrameOutputs.Keys.ToList()) obj.Memory.Remove(frameIdx, isCond: false);
        }
    }

    /// <summary>Removes an object's prompts on a frame; a prompted frame becomes an ordinary tracked frame.</summary>
    public VideoFrameMasks? ClearAllPromptsInFrame(VideoSession s, int frameIdx, int objId, bool needOutput = true)
    {
        CheckFrame(s, frameIdx);
        int idx = s.IndexOf(objId);
        if (idx < 0) throw new Sam2Exception($"object {objId} does not exist (objects: {string.Join(", ", s.ObjIds)})");
        var obj = s.Objects[idx];
        obj.RemovePoints(frameIdx);
        obj.RemoveMask(frameIdx);
        foreach (bool c in new[] { true, false }) obj.Pending.Remove(frameIdx, c);
        if (obj.Memory.Take(frameIdx, isCond: true) is { } o)
        {
            obj.Memory.Store(frameIdx, o, isCond: false);
            obj.ForgetTracked(frameIdx);
        }
        if (!needOutput) return null;
        bool isCond = s.Objects.Any(x => x.Pending.CondFrameOutputs.ContainsKey(frameIdx));
        using var unit = InferenceScope.Start();
        return Escape(ConsolidatedFrame(s, frameIdx, isCond));
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
        s.RemoveAt(idx);
        var updated = new List<VideoFrameMasks>();
        if (needOutput)
        {
            using var unit = InferenceScope.Start();
            foreach (var f in inputFrames)
                updated.Add(Escape(ConsolidatedFrame(s, f, s.Objects.Any(x => x.Pending.CondFrameOutputs.ContainsKey(f)))));
        }
        return (s.ObjIds, updated);
    }

    /// <summary>Forgets every object and prompt; the frames stay open.</summary>
    public void ResetState(VideoSession s) => s.ClearObjects();

    // --- the steps behind the operations ---

    /// <summary>
    /// Embeds <paramref name="frames"/> ahead of need (those not yet kept), so that a later prompt or propagation on them
    /// skips the image encoder; the results are the same either way. At most
    /// <see cref="Sam2VideoPredictorOptions.FeatureCacheFrames"/> frames are kept: only the first that many of the list
    /// are embedded, and those already kept are marked as recently used. <paramref name="cancellationToken"/> is checked
    /// before each frame (an <see cref="OperationCanceledException"/> then; the frames embedded so far stay kept).
    /// <paramref name="progress"/> hears of each encoder block of each frame embedded. Returns how many frames were embedded.
    /// </summary>
    public int EmbedAhead(VideoSession s, IEnumerable<int> frames, CancellationToken cancellationToken = default,
        IProgress<Sam2Progress>? progress = null)
    {
        var wanted = frames.Distinct().Take(Options.FeatureCacheFrames).ToList();
        foreach (int f in wanted) CheckFrame(s, f);
        // Keep the wanted frames in front first, so that embedding one of them never evicts another.
        for (int i = wanted.Count - 1; i >= 0; i--) s.Features.Get(wanted[i]);
        int embedded = 0;
        foreach (int f in wanted)
        {
            if (s.Features.Contains(f)) continue;
            cancellationToken.ThrowIfCancellationRequested();
            using var unit = InferenceScope.Start();
            using var scope = NewDisposeScope();
            GetImageFeature(s, f, progress);
            embedded++;
        }
        return embedded;
    }

    PreparedFeatures GetImageFeature(VideoSession s, int frameIdx, IProgress<Sam2Progress>? progress = null)
    {
        var features = s.Features.Get(frameIdx);
        if (features is null)
        {
            // Room first, so that with one frame kept (the default) only one frame's features are ever alive.
            s.Features.Shrink(Options.FeatureCacheFrames - 1);
            using var scope = NewDisposeScope();
            var image = Preprocess.VideoFrame(s.Frames.Read(frameIdx), ImageSize).unsqueeze(0).to(Model.Device);
            features = Model.ForwardImage(image, progress);
            foreach (var t in features.BackboneFpn.Concat(features.VisionPosEnc)) t.DetachFromDisposeScope();
            s.Features.Add(frameIdx, features);
        }
        return Model.PrepareBackboneFeatures(features);
    }

    FrameOutput RunSingleFrameInference(VideoSession s, MemoryBank output, int frameIdx, bool isInitCondFrame,
        PointInputs? pointInputs, Tensor? maskInputs, bool reverse, bool runMemEncoder, Tensor? prevSamMaskLogits = null)
    {
        using var scope = NewDisposeScope();
        var feats = GetImageFeature(s, frameIdx);
        var current = Model.TrackStep(frameIdx, isInitCondFrame, feats, pointInputs, maskInputs, output, s.NumFrames,
            reverse, runMemEncoder, prevSamMaskLogits);
        return Compact(s, current, pointInputs, maskInputs);
    }

    /// <summary>
    /// Tracks objects without prompts on a frame (propagation), their memory banks given: as batches of objects with
    /// memory banks of the same shape (<see cref="Sam2VideoPredictorOptions.BatchObjects"/>), else one at a time.
    /// </summary>
    IReadOnlyList<FrameOutput> TrackObjects(VideoSession s, IReadOnlyList<MemoryBank> banks, int frameIdx, bool reverse)
    {
        if (!Options.BatchObjects || banks.Count < 2)
            return banks.Select(b => RunSingleFrameInference(s, b, frameIdx, false, null, null, reverse, runMemEncoder: true)).ToList();
        using var scope = NewDisposeScope();
        var feats = GetImageFeature(s, frameIdx);
        return Model.TrackStepBatched(frameIdx, feats, banks, s.NumFrames, reverse).Select(o => Compact(s, o, null, null)).ToList();
    }

    /// <summary>What the memory bank keeps of a step's output (holes filled, memory in bfloat16) with the prompts the
    /// step was given, owned by no dispose scope.</summary>
    FrameOutput Compact(VideoSession s, FrameOutput current, PointInputs? pointInputs, Tensor? maskInputs)
    {
        var predMasks = current.PredMasks;
        if (fillHoleArea > 0) predMasks = ConnectedComponents.FillHolesInMaskScores(predMasks, fillHoleArea);
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

    /// <summary>Every object's current mask on a frame, at the video's size (objects without one get the no-object score).</summary>
    VideoFrameMasks ConsolidatedFrame(VideoSession s, int frameIdx, bool isCond)
    {
        using var scope = NewDisposeScope();
        var consolidated = full(s.Objects.Count, 1, s.VideoHeight, s.VideoWidth, Sam2Base.NoObjScore, dtype: float32, device: Model.Device);
        var scores = new float?[s.Objects.Count];
        for (int i = 0; i < s.Objects.Count; i++)
        {
            var obj = s.Objects[i];
            var o = obj.Pending.Outputs(isCond).GetValueOrDefault(frameIdx) ?? obj.Memory.Find(frameIdx);
            if (o is null) continue;
            scores[i] = ScoreOf(o.ObjectScoreLogits);
            consolidated[TensorIndex.Slice(i, i + 1)] = MaskResize.Bilinear(o.PredMasks, s.VideoHeight, s.VideoWidth);
        }
        return new VideoFrameMasks(frameIdx, s.ObjIds, VideoResMasks(s, consolidated).MoveToOuterDisposeScope()) { ObjectScoreLogits = scores };
    }

    /// <summary>An output's object-score logit (one object: a 1×1 tensor).</summary>
    static float? ScoreOf(Tensor? objectScoreLogits) => objectScoreLogits?.item<float>();

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
            : MaskResize.Bilinear(anyResMasks, s.VideoHeight, s.VideoWidth);
        return Options.NonOverlapMasks ? Sam2Base.ApplyNonOverlappingConstraints(m) : m;
    }
}
