using Sam2Sharp.Imaging;
using Sam2Sharp.Modeling;
using Sam2Sharp.Modeling.Backbones;
using static TorchSharp.torch;

namespace Sam2Sharp.Video;

/// <summary>
/// One tracked object: its prompts per frame, its memory bank, the outputs of prompts not yet
/// consolidated into the memory (temp), and the frames tracked so far (with their direction).
/// </summary>
public sealed class TrackedObject(int id)
{
    public int Id { get; } = id;
    public Dictionary<int, PointInputs> PointInputs { get; } = new();
    public Dictionary<int, Tensor> MaskInputs { get; } = new();
    public ObjectMemory Output { get; } = new();
    public ObjectMemory TempOutput { get; } = new();
    /// <summary>Frame → whether it was tracked in reverse.</summary>
    public Dictionary<int, bool> FramesTracked { get; } = new();

    public void Clear()
    {
        foreach (var p in PointInputs.Values) { p.Coords.Dispose(); p.Labels.Dispose(); }
        foreach (var m in MaskInputs.Values) m.Dispose();
        PointInputs.Clear();
        MaskInputs.Clear();
        foreach (var mem in new[] { Output, TempOutput })
            foreach (var d in new[] { mem.CondFrameOutputs, mem.NonCondFrameOutputs })
            {
                foreach (var o in d.Values) o.Dispose();
                d.Clear();
            }
        FramesTracked.Clear();
    }
}

/// <summary>
/// The state of one video: its frames (decoded and preprocessed when needed), the objects in
/// the order they were added, and the features of the last frame the encoder ran on.
/// </summary>
public sealed class VideoSession : IDisposable
{
    public IFrameSource Frames { get; }
    public int NumFrames => Frames.Count;
    public int VideoHeight => Frames.Height;
    public int VideoWidth => Frames.Width;
    public List<TrackedObject> Objects { get; } = new();
    public IReadOnlyList<int> ObjIds => Objects.Select(o => o.Id).ToList();

    internal int CachedFrame { get; set; } = -1;
    internal BackboneOutput? CachedFeatures { get; set; }
    /// <summary>The memory position encoding is the same for every frame and object: kept once.</summary>
    internal IReadOnlyList<Tensor>? MaskmemPosEnc { get; set; }

    public VideoSession(IFrameSource frames)
    {
        if (frames.Count == 0) throw new Sam2Exception("the video has no frames");
        Frames = frames;
    }

    public int IndexOf(int objId) => Objects.FindIndex(o => o.Id == objId);

    private string? spillDirectory;

    /// <summary>A private temporary folder for memories spilled to disk, made on first use and deleted with the session.</summary>
    internal string SpillDirectory
    {
        get
        {
            if (spillDirectory is null)
            {
                spillDirectory = Path.Combine(Path.GetTempPath(), "sam2sharp-" + Guid.NewGuid().ToString("N"));
                Directory.CreateDirectory(spillDirectory);
            }
            return spillDirectory;
        }
    }

    public void ClearFeatureCache()
    {
        CachedFeatures?.Dispose();
        CachedFeatures = null;
        CachedFrame = -1;
    }

    public void Dispose()
    {
        foreach (var o in Objects) o.Clear();
        Objects.Clear();
        ClearFeatureCache();
        if (MaskmemPosEnc is not null) foreach (var t in MaskmemPosEnc) t.Dispose();
        MaskmemPosEnc = null;
        Frames.Dispose();
        if (spillDirectory is not null && Directory.Exists(spillDirectory)) Directory.Delete(spillDirectory, recursive: true);
    }
}

/// <summary>The masks of every object on one frame: N×1×H×W logits at the video's size, objects in <see cref="ObjIds"/> order.</summary>
public sealed record VideoFrameMasks(int FrameIdx, IReadOnlyList<int> ObjIds, Tensor MaskLogits) : IDisposable
{
    public void Dispose() => MaskLogits.Dispose();
}
