using System.Text.Json;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Evaluation;
using Sam2Sharp.IO;
using Sam2Sharp.Modeling;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary><c>sam2 clicks</c> end to end on a golden model, and the result arithmetic.</summary>
public class ClickEvaluationTests
{
    static int RunCli(params string[] args) => TestCli.Run(ClicksCommand.Create(), args);

    static string TempDir() => TestCli.TempDir("sam2-clicks-");

    [Fact]
    public void NoCAndMeansFollowTheDefinitions()
    {
        var a = new ClickTargetResult("a", 1, [0.5, 0.86, 0.95], [new(0, 0, true), new(1, 1, true), new(2, 2, false)]);
        var b = new ClickTargetResult("b", 1, [0.2, 0.3, 0.4], [new(0, 0, true), new(1, 1, true), new(2, 2, false)]);
        Assert.Equal(2, a.NoC(0.85));
        Assert.Equal(3, a.NoC(0.90));
        Assert.Equal(3, b.NoC(0.85)); // never reached: the budget
        var r = new ClickEvaluationResult { MaxClicks = 3, Targets = [a, b] };
        Assert.Equal(0.35, r.MeanIou[0], 12);
        Assert.Equal(0.675, r.MeanIou[2], 12);
        Assert.Equal(2.5, r.NoC85, 12);
        Assert.Equal(3.0, r.NoC90, 12);
        Assert.Contains("NoC@85: 2.50", r.ToText());
    }

    [Fact]
    public void GoldenImageEndToEnd()
    {
        var folder = Golden.Folders().First();
        var dir = TempDir();
        try
        {
            // The golden image, and a palette mask with two objects made from two golden predicted masks.
            var images = Path.Combine(dir, "images"); Directory.CreateDirectory(images);
            var masks = Path.Combine(dir, "masks"); Directory.CreateDirectory(masks);
            File.Copy(Path.Combine(folder, "inputs", "image.png"), Path.Combine(images, "street.png"));
            var m1 = Golden.Tensors(Path.Combine(folder, "expected", "image_point_multimask.safetensors"))["masks"][0];
            var m2 = Golden.Tensors(Path.Combine(folder, "expected", "image_box.safetensors"))["masks"][0];
            int h = (int)m1.shape[0], w = (int)m1.shape[1];
            var a = m1.contiguous().data<byte>().ToArray();
            var b = m2.contiguous().data<byte>().ToArray();
            var map = new byte[w * h];
            for (int i = 0; i < map.Length; i++) map[i] = a[i] > 0 ? (byte)1 : b[i] > 0 ? (byte)2 : (byte)0;
            Assert.Contains((byte)1, map);
            Assert.Contains((byte)2, map);
            PalettePng.WriteIndexed(Path.Combine(masks, "street.png"), map, w, h, PalettePng.DavisPalette);

            var outDir = Path.Combine(dir, "out");
            int rc = RunCli("clicks", "--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml"),
                "--images", images, "--masks", masks, "--max-clicks", "5", "--output-dir", outDir, "-q");
            Assert.Equal(0, rc);
            Assert.True(new FileInfo(Path.Combine(outDir, "curve.png")).Length > 1000);
            var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json"))).RootElement;
            Assert.Equal(2, json.GetProperty("num_targets").GetInt32());
            var mean = json.GetProperty("mean_iou").EnumerateArray().Select(e => e.GetDouble()).ToList();
            Assert.Equal(5, mean.Count);
            Assert.All(mean, v => Assert.True(double.IsFinite(v) && v >= 0 && v <= 1, $"mean IoU {v}"));
            foreach (var key in new[] { "noc85", "noc90" })
            {
                double noc = json.GetProperty(key).GetDouble();
                Assert.True(noc >= 1 && noc <= 5, $"{key} {noc}");
            }
            // The first click of each target is the centre of its ground truth, positive (nothing predicted yet).
            foreach (var t in json.GetProperty("targets").EnumerateArray())
            {
                var first = t.GetProperty("clicks")[0].EnumerateArray().Select(e => e.GetInt32()).ToArray();
                int id = t.GetProperty("object_id").GetInt32();
                var gt = map.Select(v => v == id).ToArray();
                var expected = PointSampling.SampleFromErrorCenter(gt, default, w, h);
                Assert.Equal(new[] { expected.X, expected.Y, 1 }, first);
                Assert.Equal(5, t.GetProperty("clicks").GetArrayLength());
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void GoldenVideoFramesEndToEnd()
    {
        var folder = Golden.Folders().First(f => Directory.Exists(Path.Combine(f, "vos")));
        var vos = Path.Combine(folder, "vos");
        var outDir = TempDir();
        try
        {
            int rc = RunCli("clicks", "--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml"),
                "--video", Path.Combine(vos, "JPEGImages", "bedroom_a"), "--video-masks", Path.Combine(vos, "expected_davis", "bedroom_a"),
                "--frames", "0,5", "--max-clicks", "3", "--output-dir", outDir, "-q");
            Assert.Equal(0, rc);
            var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json"))).RootElement;
            Assert.True(json.GetProperty("num_targets").GetInt32() >= 2);
            Assert.All(json.GetProperty("mean_iou").EnumerateArray(), e => Assert.True(double.IsFinite(e.GetDouble())));
        }
        finally { Directory.Delete(outDir, recursive: true); }
    }

    [Fact]
    public void UserErrorsExitWith1()
    {
        var folder = Golden.Folders().First();
        var dir = TempDir();
        try
        {
            var images = Path.Combine(dir, "images"); Directory.CreateDirectory(images);
            File.Copy(Path.Combine(folder, "inputs", "image.png"), Path.Combine(images, "street.png"));
            string[] common = ["clicks", "--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml"), "-q"];
            // The mask folder lacks street.png.
            Assert.Equal(1, RunCli([.. common, "--images", images, "--masks", dir]));
            // Neither form, or both.
            Assert.Equal(1, RunCli(common));
            Assert.Equal(1, RunCli([.. common, "--images", images, "--masks", dir, "--video", images]));
            Assert.Equal(1, RunCli([.. common, "--video", images, "--video-masks", dir, "--frames", "a,b"]));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
