using Sam2Sharp.IO;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary>The one layout detector and VOS mask reader/writer.</summary>
public sealed class VosMasksTests : IDisposable
{
    readonly string tmp = Directory.CreateTempSubdirectory("sam2-vosmasks-").FullName;
    public void Dispose() => Directory.Delete(tmp, recursive: true);

    static Dictionary<int, bool[]> TwoObjects() => new()
    {
        [1] = [true, true, false, false, false, false],
        [3] = [false, true, true, false, false, true],
    };

    [Theory]
    [InlineData(VosLayout.Palette)]
    [InlineData(VosLayout.PerObject)]
    public void WriteThenReadRoundTripsAndIsDetected(VosLayout layout)
    {
        var video = Path.Combine(tmp, "v");
        VosMasks.WriteFrame(video, "00000", TwoObjects(), 3, 2, layout, PalettePng.DavisPalette);
        Assert.Equal(layout, VosMasks.Detect(video));
        byte[]? palette = null;
        var back = VosMasks.ReadFrame(video, "00000", layout, allowMissing: false, ref palette, 3, 2);
        Assert.NotNull(palette);
        Assert.Equal([1, 3], back.Keys.Order());
        Assert.Equal(TwoObjects()[1], back[1]);
        // The label map keeps the smaller id where masks overlap; per-object files keep each mask whole.
        Assert.Equal(layout == VosLayout.Palette ? [false, false, true, false, false, true] : TwoObjects()[3], back[3]);
        Assert.Empty(VosMasks.ReadFrame(video, "00001", layout, allowMissing: true, ref palette, 3, 2));
        Assert.Throws<FileNotFoundException>(() => VosMasks.ReadFrame(video, "00001", layout, allowMissing: false, ref palette, 3, 2));
        var e = Assert.Throws<Sam2Exception>(() => VosMasks.ReadFrame(video, "00000", layout, false, ref palette, 4, 2));
        Assert.Contains("is 3x2, but the frame is 4x2", e.Message);
    }

    [Fact]
    public void MixedOrMissingFoldersAreRefusedByName()
    {
        var video = Path.Combine(tmp, "mixed");
        VosMasks.WriteFrame(video, "00000", TwoObjects(), 3, 2, VosLayout.Palette, PalettePng.DavisPalette);
        Directory.CreateDirectory(Path.Combine(video, "001"));
        Assert.Contains("mixed layout", Assert.Throws<Sam2Exception>(() => VosMasks.Detect(video)).Message);
        Assert.Contains("nope", Assert.Throws<Sam2Exception>(() => VosMasks.Detect(Path.Combine(tmp, "nope"))).Message);
        Directory.CreateDirectory(Path.Combine(tmp, "objs", "first"));
        Assert.Contains("first", Assert.Throws<Sam2Exception>(() => VosMasks.ObjectFolders(Path.Combine(tmp, "objs"))).Message);
    }

    [Fact]
    public void ObjectIdsAreFolderNumbersPlusTheOffset()
    {
        var dir = Path.Combine(tmp, "ids");
        Directory.CreateDirectory(Path.Combine(dir, "000"));
        Directory.CreateDirectory(Path.Combine(dir, "004"));
        Assert.Equal([0, 4], VosMasks.ObjectFolders(dir).Select(o => o.Id));
        Assert.Equal([1, 5], VosMasks.ObjectFolders(dir, idOffset: 1).Select(o => o.Id));
    }
}
