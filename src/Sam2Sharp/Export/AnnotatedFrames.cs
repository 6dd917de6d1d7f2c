using Sam2Sharp.Amg;
using static TorchSharp.torch;

namespace Sam2Sharp.Export;

/// <summary>
/// The latest mask of every object on every frame of an annotation (an image is one frame), kept
/// compact as run-length encodings, for the exporters. Safe to read while another thread writes (a tracker
/// filling frames while a viewer reads them): every member takes one lock.
/// </summary>
public sealed class AnnotatedFrames
{
    readonly SortedDictionary<int, SortedDictionary<int, Rle>> frames = new();
    readonly object sync = new();

    /// <summary>Frame width in pixels.</summary>
    public int Width { get; }
    /// <summary>Frame height in pixels.</summary>
    public int Height { get; }
    /// <summary>Frame names for the exported files (a frame folder's file stems, or zero-padded indices).</summary>
    public IReadOnlyList<string> FrameNames { get; }
    readonly Dictionary<int, string> objectNames = new();

    /// <summary>An empty annotation of frames of one size, with their names for the exported files.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The size is not positive.</exception>
    public AnnotatedFrames(int width, int height, IReadOnlyList<string> frameNames)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), "the frame size must be positive");
        Width = width; Height = height; FrameNames = frameNames;
    }

    /// <summary>Frames that have at least one object's mask, in order.</summary>
    public IReadOnlyList<int> Frames { get { lock (sync) return frames.Where(f => f.Value.Count > 0).Select(f => f.Key).ToList(); } }

    /// <summary>Every object that has a mask on some frame, by id.</summary>
    public IReadOnlyList<int> ObjIds { get { lock (sync) return frames.Values.SelectMany(f => f.Keys).Distinct().Order().ToList(); } }

    /// <summary>The masks on one frame by object id (empty when none).</summary>
    public IReadOnlyDictionary<int, Rle> On(int frame)
    {
        lock (sync) return frames.TryGetValue(frame, out var d) ? new SortedDictionary<int, Rle>(d) : new SortedDictionary<int, Rle>();
    }

    /// <summary>An object's name for the exports (default "object N").</summary>
    public string NameOf(int objId)
    {
        lock (sync) return objectNames.TryGetValue(objId, out var n) ? n : $"object {objId}";
    }

    /// <summary>Names an object (null: back to the default).</summary>
    public void SetName(int objId, string? name)
    {
        lock (sync)
        {
            if (string.IsNullOrWhiteSpace(name)) objectNames.Remove(objId);
            else objectNames[objId] = name.Trim();
        }
    }

    /// <summary>Sets an object's mask on a frame; an empty mask removes it.</summary>
    public void Set(int frame, int objId, Rle mask)
    {
        if (mask.Height != Height || mask.Width != Width)
            throw new ArgumentException($"mask is {mask.Width}×{mask.Height}, frames are {Width}×{Height}");
        if (frame < 0 || frame >= FrameNames.Count) throw new ArgumentOutOfRangeException(nameof(frame));
        lock (sync)
        {
            if (!frames.TryGetValue(frame, out var d)) frames[frame] = d = new();
            if (AmgUtils.AreaFromRle(mask) == 0) d.Remove(objId);
            else d[objId] = mask;
        }
    }

    /// <summary>Sets the masks of objects on a frame from N×1×H×W (or N×H×W) logits: pixels with a logit above 0.</summary>
    public void Set(int frame, IReadOnlyList<int> objIds, Tensor logits)
    {
        using var scope = NewDisposeScope();
        var on = (logits.dim() == 4 ? logits.squeeze(1) : logits) > 0;
        var rles = AmgUtils.MaskToRle(on);
        for (int i = 0; i < objIds.Count; i++) Set(frame, objIds[i], rles[i]);
    }

    /// <summary>Removes one object's masks on one frame.</summary>
    public void Remove(int frame, int objId)
    {
        lock (sync) if (frames.TryGetValue(frame, out var d)) d.Remove(objId);
    }

    /// <summary>Removes an object from every frame.</summary>
    public void RemoveObject(int objId)
    {
        lock (sync)
        {
            foreach (var d in frames.Values) d.Remove(objId);
            objectNames.Remove(objId);
        }
    }

    /// <summary>
    /// The DAVIS label map of a frame (row-major, pixel = object id, 0 background): where objects overlap the smallest
    /// id wins, as the reference's vos_inference paints them. Ids must be 1 to 255.
    /// </summary>
    public byte[] LabelMap(int frame) =>
        IO.LabelMap.Compose(On(frame).Select(kv => KeyValuePair.Create(kv.Key, AmgUtils.RleToMaskArray(kv.Value))), Width * Height);

    /// <summary>An object's mask on a frame, row-major, 1 = on (all zero when it has none).</summary>
    public byte[] Mask(int frame, int objId)
    {
        var bytes = new byte[Width * Height];
        if (On(frame).TryGetValue(objId, out var rle))
        {
            var m = AmgUtils.RleToMaskArray(rle);
            for (int i = 0; i < m.Length; i++) if (m[i]) bytes[i] = 1;
        }
        return bytes;
    }
}
