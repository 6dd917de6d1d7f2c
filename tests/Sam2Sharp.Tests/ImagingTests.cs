using System.Diagnostics;
using Sam2Sharp.Imaging;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

public class ImagingTests
{
    public static IEnumerable<object[]> Folders() => Golden.Folders().Select(f => new object[] { f });

    static string TempDir() => TestCli.TempDir("sam2sharp-imaging-");

    [Theory]
    [MemberData(nameof(Folders))]
    public void ImagePreprocessingMatchesReference(string folder)
    {
        var case_ = Golden.Case(folder, "image_features");
        var expected = Golden.Tensors(Path.Combine(folder, case_.GetProperty("expected").GetString()!))["input"];
        var image = RgbImage.Load(Path.Combine(folder, case_.GetProperty("image").GetString()!));
        using var input = Preprocess.Image(image, (int)expected.shape[3]);
        Assert.Equal(expected.shape, input.shape);
        Assert.Equal(ScalarType.Float32, input.dtype);
        var diff = Golden.MaxAbsDiff(input, expected);
        Assert.True(diff <= 1e-5, $"max abs difference {diff}");
    }

    [Fact]
    public void VideoFramePreprocessingMatchesTrainingGolden()
    {
        var root = Path.Combine(Golden.SharedDir, "golden", "sam2.1-micro");
        var expected = Golden.Tensors(Path.Combine(root, "train", "inputs.safetensors"))["img_batch"];
        int size = (int)expected.shape[4];
        int[] frames = { 0, 3, 6, 9 };
        Assert.Equal(frames.Length, (int)expected.shape[0]);
        for (int t = 0; t < frames.Length; t++)
        {
            var frame = RgbImage.Load(Path.Combine(root, "inputs", "video", $"{frames[t]:D5}.png"));
            using var x = Preprocess.VideoFrame(frame, size);
            Assert.Equal(new long[] { 3, size, size }, x.shape);
            var diff = Golden.MaxAbsDiff(x, expected[t, 0]);
            Assert.True(diff <= 1e-6, $"frame {frames[t]}: max abs difference {diff}");
            // Normalised in float64 as the golden was: bit-identical.
            using var exact = Preprocess.VideoFrame(frame, size, doubleNormalize: true);
            var exactDiff = Golden.MaxAbsDiff(exact, expected[t, 0]);
            Assert.True(exactDiff == 0, $"frame {frames[t]}: not bit-identical, max abs {exactDiff}");
        }
    }

    [Fact]
    public void PilResizeOfJpegIsDeterministicAndSane()
    {
        var path = Path.Combine(Golden.SharedDir, "samples", "videos", "bedroom", "00000.jpg");
        var img = RgbImage.Load(path);
        Assert.Equal((960, 540), (img.Width, img.Height));
        var a = PilResize.Resize(img, 1024, 1024);
        var b = PilResize.Resize(img, 1024, 1024);
        Assert.Equal((1024, 1024), (a.Width, a.Height));
        Assert.Equal(a.Data, b.Data);
        // Close to a plain nearest-neighbour lookup on average (the image is smooth at this scale).
        double sum = 0;
        for (int y = 0; y < 1024; y++)
            for (int x = 0; x < 1024; x++)
            {
                int sx = (int)((x + 0.5) * 960 / 1024), sy = (int)((y + 0.5) * 540 / 1024);
                for (int c = 0; c < 3; c++)
                    sum += Math.Abs(a.Data[(y * 1024 + x) * 3 + c] - img.Data[(sy * 960 + sx) * 3 + c]);
            }
        Assert.True(sum / (1024 * 1024 * 3) < 6, $"mean abs difference to nearest {sum / (1024 * 1024 * 3)}");
        // A constant image stays constant (weights sum to one in fixed point).
        var flat = new RgbImage(7, 5, Enumerable.Repeat((byte)200, 7 * 5 * 3).ToArray());
        Assert.All(PilResize.Resize(flat, 16, 3).Data, v => Assert.Equal(200, v));
        Assert.All(PilResize.Resize(flat, 3, 16).Data, v => Assert.Equal(200, v));
    }

