using System.IO.Compression;
using Sam2Sharp.Imaging;
using Sam2Sharp.IO;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary>Mask outlines (COCO polygons), data-folder confinement and frame archives: the library pieces behind the annotator.</summary>
public sealed class MaskPolygonsTests
{
    /// <summary>Even-odd fill of polygons at pixel centres.</summary>
    static byte[] Rasterize(IEnumerable<float[]> polygons, int w, int h)
    {
        var m = new byte[w * h];
        foreach (var p in polygons)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    double px = x + 0.5, py = y + 0.5;
                    bool inside = false;
                    for (int i = 0, n = p.Length / 2, j = n - 1; i < n; j = i++)
                    {
                        double xi = p[2 * i], yi = p[2 * i + 1], xj = p[2 * j], yj = p[2 * j + 1];
                        if ((yi > py) != (yj > py) && px < (xj - xi) * (py - yi) / (yj - yi) + xi) inside = !inside;
                    }
                    if (inside) m[y * w + x] ^= 1;
                }
        return m;
    }

    static byte[] Random(int w, int h, int seed)
    {
        var r = new Random(seed);
        var m = new byte[w * h];
        // Blobs: a few filled discs, some with holes, plus single pixels touching diagonally.
        for (int k = 0; k < 4; k++)
        {
            int cx = r.Next(w), cy = r.Next(h), rad = r.Next(3, 9);
            for (int y = 0; y < h; y++) for (int x = 0; x < w; x++)
                    if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= rad * rad) m[y * w + x] = 1;
            if (k % 2 == 0 && cy > 0 && cx > 0) m[cy * w + cx] = 0;
        }
        for (int k = 0; k < 20; k++) m[r.Next(h) * w + r.Next(w)] = 1;
        return m;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void OutlinesFillBackToTheMask(int seed)
    {
        int w = 40, h = 30;
        var mask = Random(w, h, seed);
        var all = MaskPolygons.Trace(mask, w, h);
        Assert.Equal(mask, Rasterize(all.Select(p => p.Points), w, h));
        Assert.Equal(mask.Count(v => v != 0), all.Sum(p => p.IsHole ? -p.Area : p.Area), 6);
        // Outer boundaries alone fill the holes in.
        var outer = Rasterize(MaskPolygons.OuterBoundaries(mask, w, h), w, h);
        Assert.All(Enumerable.Range(0, mask.Length), i => Assert.True(mask[i] == 0 || outer[i] == 1));
    }

    [Fact]
    public void DiagonalPixelsGetSeparateOutlines()
    {
        var mask = new byte[] { 1, 0, 0, 1 };
        var polys = MaskPolygons.Trace(mask, 2, 2);
        Assert.Equal(2, polys.Count);
        Assert.All(polys, p => { Assert.False(p.IsHole); Assert.Equal(8, p.Points.Length); Assert.Equal(1, p.Area); });
    }

    [Fact]
    public void ConfinedPathsStayUnderTheRoot()
    {
        string root = TestCli.TempDir("sam2-confined-"), outside = TestCli.TempDir("sam2-outside-");
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "a"));
            File.WriteAllText(Path.Combine(root, "a", "f.png"), "x");
            File.WriteAllText(Path.Combine(outside, "secret.png"), "x");
            Directory.CreateSymbolicLink(Path.Combine(root, "away"), outside);
            Directory.CreateSymbolicLink(Path.Combine(root, "inside"), Path.Combine(root, "a"));
            Assert.Equal(Path.Combine(root, "a", "f.png"), ConfinedPath.Resolve(root, "a/f.png"));
            Assert.Equal(Path.Combine(root, "a", "f.png"), ConfinedPath.Resolve(root, "inside/f.png"));
            var away = Assert.Throws<Sam2Exception>(() => ConfinedPath.Resolve(root, "away/secret.png"));
            Assert.Equal((true, Sam2ErrorKind.Invalid), (away.Message.Contains("outside"), away.Kind));
            Assert.Contains("..", Assert.Throws<Sam2Exception>(() => ConfinedPath.Resolve(root, "a/../../x")).Message);
            Assert.Contains("relative", Assert.Throws<Sam2Exception>(() => ConfinedPath.Resolve(root, outside)).Message);
            var none = Assert.Throws<Sam2Exception>(() => ConfinedPath.Resolve(root, "a/none.png"));
            Assert.Contains("does not exist", none.Message);
            Assert.Equal(Sam2ErrorKind.NotFound, none.Kind);
        }
        finally { Directory.Delete(root, recursive: true); Directory.Delete(outside, recursive: true); }
    }

    [Fact]
    public void FrameArchivesUnpackByFileNameWithinTheCaps()
    {
        string dir = TestCli.TempDir("sam2-archive-");
        try
        {
            byte[] Zip(params (string Name, int Bytes)[] entries)
            {
                using var ms = new MemoryStream();
                using (var z = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
                    foreach (var (name, bytes) in entries)
                        using (var s = z.CreateEntry(name).Open()) s.Write(new byte[bytes]);
                return ms.ToArray();
            }
            var escape = Zip(("../../evil.png", 10), ("x/00001.jpg", 10), ("notes.txt", 5));
            Assert.Equal(2, FrameArchive.Extract(new MemoryStream(escape), Path.Combine(dir, "f"), "up.zip", 10, 1000));
            Assert.Equal(new[] { "00001.jpg", "evil.png" }, Directory.GetFiles(Path.Combine(dir, "f")).Select(Path.GetFileName).Order());
            Assert.False(File.Exists(Path.Combine(dir, "evil.png")));
            var frames = Assert.Throws<Sam2Exception>(() =>
                FrameArchive.Extract(new MemoryStream(Zip(("1.png", 1), ("2.png", 1))), Path.Combine(dir, "g"), "up.zip", 1, 1000));
            Assert.Equal((true, Sam2ErrorKind.LimitExceeded), (frames.Message.Contains("more than 1 frames"), frames.Kind));
            var bytes = Assert.Throws<Sam2Exception>(() =>
                FrameArchive.Extract(new MemoryStream(Zip(("1.png", 2 << 20))), Path.Combine(dir, "h"), "up.zip", 5, 1 << 20));
            Assert.Equal((true, Sam2ErrorKind.LimitExceeded), (bytes.Message.Contains("unpacks to more than"), bytes.Kind));
            var notZip = Assert.Throws<Sam2Exception>(() =>
                FrameArchive.Extract(new MemoryStream(new byte[10]), Path.Combine(dir, "i"), "up.zip", 5, 100));
            Assert.Equal((true, Sam2ErrorKind.Invalid), (notZip.Message.Contains("not a zip"), notZip.Kind));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
