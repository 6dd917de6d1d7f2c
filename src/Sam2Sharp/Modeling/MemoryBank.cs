using Sam2Sharp.IO;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>A past frame's memory that memory attention reads: its temporal position (0 for a conditioning frame) and output.</summary>
public readonly record struct MemoryFrame(int TPos, FrameOutput Output);

/// <summary>An object pointer that memory attention reads: its temporal distance to the current frame and the pointer.</summary>
public readonly record struct ObjectPointer(int Pos, Tensor Ptr);

/// <summary>What memory attention reads for one frame: the spatial memories and the object pointers, in the reference's order.</summary>
public sealed record MemorySelection(IReadOnlyList<MemoryFrame> Memories, IReadOnlyList<ObjectPointer> ObjectPointers);

/// <summary>
/// The memory bank of one object (the reference's <c>output_dict</c>): its outputs on conditioning frames
/// (those with prompts) and on the frames tracked from them, by frame index. The bank owns what it stores:
/// replacing or removing an output frees its tensors (and its spilled files).
/// </summary>
public sealed class MemoryBank : IDisposable
{
    private readonly SortedDictionary<int, FrameOutput> cond = new();
    private readonly SortedDictionary<int, FrameOutput> nonCond = new();

    /// <summary>Outputs on conditioning (prompted) frames, by frame.</summary>
    public IReadOnlyDictionary<int, FrameOutput> CondFrameOutputs => cond;
    /// <summary>Outputs on tracked frames, by frame.</summary>
    public IReadOnlyDictionary<int, FrameOutput> NonCondFrameOutputs => nonCond;
    /// <summary>The conditioning or the tracked outputs.</summary>
    public IReadOnlyDictionary<int, FrameOutput> Outputs(bool isCond) => isCond ? cond : nonCond;
    /// <summary>Whether nothing is stored.</summary>
    public bool IsEmpty => cond.Count == 0 && nonCond.Count == 0;

    /// <summary>The output on a frame, conditioning first; null when there is none.</summary>
    public FrameOutput? Find(int frameIdx) => cond.GetValueOrDefault(frameIdx) ?? nonCond.GetValueOrDefault(frameIdx);

    SortedDictionary<int, FrameOutput> Dict(bool isCond) => isCond ? cond : nonCond;

    /// <summary>Stores an output on a frame; the bank owns it from now on and frees the one it replaces.</summary>
    public void Store(int frameIdx, FrameOutput output, bool isCond)
    {
        var d = Dict(isCond);
        if (d.TryGetValue(frameIdx, out var old) && !ReferenceEquals(old, output)) old.Dispose();
        d[frameIdx] = output;
    }

    /// <summary>Takes an output out of the bank without freeing it (the caller owns it); null when there is none.</summary>
    public FrameOutput? Take(int frameIdx, bool isCond) => Dict(isCond).Remove(frameIdx, out var o) ? o : null;

    /// <summary>Removes and frees the output on a frame; false when there was none.</summary>
    public bool Remove(int frameIdx, bool isCond)
    {
        var o = Take(frameIdx, isCond);
        o?.Dispose();
        return o is not null;
    }

    /// <summary>
    /// Frees the tracked outputs within <paramref name="radius"/> frames of a prompted frame, whose memories were
    /// computed without that prompt (the reference's <c>_clear_non_cond_mem_around_input</c>).
    /// </summary>
    public void ClearNonCondAround(int frameIdx, int radius)
    {
        foreach (int t in nonCond.Keys.Where(t => Math.Abs(t - frameIdx) <= radius).ToList()) Remove(t, isCond: false);
    }

    /// <summary>Moves a tracked frame's large tensors to <paramref name="folder"/> (nothing if absent or already spilled).</summary>
    internal void Spill(int frameIdx, SpillFolder folder)
    {
        if (nonCond.TryGetValue(frameIdx, out var o) && !o.IsSpilled) o.Spill(folder);
    }

    /// <summary>Bytes of the stored tensors held in memory (spilled ones are on disk).</summary>
    public long ResidentBytes => cond.Values.Concat(nonCond.Values).Sum(o => o.ResidentBytes);

    /// <summary>Frees everything stored.</summary>
    public void Clear()
    {
        foreach (var o in cond.Values.Concat(nonCond.Values)) o.Dispose();
        cond.Clear();
        nonCond.Clear();
    }

    /// <inheritdoc cref="Clear"/>
    public void Dispose() => Clear();