    [Fact]
    public void FolderFrameSources()
    {
        var golden = Path.Combine(Golden.SharedDir, "golden", "sam2.1-micro", "inputs", "video");
        using (var src = FrameSource.Open(golden))
        {
            Assert.IsType<FolderFrameSource>(src);
            Assert.Equal(10, src.Count);
            Assert.Equal((320, 180), (src.Width, src.Height));
            Assert.Equal("00000", src.Name(0));
            Assert.Equal("00009", src.Name(9));
            var f = src.Read(9);
            Assert.Equal(RgbImage.Load(Path.Combine(golden, "00009.png")).Data, f.Data);
        }
        using (var src = new FolderFrameSource(Path.Combine(Golden.SharedDir, "samples", "videos", "bedroom")))
        {
            Assert.Equal(200, src.Count);
            Assert.Equal((960, 540), (src.Width, src.Height));
            Assert.Equal("00199", src.Name(199));
            Assert.Equal((960, 540), (src.Read(150).Width, src.Read(150).Height));
        }

        var tmp = TempDir();
        try
        {
            var missing = Path.Combine(tmp, "nope");
            Assert.Contains(missing, Assert.Throws<Sam2Exception>(() => new FolderFrameSource(missing)).Message);
            Assert.Contains(missing, Assert.Throws<Sam2Exception>(() => FrameSource.Open(missing)).Message);
            var empty = Path.Combine(tmp, "empty");
            Directory.CreateDirectory(empty);
            File.WriteAllText(Path.Combine(empty, "notes.txt"), "x");
            Assert.Contains(empty, Assert.Throws<Sam2Exception>(() => new FolderFrameSource(empty)).Message);

            // Integer stems sort numerically (10 after 9), not by name.
            var mixed = Path.Combine(tmp, "mixed");
            Directory.CreateDirectory(mixed);
            new RgbImage(8, 6).SavePng(Path.Combine(mixed, "9.png"));
            new RgbImage(8, 6).SavePng(Path.Combine(mixed, "10.png"));
            using (var s = new FolderFrameSource(mixed)) Assert.Equal(new[] { "9", "10" }, new[] { s.Name(0), s.Name(1) });
            var odd = Path.Combine(mixed, "11.png");
            new RgbImage(6, 8).SavePng(odd);
            Assert.Contains(odd, Assert.Throws<Sam2Exception>(() => new FolderFrameSource(mixed)).Message);

            // Non-integer stems: ordinal order.
            var named = Path.Combine(tmp, "named");
            Directory.CreateDirectory(named);
            foreach (var n in new[] { "b", "a10", "a9" }) new RgbImage(4, 4).SavePng(Path.Combine(named, n + ".png"));
            using (var s = new FolderFrameSource(named)) Assert.Equal(new[] { "a10", "a9", "b" }, Enumerable.Range(0, 3).Select(s.Name));

            var bad = Path.Combine(tmp, "bad.png");
            File.WriteAllText(bad, "not an image");
            Assert.Contains(bad, Assert.Throws<Sam2Exception>(() => RgbImage.Load(bad)).Message);
        }
        finally { Directory.Delete(tmp, true); }
    }

