using Sam2Sharp.Modeling;
using Sam2Sharp.Video;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>The memory bank's rules: ownership of what it stores, clearing around a prompt, the frames memory attention reads.</summary>
public class MemoryBankTests
{
    static FrameOutput Output(float ptr) => new() { PredMasks = zeros(1, 1, 4, 4), ObjPtr = full(1, 8, ptr) };

    static MemoryBank Bank(IEnumerable<int> cond, IEnumerable<int> nonCond)
    {
        var b = new MemoryBank();
        foreach (int t in cond) b.Store(t, Output(t), isCond: true);
        foreach (int t in nonCond) b.Store(t, Output(t), isCond: false);
        return b;
    }

    [Fact]
    public void StoreFreesWhatItReplacesAndTakeHandsOver()
    {
        using var bank = new MemoryBank();
        var first = Output(1);
        bank.Store(3, first, isCond: false);
        bank.Store(3, first, isCond: false); // the same output again is kept
        Assert.False(first.PredMasks.IsInvalid);
        var second = Output(2);
        bank.Store(3, second, isCond: false);
        Assert.True(first.PredMasks.IsInvalid);
        Assert.True(first.ObjPtr.IsInvalid);
        Assert.Same(second, bank.Find(3));

        var taken = bank.Take(3, isCond: false);
        Assert.Same(second, taken);
        Assert.False(second.PredMasks.IsInvalid);
        Assert.True(bank.IsEmpty);
        Assert.False(bank.Remove(3, isCond: false));
        taken!.Dispose();
    }

    [Fact]
    public void ClearAroundAPromptRemovesOnlyTrackedFramesWithinTheRadius()
    {
        using var bank = Bank(cond: [5], nonCond: Enumerable.Range(0, 12));
        var kept = bank.NonCondFrameOutputs[1];
        var cleared = bank.NonCondFrameOutputs[2];
        bank.ClearNonCondAround(5, radius: 3);
        Assert.Equal(new[] { 0, 1, 9, 10, 11 }, bank.NonCondFrameOutputs.Keys);
        Assert.Equal(new[] { 5 }, bank.CondFrameOutputs.Keys);
        Assert.True(cleared.ObjPtr.IsInvalid);
        Assert.False(kept.ObjPtr.IsInvalid);
    }

    [Fact]
    public void ClosestConditioningFramesAreTheNearestBeforeAndAfterThenTheNearest()
    {
        using var bank = Bank(cond: [0, 10, 20, 30, 40], nonCond: []);
        var (sel, unsel) = bank.SelectClosestCondFrames(22, maxCondFrameNum: 3);
        Assert.Equal(new[] { 10, 20, 30 }, sel.Keys);
        Assert.Equal(new[] { 0, 40 }, unsel.Keys);
        var (all, none) = bank.SelectClosestCondFrames(22, maxCondFrameNum: -1);
        Assert.Equal(5, all.Count);
        Assert.Empty(none);
        Assert.Throws<ArgumentException>(() => bank.SelectClosestCondFrames(22, maxCondFrameNum: 1));
    }

    [Fact]
    public void AttentionReadsTheConditioningFramesThenStridedPastFramesAndPointers()
    {
        // Conditioning frame 0, frames 1..19 tracked forward; frame 20 is being tracked.
        using var bank = Bank(cond: [0], nonCond: Enumerable.Range(1, 19));
        var s = bank.SelectForAttention(20, numFrames: 30, trackInReverse: false, maxCondFrameNum: -1, numMaskmem: 7,
            stride: 2, maxObjPtrs: 4, onlyPtrsInThePast: true, signedPointerPositions: true);
        // t_pos 0 = frame 0; t_pos 6 = the previous frame; farther ones every 2nd frame below (20-2)//2*2 = 18.
        Assert.Equal(new[] { (0, 0f), (1, 10f), (2, 12f), (3, 14f), (4, 16f), (5, 18f), (6, 19f) },
            s.Memories.Select(m => (m.TPos, m.Output.ObjPtr[0, 0].item<float>())));
        Assert.Equal(new[] { (20, 0f), (1, 19f), (2, 18f), (3, 17f) }, s.ObjectPointers.Select(p => (p.Pos, p.Ptr[0, 0].item<float>())));

        // In reverse from frame 5 with conditioning frame 9 ahead: positions are signed, the padding frames skipped.
        using var back = Bank(cond: [9], nonCond: [6, 7, 8]);
        var r = back.SelectForAttention(5, numFrames: 10, trackInReverse: true, maxCondFrameNum: -1, numMaskmem: 3,
            stride: 1, maxObjPtrs: 16, onlyPtrsInThePast: true, signedPointerPositions: true);
        Assert.Equal(new[] { (0, 9f), (1, 7f), (2, 6f) }, r.Memories.Select(m => (m.TPos, m.Output.ObjPtr[0, 0].item<float>())));
        Assert.Equal(new[] { (4, 9f), (1, 6f), (2, 7f), (3, 8f) }, r.ObjectPointers.Select(p => (p.Pos, p.Ptr[0, 0].item<float>())));

        using var empty = Bank(cond: [], nonCond: [1]);
        var e = Assert.Throws<Sam2Exception>(() => empty.SelectForAttention(2, 10, false, -1, 7, 1, 16, true, true));
        Assert.Contains("frame 2", e.Message);
    }

    [Fact]
    public void SessionStateIsReadOnlyFromOutside()
    {
        static bool Mutable(Type t) => t.IsGenericType && t.GetGenericTypeDefinition() is var g
            && (g == typeof(List<>) || g == typeof(Dictionary<,>) || g == typeof(SortedDictionary<,>));
        foreach (var type in new[] { typeof(VideoSession), typeof(TrackedObject) })
            foreach (var p in type.GetProperties())
            {
                Assert.False(Mutable(p.PropertyType) || p.PropertyType == typeof(MemoryBank), $"{type.Name}.{p.Name} is a mutable {p.PropertyType.Name}");
                Assert.False(p.SetMethod?.IsPublic == true, $"{type.Name}.{p.Name} has a public setter");
            }
        Assert.Empty(typeof(TrackedObject).GetConstructors());
    }
}
