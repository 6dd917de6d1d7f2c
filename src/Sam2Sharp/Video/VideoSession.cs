using Sam2Sharp.Imaging;
using Sam2Sharp.IO;
using Sam2Sharp.Modeling;
using Sam2Sharp.Modeling.Backbones;
using static TorchSharp.torch;

namespace Sam2Sharp.Video;

/// <summary>
/// One tracked object: its prompts per frame, its memory bank, the outputs of prompts not yet
/// consolidated into the memory, and the frames tracked so far (with their direction). Read-only
/// from outside: the <see cref="Sam2VideoPredictor"/> changes it.
/// </summary>
public sealed class TrackedObject
{
    private readonly Dictionary<int, PointInputs> pointInputs = new();
    private readonly Dictionary<int, Tensor> maskInputs = new();
    private readonly Dictionary<int, bool> framesTracked = new();

    internal TrackedObject(int id) => Id = id;

    /// <summary>The object's id, as the caller gave it.</summary>
    public int Id { get; }
    /// <summary>Clicks and boxes per frame, in model-input pixels.</summary>
    public IReadOnlyDictionary<int, PointInputs> PointInputs => pointInputs;
    /// <summary>Mask prompts per frame (1×1×S×S).</summary>
    public IReadOnlyDictionary<int, Tensor> MaskInputs => maskInputs;
    /// <summary>Frame → whether it was tracked in reverse.</summary>
    public IReadOnlyDictionary<int, bool> FramesTracked => framesTracked;
    /// <summary>Outputs on the frames with prompts (conditioning frames) that propagation has consolidated.</summary>
    public IReadOnlyDictionary<int, FrameOutput> CondFrameOutputs => Memory.CondFrameOutputs;
    /// <summary>Outputs on the frames tracked from them.</summary>
    public IReadOnlyDictionary<int, FrameOutput> NonCondFrameOutputs => Memory.NonCondFrameOutputs;
    /// <summary>The object's current output on a frame: a prompt's result not yet propagated first, then the memory bank's; null if none.</summary>
    public FrameOutput? Find(int frameIdx) => Pending.Find(frameIdx) ?? Memory.Find(frameIdx);

    /// <summary>The memory bank (the reference's <c>output_dict</c>).</summary>
    internal MemoryBank Memory { get; } = new();
    /// <summary>Outputs of prompts not yet consolidated into the memory (the reference's <c>temp_output_dict</c>).</summary>
    internal MemoryBank Pending { get; } = new();

    internal void SetPoints(int frameIdx, PointInputs p)
    {
        if (pointInputs.Remove(frameIdx, out var old) && !ReferenceEquals(old, p)) DisposePoints(old, p);
        pointInputs[frameIdx] = p;
    }

    internal void SetMask(int frameIdx, Tensor m)
    {
        if (maskInputs.Remove(frameIdx, out var old) && !ReferenceEquals(old, m)) old.Dispose();
        maskInputs[frameIdx] = m;
    }

    internal void RemovePoints(int frameIdx)
    {
        if (pointInputs.Remove(frameIdx, out var p)) DisposePoints(p, null);
    }

    internal void RemoveMask(int frameIdx)
    {
        if (maskInputs.Remove(frameIdx, out var m)) m.Dispose();
    }

    internal void MarkTracked(int frameIdx, bool reverse) => framesTracked[frameIdx] = reverse;
    internal void ForgetTracked(int frameIdx) => framesTracked.Remove(frameIdx);

    // Old points that the new ones were concatenated from are separate tensors, so both can be freed.
    static void DisposePoints(PointInputs old, PointInputs? keep)
    {
        if (!ReferenceEquals(old.Coords, keep?.Coords)) old.Coords.Dispose();
        if (!ReferenceEquals(old.Labels, keep?.Labels)) old.Labels.Dispose();
    }

    /// <summary>Bytes of the object's tensors held in memory: prompts, memory bank and pending outputs (spilled ones are on disk).</summary>
    internal long ResidentBytes => Memory.ResidentBytes + Pending.ResidentBytes
        + pointInputs.Values.Sum(p => Sam2Utils.TensorBytes(p.Coords) + Sam2Utils.TensorBytes(p.Labels)) + maskInputs.Values.Sum(Sam2Utils.TensorBytes);

    /// <summary>Frees every prompt and memory of the object.</summary>
    internal void Clear()
    {
        foreach (var p in pointInputs.Values) DisposePoints(p, null);
        foreach (var m in maskInputs.Values) m.Dispose();
        pointInputs.Clear();
        maskInputs.Clear();
        Memory.Clear();
        Pending.Clear();
        framesTracked.Clear();
    }
}

/// <summary>
/// The state of one video: its frames (decoded and preprocessed when needed), the objects in
/// the order they were added, and the image features of the frames the encoder ran on last
/// (<see cref="Sam2VideoPredictorOptions.FeatureCacheFrames"/> of them). Read-only
/// from outside: the <see cref="Sam2VideoPredictor"/> changes it.
/// </summary>
public sealed class VideoSession : IDisposable
{
    private readonly List<TrackedObject> objects = new();

    /// <summary>The video's frames (owned: disposed with the session).</summary>
    public IFrameSource Frames { get; }
    /// <summary>How many frames the video has.</summary>
    public int NumFrames => Frames.Count;
    /// <summary>The frames' height in pixels.</summary>
    public int VideoHeight => Frames.Height;
    /// <summary>The frames' width in pixels.</summary>
    public int VideoWidth => Frames.Width;
    /// <summary>The objects, in the order they were added (the row order of every output).</summary>
    public IReadOnlyList<TrackedObject> Objects => objects;
    /// <summary>The objects' ids, in <see cref="Objects"/> order.</summary>
    public IReadOnlyList<int> ObjIds => objects.Select(o => o.Id).ToList();