    /// <summary>
    /// Up to <paramref name="maxCondFrameNum"/> conditioning frames closest in time to <paramref name="frameIdx"/>
    /// (the closest before, the closest after, then the nearest others; -1: all), and the others.
    /// </summary>
    public (IReadOnlyDictionary<int, FrameOutput> Selected, IReadOnlyDictionary<int, FrameOutput> Unselected)
        SelectClosestCondFrames(int frameIdx, int maxCondFrameNum)
    {
        if (maxCondFrameNum == -1 || cond.Count <= maxCondFrameNum) return (cond, new SortedDictionary<int, FrameOutput>());
        if (maxCondFrameNum < 2) throw new ArgumentException("we should allow using 2+ conditioning frames");
        var selected = new SortedDictionary<int, FrameOutput>();
        var before = cond.Keys.Where(t => t < frameIdx).DefaultIfEmpty(int.MinValue).Max();
        if (before != int.MinValue) selected[before] = cond[before];
        var after = cond.Keys.Where(t => t >= frameIdx).DefaultIfEmpty(int.MaxValue).Min();
        if (after != int.MaxValue) selected[after] = cond[after];
        int remain = maxCondFrameNum - selected.Count;
        foreach (var t in cond.Keys.Where(t => !selected.ContainsKey(t)).OrderBy(t => Math.Abs(t - frameIdx)).Take(remain))
            selected[t] = cond[t];
        var unselected = new SortedDictionary<int, FrameOutput>();
        foreach (var (t, v) in cond) if (!selected.ContainsKey(t)) unselected[t] = v;
        return (selected, unselected);
    }

    /// <summary>
    /// The memories and object pointers memory attention reads on a frame that is not an initial conditioning frame:
    /// the selected conditioning frames, the last <paramref name="numMaskmem"/>-1 tracked frames (every
    /// <paramref name="stride"/>-th beyond the nearest one), and up to <paramref name="maxObjPtrs"/> object pointers
    /// (0: none) from the conditioning frames (only those not in the future with <paramref name="onlyPtrsInThePast"/>)
    /// and the frames just before. Frames that were not tracked are skipped (padding).
    /// </summary>
    public MemorySelection SelectForAttention(int frameIdx, int numFrames, bool trackInReverse, int maxCondFrameNum, int numMaskmem,
        int stride, int maxObjPtrs, bool onlyPtrsInThePast, bool signedPointerPositions)
    {
        if (cond.Count == 0) throw new Sam2Exception($"frame {frameIdx}: an object has no prompted (conditioning) frame to track from; add a prompt first");
        var (selected, unselected) = SelectClosestCondFrames(frameIdx, maxCondFrameNum);
        FrameOutput? Past(int t) => nonCond.GetValueOrDefault(t) ?? unselected.GetValueOrDefault(t);

        var memories = selected.Values.Select(o => new MemoryFrame(0, o)).ToList();
        for (int tPos = 1; tPos < numMaskmem; tPos++)
        {
            int tRel = numMaskmem - tPos; // frames before the current one
            int prev;
            if (tRel == 1) prev = trackInReverse ? frameIdx + tRel : frameIdx - tRel;
            else if (!trackInReverse) prev = FloorDiv(frameIdx - 2, stride) * stride - (tRel - 2) * stride;
            else prev = -FloorDiv(-(frameIdx + 2), stride) * stride + (tRel - 2) * stride;
            if (Past(prev) is { } o) memories.Add(new MemoryFrame(tPos, o));
        }

        var pointers = new List<ObjectPointer>();
        if (maxObjPtrs > 0)
        {
            int sign = trackInReverse ? -1 : 1;
            foreach (var (t, o) in selected)
            {
                if (onlyPtrsInThePast && (trackInReverse ? t < frameIdx : t > frameIdx)) continue;
                pointers.Add(new ObjectPointer(signedPointerPositions ? (frameIdx - t) * sign : Math.Abs(frameIdx - t), o.ObjPtr));
            }
            for (int tDiff = 1; tDiff < maxObjPtrs; tDiff++)
            {
                int t = trackInReverse ? frameIdx + tDiff : frameIdx - tDiff;
                if (t < 0 || t >= numFrames) break;
                if (Past(t) is { } o) pointers.Add(new ObjectPointer(tDiff, o.ObjPtr));
            }
        }
        return new MemorySelection(memories, pointers);
    }

    static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);
}