    static (int W, int H, int N) FfprobeDirect(string file)
    {
        var psi = new ProcessStartInfo("ffprobe", $"-v error -select_streams v:0 -count_packets -show_entries stream=width,height,nb_read_packets -of csv=p=0 \"{file}\"")
        { RedirectStandardOutput = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var parts = p.StandardOutput.ReadToEnd().Trim().Split(',');
        p.WaitForExit();
        return (int.Parse(parts[0]), int.Parse(parts[1]), int.Parse(parts[2]));
    }

    [Fact]
    public void VideoFileFrameSource()
    {
        var file = Path.Combine(Golden.SharedDir, "samples", "videos", "01_dog.mp4");
        var (w, h, n) = FfprobeDirect(file);
        using var src = new VideoFileFrameSource(file, cacheSize: 2);
        Assert.Equal((w, h, n), (src.Width, src.Height, src.Count));
        Assert.Equal("00003", src.Name(3));
        var first = Enumerable.Range(0, 5).Select(src.Read).ToArray();
        Assert.Equal(1, src.DecoderStarts);
        Assert.All(first, f => Assert.Equal((w, h), (f.Width, f.Height)));
        Assert.NotEqual(first[0].Data, first[4].Data);
        Assert.Equal(first[3].Data, src.Read(3).Data); // from the cache
        Assert.Equal(1, src.DecoderStarts);
        Assert.Equal(first[1].Data, src.Read(1).Data); // behind the decoder: restarts it
        Assert.Equal(2, src.DecoderStarts);
        Assert.Equal(first[3].Data, src.Read(3).Data); // decoded again, same pixels
        Assert.Equal(2, src.DecoderStarts);

        Assert.Throws<ArgumentOutOfRangeException>(() => src.Read(n));
        var missing = Path.Combine(Path.GetTempPath(), "no-such-video-" + Guid.NewGuid().ToString("N") + ".mp4");
        Assert.Contains(missing, Assert.Throws<Sam2Exception>(() => new VideoFileFrameSource(missing)).Message);
        var tmp = TempDir();
        try
        {
            var junk = Path.Combine(tmp, "junk.mp4");
            File.WriteAllText(junk, "not a video");
            Assert.Contains(junk, Assert.Throws<Sam2Exception>(() => FrameSource.Open(junk)).Message);
        }
        finally { Directory.Delete(tmp, true); }
    }

    [Fact]
    public void MaskPngRoundTripAndOverlay()
    {
        var tmp = TempDir();
        try
        {
            int w = 13, h = 7;
            var mask = new byte[w * h];
            for (int y = 1; y < 5; y++) for (int x = 2; x < 9; x++) mask[y * w + x] = 1;
            mask[6 * w + 12] = 7; // any nonzero is on
            var path = Path.Combine(tmp, "m.png");
            MaskImages.WritePng(path, mask, w, h);
            var back = MaskImages.ReadPng(path, out int bw, out int bh);
            Assert.Equal((w, h), (bw, bh));
            Assert.Equal(mask.Select(v => v != 0 ? (byte)1 : (byte)0), back);
            // Stored as 0/255 grayscale.
            var raw = RgbImage.Load(path);
            Assert.Equal(255, raw.Data[(1 * w + 2) * 3]);
            Assert.Equal(0, raw.Data[0]);

            using var t = torch.tensor(new float[] { -1, 2, 0, 0.5f, 3, -4 }, new long[] { 1, 2, 3 });
            var tpath = Path.Combine(tmp, "t.png");
            MaskImages.WritePng(tpath, t);
            using var tb = MaskImages.ReadPngTensor(tpath);
            Assert.Equal(new long[] { 2, 3 }, tb.shape);
            Assert.Equal(new[] { false, true, false, true, true, false }, tb.flatten().data<bool>().ToArray());

            // The golden mask prompt reads as a binary mask with some pixels on.
            var gm = MaskImages.ReadPng(Path.Combine(Golden.SharedDir, "golden", "sam2.1-micro", "inputs", "video_mask_obj3.png"), out int gw, out int gh);
            Assert.Equal((320, 180), (gw, gh));
            Assert.Contains((byte)1, gm);
            Assert.All(gm, v => Assert.True(v <= 1));

            var image = new RgbImage(w, h, Enumerable.Repeat((byte)100, w * h * 3).ToArray());
            var other = new byte[w * h]; other[0] = 1;
            var opath = Path.Combine(tmp, "overlay.png");
            MaskImages.WriteOverlay(opath, image, new[] { mask, other });
            var ov = RgbImage.Load(opath);
            Assert.Equal((w, h), (ov.Width, ov.Height));
            var c0 = MaskImages.Colour(0);
            int inner = (2 * w + 4) * 3, edge = (1 * w + 4) * 3, outside = (6 * w + 0) * 3;
            Assert.Equal((byte)Math.Round(0.5 * 100 + 0.5 * c0.R), ov.Data[inner]);
            Assert.Equal(new[] { c0.R, c0.G, c0.B }, ov.Data[edge..(edge + 3)]);
            Assert.Equal(new byte[] { 100, 100, 100 }, ov.Data[outside..(outside + 3)]);
            Assert.NotEqual(MaskImages.Colour(0), MaskImages.Colour(1));
        }
        finally { Directory.Delete(tmp, true); }
    }
}
