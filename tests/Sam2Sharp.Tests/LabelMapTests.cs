using Sam2Sharp.IO;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>The one label-map rule: the smallest object id wins where masks overlap, 0 where none is on.</summary>
public class LabelMapTests
{
    [Fact]
    public void SmallestIdWinsWhereMasksOverlap()
    {
        // Three pixels: only object 7, objects 3 and 7, none. Given in any order.
        var map = LabelMap.Compose(new Dictionary<int, bool[]> { [7] = [true, true, false], [3] = [false, true, false] }, 3);
        Assert.Equal(new byte[] { 7, 3, 0 }, map);
    }

    [Fact]
    public void LogitsAreOnAboveTheThreshold()
    {
        using var logits = tensor(new float[] { 0.5f, -1f, 2f, 0f, 3f, 3f, -2f, 0f }, new long[] { 2, 1, 2, 2 });
        Assert.Equal(new byte[] { 2, 2, 5, 0 }, LabelMap.FromLogits(logits, [5, 2]));
        Assert.Equal(new byte[] { 2, 2, 0, 0 }, LabelMap.FromLogits(logits, [5, 2], threshold: 2.5));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(256)]
    public void IdsAnIndexedPngCannotHoldAreRefused(int id)
    {
        var e = Assert.Throws<Sam2Exception>(() => LabelMap.Compose(new Dictionary<int, bool[]> { [id] = [true] }, 1));
        Assert.Contains($"object id {id}", e.Message);
    }
}
