using System.Buffers.Binary;
using System.CommandLine;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Evaluation;
using Sam2Sharp.IO;
using Xunit;

namespace Sam2Sharp.Tests;

public sealed class EvaluationTests : IDisposable
{
    const double Tol = 1e-6;
    static string EvalDir => Path.Combine(Golden.SharedDir, "golden-eval");
    static JsonElement Expected(string key) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(EvalDir, "expected.json"))).RootElement.GetProperty("results").GetProperty(key);

    readonly string tmp = Path.Combine(Path.GetTempPath(), "sam2-evaltests-" + Guid.NewGuid().ToString("N"));
    public void Dispose() { if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true); }

    string CopyPred(string layout)
    {
        var dst = Path.Combine(tmp, layout + "-pred");
        CopyDir(Path.Combine(EvalDir, layout, "pred"), dst);
        return dst;
    }

    internal static void CopyDir(string src, string dst)
    {
        Directory.CreateDirectory(dst);
        foreach (var f in Directory.GetFiles(src)) File.Copy(f, Path.Combine(dst, Path.GetFileName(f)));
        foreach (var d in Directory.GetDirectories(src)) CopyDir(d, Path.Combine(dst, Path.GetFileName(d)));
    }

    static void AssertMatches(JsonElement exp, VosBenchmarkResult r, IReadOnlyCollection<string>? onlyVideos = null)
    {
        var objs = exp.GetProperty("objects");
        var expVideos = objs.EnumerateObject().Select(p => p.Name).Where(v => onlyVideos == null || onlyVideos.Contains(v)).ToList();
        Assert.Equal(expVideos, r.Videos.Select(v => v.Name).ToList());
        var allJ = new List<double>();
        var allF = new List<double>();
        foreach (var v in r.Videos)
        {
            var ev = objs.GetProperty(v.Name);
            Assert.Equal(ev.EnumerateObject().Select(p => p.Name).ToList(), v.Objects.Select(o => o.ObjectId).ToList());
            foreach (var o in v.Objects)
            {
                var eo = ev.GetProperty(o.ObjectId);
                Assert.InRange(o.J, eo.GetProperty("J").GetDouble() - Tol, eo.GetProperty("J").GetDouble() + Tol);
                Assert.InRange(o.F, eo.GetProperty("F").GetDouble() - Tol, eo.GetProperty("F").GetDouble() + Tol);
                allJ.Add(eo.GetProperty("J").GetDouble());
                allF.Add(eo.GetProperty("F").GetDouble());
            }
        }
        double gj = onlyVideos == null ? exp.GetProperty("global_J").GetDouble() : allJ.Average();
        double gf = onlyVideos == null ? exp.GetProperty("global_F").GetDouble() : allF.Average();
        double gjf = onlyVideos == null ? exp.GetProperty("global_JF").GetDouble() : (gj + gf) / 2;
        Assert.InRange(r.GlobalJ, gj - Tol, gj + Tol);
        Assert.InRange(r.GlobalF, gf - Tol, gf + Tol);
        Assert.InRange(r.GlobalJF, gjf - Tol, gjf + Tol);
    }

    [Theory]
    [InlineData("davis", true)]
    [InlineData("davis", false)]
    [InlineData("sav", true)]
    [InlineData("sav", false)]
    public void BenchmarkEqualsReference(string layout, bool skip)
    {
        var r = VosBenchmark.Run(Path.Combine(EvalDir, layout, "gt"), Path.Combine(EvalDir, layout, "pred"),
            new VosBenchmarkOptions { SkipFirstAndLast = skip, Strict = true });
        Assert.All(r.Videos, v => Assert.Equal(layout == "davis" ? VosLayout.Palette : VosLayout.PerObject, v.Layout));
        AssertMatches(Expected($"{layout}_skip_first_and_last_{(skip ? "true" : "false")}"), r);
    }

    static int RunCli(params string[] args) => TestCli.Run(EvalCommand.Create(), args);

    [Fact]
    public void CliWritesResultsCsv()
    {
        var pred = CopyPred("sav");
        int rc = RunCli("eval", "--gt-root", Path.Combine(EvalDir, "sav", "gt"), "--pred-root", pred, "--skip-first-and-last", "false", "-q");
        Assert.Equal(0, rc);
        var lines = File.ReadAllLines(Path.Combine(pred, "results.csv"));
        var exp = Expected("sav_skip_first_and_last_false");
        Assert.Equal("sequence    ,obj,  J&F,    J,    F", lines[0]);
        string F1(double x) => VosBenchmarkResult.FormatOneDecimal(x);
        Assert.Equal($"Global score,   , {F1(exp.GetProperty("global_JF").GetDouble())}, {F1(exp.GetProperty("global_J").GetDouble())}, {F1(exp.GetProperty("global_F").GetDouble())}", lines[1]);
        Assert.Equal("Global score,   , 63.5, 72.0, 55.0", lines[1]);
        Assert.Equal(2 + 6, lines.Length);
        Assert.StartsWith("video1      ,002, ", lines[4]);

        // Run again (default: skip first and last) — results.csv is replaced, as the reference does.
        Assert.Equal(0, RunCli("eval", "--gt-root", Path.Combine(EvalDir, "sav", "gt"), "--pred-root", pred, "-q"));
        Assert.Equal("Global score,   , 61.1, 69.9, 52.4", File.ReadAllLines(Path.Combine(pred, "results.csv"))[1]);
    }

    [Fact]
    public void CliReportsUserErrorsWithExitCode1()
    {
        var pred = CopyPred("davis");
        Directory.Delete(Path.Combine(pred, "video1"), recursive: true);
        Assert.Equal(1, RunCli("eval", "--gt-root", Path.Combine(EvalDir, "davis", "gt"), "--pred-root", pred, "--strict", "true", "-q"));
        Assert.False(File.Exists(Path.Combine(pred, "results.csv")));
        Assert.Equal(0, RunCli("eval", "--gt-root", Path.Combine(EvalDir, "davis", "gt"), "--pred-root", pred, "-q"));
        Assert.True(File.Exists(Path.Combine(pred, "results.csv")));
    }

    [Theory]
    [InlineData("davis")]
    [InlineData("sav")]
    public void MissingVideo_StrictFails_NonStrictSkips(string layout)
    {
        var pred = CopyPred(layout);
        Directory.Delete(Path.Combine(pred, "video1"), recursive: true);
        var gt = Path.Combine(EvalDir, layout, "gt");
        var e = Assert.Throws<Sam2Exception>(() => VosBenchmark.Run(gt, pred, new VosBenchmarkOptions { Strict = true }));
        Assert.Contains("video1", e.Message);

        var r = VosBenchmark.Run(gt, pred, new VosBenchmarkOptions { Strict = false });
        Assert.Equal(["video1"], r.Plan.SkippedVideos);
        AssertMatches(Expected($"{layout}_skip_first_and_last_true"), r, ["video0", "video2"]);

        // An extra predicted video is an error only when strict.
        CopyDir(Path.Combine(pred, "video0"), Path.Combine(pred, "video9"));
        Directory.CreateDirectory(Path.Combine(pred, "video1"));
        Assert.Contains("video9", Assert.Throws<Sam2Exception>(() => VosBenchmark.Run(gt, pred, new VosBenchmarkOptions { Strict = true })).Message);
    }

    [Fact]
    public void MissingFrameOrObjectIsSkippedWhenNotStrict()
    {
        var pred = CopyPred("davis");
        File.Delete(Path.Combine(pred, "video2", "00004.png"));
        var r = VosBenchmark.Run(Path.Combine(EvalDir, "davis", "gt"), pred, new VosBenchmarkOptions { Strict = false });
        Assert.Equal(["video2"], r.Plan.SkippedVideos);
        Assert.Contains("00004.png", r.Plan.SkipReasons["video2"]);
        Assert.DoesNotContain(r.Videos, v => v.Name == "video2");

        var spred = CopyPred("sav");
        Directory.Delete(Path.Combine(spred, "video1", "002"), recursive: true);
        var s = VosBenchmark.Run(Path.Combine(EvalDir, "sav", "gt"), spred, new VosBenchmarkOptions { Strict = false });
        Assert.Equal(["video1"], s.Plan.SkippedVideos);
        Assert.Contains("object 002", s.Plan.SkipReasons["video1"]);
    }

    [Theory]
    [InlineData(true)]
    public void MissingFrameIsAnErrorNamingIt(bool strict)
    {
        // DAVIS layout: a missing frame file.
        var pred = CopyPred("davis");
        File.Delete(Path.Combine(pred, "video2", "00004.png"));
        var e = Assert.Throws<Sam2Exception>(() => VosBenchmark.Run(Path.Combine(EvalDir, "davis", "gt"), pred, new VosBenchmarkOptions { Strict = strict }));
        Assert.Contains("video2", e.Message);
        Assert.Contains("00004.png", e.Message);

        // SA-V layout: a missing frame of one object, then a missing object folder.
        var spred = CopyPred("sav");
        var sgt = Path.Combine(EvalDir, "sav", "gt");
        File.Delete(Path.Combine(spred, "video1", "002", "00003.png"));
        e = Assert.Throws<Sam2Exception>(() => VosBenchmark.Run(sgt, spred, new VosBenchmarkOptions { Strict = strict }));
        Assert.Contains("video1", e.Message);
        Assert.Contains("object 002", e.Message);
        Assert.Contains("00003.png", e.Message);
        Directory.Delete(Path.Combine(spred, "video1", "002"), recursive: true);
        e = Assert.Throws<Sam2Exception>(() => VosBenchmark.Run(sgt, spred, new VosBenchmarkOptions { Strict = strict }));
        Assert.Contains("object 002", e.Message);
    }

    [Fact]
    public void FirstFrameSkipDoesNotNeedFirstFramePrediction()
    {
        // With skipping, the first and last frames are never read on the prediction side.
        var pred = CopyPred("davis");
        foreach (var v in Directory.GetDirectories(pred))
        {
            var frames = Directory.GetFiles(v).Order(StringComparer.Ordinal).ToArray();
            File.Delete(frames[0]);
            File.Delete(frames[^1]);
        }
        var r = VosBenchmark.Run(Path.Combine(EvalDir, "davis", "gt"), pred, new VosBenchmarkOptions { SkipFirstAndLast = true });
        AssertMatches(Expected("davis_skip_first_and_last_true"), r);
    }

    // ------------------------------------------------------------------ metrics

    [Fact]
    public void DiskAndBoundaryRadiusMatchTheReference()
    {
        Assert.Equal([0, 1, 2, 1, 0], VosMetrics.DiskHalfWidths(2));
        Assert.Equal([0, 2, 2, 3, 2, 2, 0], VosMetrics.DiskHalfWidths(3)); // skimage disk(3)
        Assert.Equal(2, VosMetrics.BoundaryRadius(120, 200)); // ceil(0.008 * 233.2) = 2
        Assert.Equal(18, VosMetrics.BoundaryRadius(1080, 1920));
    }

    [Fact]
    public void Seg2BmapMarksTheShiftedBoundary()
    {
        // 4x4 with a 2x2 square at (1..2, 1..2)
        var seg = new bool[16];
        foreach (var (y, x) in new[] { (1, 1), (1, 2), (2, 1), (2, 2) }) seg[y * 4 + x] = true;
        var b = VosMetrics.Seg2Bmap(seg, 4, 4);
        var s = string.Concat(b.Select(v => v ? '1' : '0'));
        Assert.Equal("1110" + "1010" + "1110" + "0000", s);
    }

    [Fact]
    public void EmptyMasksScorePerfectly()
    {
        Assert.Equal(1.0, VosMetrics.Iou(0, 0));
        var z = new bool[12];
        Assert.Equal(1.0, VosMetrics.BoundaryF(z, z, 3, 4, VosMetrics.DiskHalfWidths(1)));
    }

    [Theory]
    [InlineData(0.25, "0.2")]
    [InlineData(0.75, "0.8")]
    [InlineData(62.25, "62.2")]
    [InlineData(0.15, "0.1")]
    [InlineData(0.45, "0.5")]
    [InlineData(99.95, "100.0")]
    [InlineData(double.NaN, "nan")]
    public void OneDecimalFormatIsPythons(double x, string s) => Assert.Equal(s, VosBenchmarkResult.FormatOneDecimal(x));

    [Fact]
    public void MeanUsesPairwiseSummation()
    {
        var v = Enumerable.Range(0, 300).Select(i => 1.0 / (i + 1)).ToArray();
        Assert.Equal(v.Sum() / v.Length, VosMetrics.Mean(v), 12);
        Assert.True(double.IsNaN(VosMetrics.Mean(Array.Empty<double>())));
    }

    // ------------------------------------------------------------------ PNG codec

    [Fact]
    public void IndexedRoundTrip()
    {
        var rng = new Random(5);
        int w = 37, h = 23;
        var px = new byte[w * h];
        for (int i = 0; i < px.Length; i++) px[i] = (byte)(i % 7 == 0 ? rng.Next(256) : px[Math.Max(0, i - w)]);
        var path = Path.Combine(tmp, "idx.png");
        Directory.CreateDirectory(tmp);
        PalettePng.WriteIndexed(path, px, w, h, PalettePng.DavisPalette);
        var img = PalettePng.Read(path);
        Assert.Equal((w, h, 8, PngColorType.Indexed), (img.Width, img.Height, img.BitDepth, img.ColorType));
        Assert.Equal(px.Select(b => (ushort)b).ToArray(), img.Samples);
        Assert.Equal(PalettePng.DavisPalette, img.Palette);
        var m = PalettePng.ReadMask(path);
        Assert.Equal(px.Select(b => (int)b).ToArray(), m.Values);
    }

    [Fact]
    public void GrayRoundTrip()
    {
        int w = 50, h = 31;
        var px = new byte[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) px[y * w + x] = (byte)((x - 25) * (x - 25) + (y - 15) * (y - 15) < 100 ? 255 : (y % 5 == 0 ? x * 5 : 0));
        using var ms = new MemoryStream();
        PalettePng.WriteGray(ms, px, w, h);
        ms.Position = 0;
        var img = PalettePng.Read(ms, "gray");
        Assert.Equal((w, h, 8, PngColorType.Gray), (img.Width, img.Height, img.BitDepth, img.ColorType));
        Assert.Equal(px.Select(b => (ushort)b).ToArray(), img.Samples);
    }

    [Fact]
    public void DavisPaletteIsTheVocColourMap()
    {
        var p = PalettePng.DavisPalette;
        Assert.Equal(768, p.Length);
        Assert.Equal(new byte[] { 0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128, 0, 128, 128, 128, 128, 128, 64, 0, 0, 192, 0, 0 }, p[..30]);
        Assert.Equal(new byte[] { 224, 224, 192 }, p[765..]);
    }

    [Fact]
    public void ReadsTheGoldenMasks()
    {
        var d = PalettePng.Read(Path.Combine(EvalDir, "davis", "gt", "video2", "00005.png"));
        Assert.Equal((200, 120, PngColorType.Indexed, 8), (d.Width, d.Height, d.ColorType, d.BitDepth));
        Assert.Equal(PalettePng.DavisPalette[..18], d.Palette![..18]);
        var ids = Enumerable.Range(0, 10).SelectMany(f => PalettePng.ReadMask(Path.Combine(EvalDir, "davis", "gt", "video2", $"{f:00000}.png")).Values).Distinct().Order();
        Assert.Equal(new[] { 0, 1, 2, 3 }, ids.ToArray());
        Assert.Contains((ushort)1, d.Samples);
        var s = PalettePng.ReadMask(Path.Combine(EvalDir, "sav", "pred", "video2", "003", "00004.png"));
        Assert.Equal(new[] { 0, 255 }, s.Values.Distinct().Order().ToArray());
    }

    // A PNG written by hand with a chosen filter per row, to check every filter and the low bit depths.
    static byte[] HandPng(int w, int h, byte colorType, byte bitDepth, byte[][] rows, byte[] filters, byte[]? plte = null, byte interlace = 0)
    {
        int channels = colorType switch { 0 or 3 => 1, 4 => 2, 2 => 3, _ => 4 };
        int bpp = Math.Max(1, channels * bitDepth / 8);
        using var raw = new MemoryStream();
        for (int y = 0; y < h; y++)
        {
            var cur = rows[y];
            var prev = y > 0 ? rows[y - 1] : new byte[cur.Length];
            raw.WriteByte(filters[y]);
            for (int i = 0; i < cur.Length; i++)
            {
                int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
                int pred = filters[y] switch
                {
                    0 => 0, 1 => a, 2 => b, 3 => (a + b) / 2,
                    _ => Math.Abs(b - c) <= Math.Abs(a - c) && Math.Abs(b - c) <= Math.Abs(a + b - 2 * c) ? a
                        : Math.Abs(a - c) <= Math.Abs(a + b - 2 * c) ? b : c,
                };
                raw.WriteByte((byte)(cur[i] - pred));
            }
        }
        using var z = new MemoryStream();
        using (var zs = new ZLibStream(z, CompressionLevel.Fastest, true)) zs.Write(raw.ToArray());
        using var o = new MemoryStream();
        o.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = bitDepth; ihdr[9] = colorType; ihdr[12] = interlace;
        Chunk(o, "IHDR", ihdr);
        if (plte != null) Chunk(o, "PLTE", plte);
        var idat = z.ToArray();
        Chunk(o, "IDAT", idat[..(idat.Length / 2)]); // split IDAT: the reader must join them
        Chunk(o, "IDAT", idat[(idat.Length / 2)..]);
        Chunk(o, "IEND", []);
        return o.ToArray();
    }

    static void Chunk(Stream s, string type, byte[] body)
    {
        var head = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(head, body.Length);
        Encoding.ASCII.GetBytes(type, 0, 4, head, 4);
        s.Write(head);
        s.Write(body);
        uint crc = 0xFFFFFFFF;
        foreach (var b in head[4..].Concat(body))
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        var t = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(t, crc ^ 0xFFFFFFFF);
        s.Write(t);
    }

    [Fact]
    public void DecodesEveryFilterType()
    {
        var rng = new Random(11);
        int w = 9, h = 10;
        var rows = Enumerable.Range(0, h).Select(_ => Enumerable.Range(0, w * 3).Select(_ => (byte)rng.Next(256)).ToArray()).ToArray();
        var filters = new byte[] { 0, 1, 2, 3, 4, 4, 3, 2, 1, 0 };
        var png = HandPng(w, h, 2, 8, rows, filters);
        var img = PalettePng.Read(new MemoryStream(png), "rgb");
        Assert.Equal(PngColorType.Rgb, img.ColorType);
        Assert.Equal(rows.SelectMany(r => r).Select(b => (ushort)b).ToArray(), img.Samples);
        // A colour image is not a mask.
        var path = Path.Combine(tmp, "rgb.png");
        Directory.CreateDirectory(tmp);
        File.WriteAllBytes(path, png);
        Assert.Contains("rgb.png", Assert.Throws<Sam2Exception>(() => PalettePng.ReadMask(path)).Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void DecodesLowBitDepths(int depth)
    {
        var rng = new Random(depth);
        int w = 13, h = 5, max = (1 << depth) - 1;
        var vals = Enumerable.Range(0, w * h).Select(_ => rng.Next(max + 1)).ToArray();
        int stride = (w * depth + 7) / 8;
        var rows = new byte[h][];
        for (int y = 0; y < h; y++)
        {
            rows[y] = new byte[stride];
            for (int x = 0; x < w; x++) rows[y][x * depth / 8] |= (byte)(vals[y * w + x] << (8 - depth - x * depth % 8));
        }
        var filters = new byte[] { 1, 2, 3, 4, 0 };
        var plte = Enumerable.Range(0, (max + 1) * 3).Select(i => (byte)i).ToArray();
        Directory.CreateDirectory(tmp);
        var pal = Path.Combine(tmp, $"p{depth}.png");
        File.WriteAllBytes(pal, HandPng(w, h, 3, (byte)depth, rows, filters, plte));
        Assert.Equal(vals, PalettePng.ReadMask(pal).Values); // palette indices as they are
        var gray = Path.Combine(tmp, $"g{depth}.png");
        File.WriteAllBytes(gray, HandPng(w, h, 0, (byte)depth, rows, filters));
        Assert.Equal(vals.Select(v => (ushort)v).ToArray(), PalettePng.Read(gray).Samples);
        // As PIL: 1-bit gray reads as booleans (0/1), 2- and 4-bit gray are scaled to 0..255.
        int scale = depth switch { 1 => 1, 2 => 85, _ => 17 };
        Assert.Equal(vals.Select(v => v * scale).ToArray(), PalettePng.ReadMask(gray).Values);
    }

    [Fact]
    public void Decodes16BitGray()
    {
        int w = 3, h = 2;
        var vals = new ushort[] { 0, 1, 300, 65535, 256, 7 };
        var rows = Enumerable.Range(0, h).Select(y => Enumerable.Range(0, w).SelectMany(x => new[] { (byte)(vals[y * w + x] >> 8), (byte)vals[y * w + x] }).ToArray()).ToArray();
        var img = PalettePng.Read(new MemoryStream(HandPng(w, h, 0, 16, rows, [4, 3])), "g16");
        Assert.Equal(vals, img.Samples);
    }

    [Fact]
    public void RefusesInterlacedAndBrokenFiles()
    {
        Directory.CreateDirectory(tmp);
        var path = Path.Combine(tmp, "adam7.png");
        File.WriteAllBytes(path, HandPng(4, 4, 0, 8, Enumerable.Range(0, 4).Select(_ => new byte[4]).ToArray(), new byte[4], interlace: 1));
        var e = Assert.Throws<Sam2Exception>(() => PalettePng.Read(path));
        Assert.Contains("adam7.png", e.Message);
        Assert.Contains("Adam7", e.Message);

        var good = HandPng(4, 4, 0, 8, Enumerable.Range(0, 4).Select(_ => new byte[4]).ToArray(), new byte[4]);
        good[42] ^= 0xFF; // inside the first IDAT: the CRC no longer matches
        Assert.Throws<Sam2Exception>(() => PalettePng.Read(new MemoryStream(good), "broken"));
        Assert.Throws<Sam2Exception>(() => PalettePng.Read(new MemoryStream(new byte[] { 1, 2, 3 }), "junk"));
    }
}