    /// <summary>The image features kept (the frames embedded last).</summary>
    internal FeatureCache Features { get; } = new();
    /// <summary>The frames whose image features are kept, most recently used first.</summary>
    public IReadOnlyList<int> EmbeddedFrames => Features.Frames;
    /// <summary>The memory position encoding is the same for every frame and object: kept once.</summary>
    internal IReadOnlyList<Tensor>? MaskmemPosEnc { get; set; }
    /// <summary>Where memories far behind the current frame are spilled (a private temporary folder, made on first use).</summary>
    internal SpillFolder Spill { get; } = new();

    /// <summary>A session over <paramref name="frames"/>, which it owns from now on.</summary>
    public VideoSession(IFrameSource frames)
    {
        if (frames.Count == 0) throw new Sam2Exception("the video has no frames");
        Frames = frames;
    }

    /// <summary>
    /// Bytes of the tensors the session holds in memory: every object's prompts, memory bank and pending outputs, the
    /// cached image features and the memory position encoding. Spilled memories (on disk) are not counted, so over a
    /// long propagation this stays flat.
    /// </summary>
    public long ResidentTensorBytes => objects.Sum(o => o.ResidentBytes) + Features.ResidentBytes
        + (MaskmemPosEnc?.Sum(Sam2Utils.TensorBytes) ?? 0);

    /// <summary>The position of an object in <see cref="Objects"/>, -1 if there is none with that id.</summary>
    public int IndexOf(int objId) => objects.FindIndex(o => o.Id == objId);

    /// <summary>The object with that id, added at the end if new.</summary>
    internal TrackedObject GetOrAdd(int objId)
    {
        int i = IndexOf(objId);
        if (i >= 0) return objects[i];
        var o = new TrackedObject(objId);
        objects.Add(o);
        return o;
    }

    /// <summary>Frees and removes one object.</summary>
    internal void RemoveAt(int index)
    {
        objects[index].Clear();
        objects.RemoveAt(index);
    }

    /// <summary>Frees and removes every object.</summary>
    internal void ClearObjects()
    {
        foreach (var o in objects) o.Clear();
        objects.Clear();
    }

    /// <summary>Frees the cached image features (the next step re-encodes its frame).</summary>
    public void ClearFeatureCache() => Features.Clear();

    /// <summary>Frees every tensor, closes the frames and deletes the spill folder.</summary>
    public void Dispose()
    {
        ClearObjects();
        ClearFeatureCache();
        if (MaskmemPosEnc is not null) foreach (var t in MaskmemPosEnc) t.Dispose();
        MaskmemPosEnc = null;
        Frames.Dispose();
        Spill.Dispose();
    }
}

/// <summary>
/// The image features of a few frames, the least recently used evicted first, so that frames embedded ahead
/// (<see cref="Sam2VideoPredictor.EmbedAhead"/>) are still there when a prompt or propagation reaches them.
/// </summary>
internal sealed class FeatureCache
{
    // Most recently used first; a handful of entries, so a list is the right size of structure.
    readonly List<(int Frame, BackboneOutput Features)> entries = new();

    public IReadOnlyList<int> Frames => entries.Select(e => e.Frame).ToList();

    /// <summary>The frame's features, marked most recently used; null if not kept.</summary>
    public BackboneOutput? Get(int frame)
    {
        int i = entries.FindIndex(e => e.Frame == frame);
        if (i < 0) return null;
        var e = entries[i];
        entries.RemoveAt(i);
        entries.Insert(0, e);
        return e.Features;
    }

    public bool Contains(int frame) => entries.Exists(e => e.Frame == frame);

    /// <summary>Bytes of the features kept.</summary>
    public long ResidentBytes => entries.Sum(e => e.Features.BackboneFpn.Concat(e.Features.VisionPosEnc).Distinct().Sum(Sam2Utils.TensorBytes));

    /// <summary>Frees the least recently used entries until at most <paramref name="keep"/> remain.</summary>
    public void Shrink(int keep)
    {
        while (entries.Count > Math.Max(keep, 0))
        {
            entries[^1].Features.Dispose();
            entries.RemoveAt(entries.Count - 1);
        }
    }

    /// <summary>Keeps <paramref name="features"/> (owned from now on) as the most recently used.</summary>
    public void Add(int frame, BackboneOutput features) => entries.Insert(0, (frame, features));

    public void Clear() => Shrink(0);
}

/// <summary>The masks of every object on one frame: N×1×H×W logits at the video's size, objects in <see cref="ObjIds"/> order.</summary>
public sealed record VideoFrameMasks(int FrameIdx, IReadOnlyList<int> ObjIds, Tensor MaskLogits) : IDisposable
{
    /// <summary>
    /// Each object's object-score logit on the frame (the occlusion head's <c>object_score_logits</c>: positive when
    /// the model finds the object there; its sigmoid is the probability), in <see cref="ObjIds"/> order; null for an
    /// object without an output on the frame (its mask logits are then the no-object score).
    /// </summary>
    public IReadOnlyList<float?> ObjectScoreLogits { get; init; } = [];

    /// <summary>Frees the logits.</summary>
    public void Dispose() => MaskLogits.Dispose();
}

/// <summary>How far a propagation is: <paramref name="FrameIdx"/> was just tracked, <paramref name="Done"/> of <paramref name="Total"/> frames.</summary>
public readonly record struct PropagationProgress(int FrameIdx, int Done, int Total);
