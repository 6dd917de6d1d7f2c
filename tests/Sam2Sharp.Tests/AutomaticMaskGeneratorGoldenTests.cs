using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Sam2Sharp.Amg;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Imaging;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>The automatic mask generator and <c>sam2 amg</c> against the reference's golden runs.</summary>
public class AutomaticMaskGeneratorGoldenTests
{
    public static IEnumerable<object[]> AmgCases() => Golden.CasesOfKind("automatic_masks");

    /// <summary>The reference arguments of a case as options.</summary>
    internal static AmgOptions Options(JsonElement pr)
    {
        var o = new AmgOptions();
        foreach (var p in pr.EnumerateObject())
        {
            var v = p.Value;
            o = p.Name switch
            {
                "points_per_side" => o with { PointsPerSide = v.ValueKind == JsonValueKind.Null ? null : v.GetInt32() },
                "points_per_batch" => o with { PointsPerBatch = v.GetInt32() },
                "pred_iou_thresh" => o with { PredIouThresh = v.GetDouble() },
                "stability_score_thresh" => o with { StabilityScoreThresh = v.GetDouble() },
                "stability_score_offset" => o with { StabilityScoreOffset = v.GetDouble() },
                "mask_threshold" => o with { MaskThreshold = v.GetDouble() },
                "box_nms_thresh" => o with { BoxNmsThresh = v.GetDouble() },
                "crop_n_layers" => o with { CropNLayers = v.GetInt32() },
                "crop_nms_thresh" => o with { CropNmsThresh = v.GetDouble() },
                "crop_overlap_ratio" => o with { CropOverlapRatio = v.GetDouble() },
                "crop_n_points_downscale_factor" => o with { CropNPointsDownscaleFactor = v.GetInt32() },
                "min_mask_region_area" => o with { MinMaskRegionArea = v.GetInt32() },
                "output_mode" => o with { OutputMode = AmgOptions.ParseOutputMode(v.GetString()) },
                "use_m2m" => o with { UseM2m = v.GetBoolean() },
                "multimask_output" => o with { MultimaskOutput = v.GetBoolean() },
                _ => throw new InvalidOperationException($"unknown generator argument {p.Name} in the golden case"),
            };
        }
        return o;
    }

    /// <summary>The CLI arguments for the same options (kebab case, as the reference names them).</summary>
    static List<string> CliArgs(JsonElement pr)
    {
        var args = new List<string>();
        foreach (var p in pr.EnumerateObject())
        {
            args.Add("--" + p.Name.Replace('_', '-'));
            args.Add(p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString()!,
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                _ => p.Value.GetRawText(),
            });
        }
        return args;
    }

    /// <summary>One annotation as the test sees it, from the library or from the CLI's JSON.</summary>
    record Ann(bool[] Mask, long Area, double[] Bbox, double PredictedIou, double[] Point, double StabilityScore, double[] CropBox);

    static Ann FromRecord(MaskAnnotation a) =>
        new(a.Segmentation.ToMaskArray(), a.Area, a.Bbox, a.PredictedIou, a.PointCoords[0], a.StabilityScore, a.CropBox);

    static Ann FromJson(JsonElement a)
    {
        var seg = a.GetProperty("segmentation");
        var size = seg.GetProperty("size").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var rle = new Rle(size[0], size[1], seg.GetProperty("counts").EnumerateArray().Select(v => v.GetInt32()).ToArray());
        static double[] D(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();
        return new(AmgUtils.RleToMaskArray(rle), a.GetProperty("area").GetInt64(), D(a.GetProperty("bbox")),
            a.GetProperty("predicted_iou").GetDouble(), D(a.GetProperty("point_coords")[0]),
            a.GetProperty("stability_score").GetDouble(), D(a.GetProperty("crop_box")));
    }

    static void AssertMatches(string folder, JsonElement c, IReadOnlyList<Ann> actual)
    {
        var exp = Golden.Tensors(Path.Combine(folder, c.GetProperty("expected").GetString()!));
        var anns = c.GetProperty("annotations").EnumerateArray().ToList();
        Assert.Equal(anns.Count, actual.Count);
        for (int i = 0; i < anns.Count; i++)
        {
            var e = anns[i];
            var a = actual[i];
            var em = exp[$"mask_{i:D3}"];
            int h = (int)em.shape[^2], w = (int)em.shape[^1];
            Assert.Equal(h * w, a.Mask.Length);
            using var am = tensor(a.Mask, new long[] { h, w });
            double iou = Golden.Iou(em.reshape(h, w), am);
            Assert.True(iou >= 0.98, $"mask {i}: IoU {iou} < 0.98");

            double dIou = Math.Abs(e.GetProperty("predicted_iou").GetDouble() - a.PredictedIou);
            Assert.True(dIou <= 1e-2, $"mask {i}: predicted_iou differs by {dIou}");
            // Stability counts pixels near two cutoffs: allow the same slack as the masks.
            double dStab = Math.Abs(e.GetProperty("stability_score").GetDouble() - a.StabilityScore);
            Assert.True(dStab <= 2e-2, $"mask {i}: stability_score differs by {dStab}");

            long eArea = e.GetProperty("area").GetInt64();
            Assert.True(Math.Abs(eArea - a.Area) <= Math.Max(2, 0.02 * eArea), $"mask {i}: area {a.Area}, expected {eArea}");
            Assert.Equal(a.Mask.LongCount(v => v), a.Area);

            var eBox = e.GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            for (int k = 0; k < 4; k++)
                Assert.True(Math.Abs(eBox[k] - a.Bbox[k]) <= 2, $"mask {i}: bbox [{string.Join(",", a.Bbox)}], expected [{string.Join(",", eBox)}]");

            // Prompts and crops are exact.
            var ePt = e.GetProperty("point_coords")[0].EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.Equal(ePt, a.Point);
            Assert.Equal(e.GetProperty("crop_box").EnumerateArray().Select(v => v.GetDouble()).ToArray(), a.CropBox);
        }
    }

    [Theory]
    [MemberData(nameof(AmgCases))]
    public void GeneratorMatchesReference(string folder, string name)
    {
        var c = Golden.Case(folder, name);
        var options = Options(c.GetProperty("prompts"));
        var img = RgbImage.Load(Path.Combine(folder, c.GetProperty("image").GetString()!));
        using var gen = new Sam2AutomaticMaskGenerator(ImagePredictorGoldenTests.Model(folder), options);
        var anns = gen.Generate(img);
        Assert.All(anns, a => Assert.Equal(options.OutputMode, a.Segmentation.Mode));
        AssertMatches(folder, c, anns.Select(FromRecord).ToList());
    }

    static int RunCli(params string[] args) => TestCli.Run(AmgCommand.Create(), args);

    static string TempDir() => TestCli.TempDir("sam2-amg-");

    [Theory]
    [MemberData(nameof(AmgCases))]
    public void CliMatchesReference(string folder, string name)
    {
        var c = Golden.Case(folder, name);
        var pr = c.GetProperty("prompts");
        var dir = TempDir();
        try
        {
            var json = Path.Combine(dir, "anns.json");
            var args = new List<string> { "amg", "--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml"),
                "--image", Path.Combine(folder, c.GetProperty("image").GetString()!), "--output-json", json };
            args.AddRange(CliArgs(pr));
            Assert.Equal(0, RunCli(args.ToArray()));
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var anns = doc.RootElement.EnumerateArray().ToList();
            if (anns.Count > 0)
                Assert.Equal(new[] { "segmentation", "area", "bbox", "predicted_iou", "point_coords", "stability_score", "crop_box" },
                    anns[0].EnumerateObject().Select(p => p.Name).ToArray());
            AssertMatches(folder, c, anns.Select(FromJson).ToList());
        }
        finally { Directory.Delete(dir, true); }
    }

    static string Folder => Golden.Folders()[0];

    [Fact]
    public void NothingPassingGivesEmptyList()
    {
        var img = RgbImage.Load(Path.Combine(Folder, "inputs", "image.png"));
        // No IoU estimate is above 1.5.
        using var gen = new Sam2AutomaticMaskGenerator(ImagePredictorGoldenTests.Model(Folder),
            new AmgOptions { PointsPerSide = 4, PredIouThresh = 1.5 });
        Assert.Empty(gen.Generate(img));

        var dir = TempDir();
        try
        {
            var json = Path.Combine(dir, "anns.json");
            Assert.Equal(0, RunCli("amg", "--checkpoint", Path.Combine(Folder, "model.pt"), "--config", Path.Combine(Folder, "config.yaml"),
                "--image", Path.Combine(Folder, "inputs", "image.png"), "--points-per-side", "4", "--pred-iou-thresh", "1.5",
                "--output-json", json));
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            Assert.Equal(JsonValueKind.Array, doc.RootElement.ValueKind);
            Assert.Equal(0, doc.RootElement.GetArrayLength());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void OutputModesCarryTheSameMask()
    {
        var img = RgbImage.Load(Path.Combine(Folder, "inputs", "image.png"));
        var model = ImagePredictorGoldenTests.Model(Folder);
        var baseOptions = new AmgOptions { PointsPerSide = 2, PredIouThresh = 0, StabilityScoreThresh = 0 };
        List<MaskAnnotation> Run(AmgOutputMode m)
        {
            using var g = new Sam2AutomaticMaskGenerator(model, baseOptions with { OutputMode = m });
            return g.Generate(img);
        }
        var bin = Run(AmgOutputMode.BinaryMask);
        var rle = Run(AmgOutputMode.UncompressedRle);
        var coco = Run(AmgOutputMode.CocoRle);
        Assert.NotEmpty(bin);
        Assert.Equal(bin.Count, rle.Count);
        Assert.Equal(bin.Count, coco.Count);
        for (int i = 0; i < bin.Count; i++)
        {
            Assert.NotNull(bin[i].Segmentation.Mask);
            Assert.NotNull(rle[i].Segmentation.Rle);
            Assert.NotNull(coco[i].Segmentation.CocoRle);
            Assert.Equal(bin[i].Segmentation.Mask, rle[i].Segmentation.ToMaskArray());
            Assert.Equal(bin[i].Segmentation.Mask, coco[i].Segmentation.ToMaskArray());
        }
    }

    public static IEnumerable<object[]> BadOptions() => new[]
    {
        new object[] { new AmgOptions { PredIouThresh = -0.1 }, "pred_iou_thresh" },
        new object[] { new AmgOptions { StabilityScoreThresh = -1 }, "stability_score_thresh" },
        new object[] { new AmgOptions { BoxNmsThresh = double.NaN }, "box_nms_thresh" },
        new object[] { new AmgOptions { PointsPerSide = 0 }, "points_per_side" },
        new object[] { new AmgOptions { PointsPerBatch = 0 }, "points_per_batch" },
        new object[] { new AmgOptions { PointsPerSide = null }, "points_per_side" },
        new object[] { new AmgOptions { PointGrids = new[] { new double[,] { { 0.5, 0.5 } } } }, "point_grids" },
        new object[] { new AmgOptions { CropNLayers = -1 }, "crop_n_layers" },
        new object[] { new AmgOptions { PointsPerSide = 2, CropNLayers = 2, CropNPointsDownscaleFactor = 2 }, "points_per_side" },
        new object[] { new AmgOptions { MinMaskRegionArea = -5 }, "min_mask_region_area" },
        new object[] { new AmgOptions { OutputMode = (AmgOutputMode)7 }, "output_mode" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void BadOptionsAreRefused(AmgOptions options, string option)
    {
        var e = Assert.Throws<Sam2Exception>(options.Validate);
        Assert.Contains(option, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Throws<Sam2Exception>(() => AmgOptions.ParseOutputMode("rle"));
    }

    [Theory]
    [InlineData("--pred-iou-thresh", "-0.5")]
    [InlineData("--points-per-side", "0")]
    [InlineData("--output-mode", "polygons")]
    [InlineData("--crop-n-layers", "-1")]
    public void CliRefusesBadValuesAndWritesNothing(string option, string value)
    {
        var dir = TempDir();
        try
        {
            var json = Path.Combine(dir, "anns.json");
            var overlay = Path.Combine(dir, "overlay.png");
            var outDir = Path.Combine(dir, "masks");
            int rc = RunCli("amg", "--checkpoint", Path.Combine(Folder, "model.pt"), "--config", Path.Combine(Folder, "config.yaml"),
                "--image", Path.Combine(Folder, "inputs", "image.png"), option, value,
                "--output-json", json, "--overlay", overlay, "--output-dir", outDir);
            Assert.Equal(1, rc);
            Assert.False(File.Exists(json));
            Assert.False(File.Exists(overlay));
            Assert.False(Directory.Exists(outDir));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void CliWritesMaskPngsAndOverlay()
    {
        var dir = TempDir();
        try
        {
            var json = Path.Combine(dir, "anns.json");
            var overlay = Path.Combine(dir, "overlay.png");
            var outDir = Path.Combine(dir, "masks");
            Assert.Equal(0, RunCli("amg", "--checkpoint", Path.Combine(Folder, "model.pt"), "--config", Path.Combine(Folder, "config.yaml"),
                "--image", Path.Combine(Folder, "inputs", "image.png"), "--points-per-side", "2", "--pred-iou-thresh", "0",
                "--stability-score-thresh", "0", "--output-mode", "binary_mask",
                "--output-json", json, "--overlay", overlay, "--output-dir", outDir));
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var anns = doc.RootElement.EnumerateArray().ToList();
            Assert.NotEmpty(anns);
            var pngs = Directory.GetFiles(outDir, "*.png").OrderBy(p => p, StringComparer.Ordinal).ToList();
            Assert.Equal(anns.Count, pngs.Count);
            Assert.True(File.Exists(overlay));
            // binary_mask JSON is nested 0/1 rows, the same mask as the PNG.
            var rows = anns[0].GetProperty("segmentation").EnumerateArray().Select(r => r.EnumerateArray().Select(v => (byte)v.GetInt32()).ToArray()).ToList();
            var png = MaskImages.ReadPng(pngs[0], out int w, out int h);
            Assert.Equal(h, rows.Count);
            Assert.Equal(png, rows.SelectMany(r => r).ToArray());
            Assert.Equal(anns[0].GetProperty("area").GetInt64(), png.LongCount(b => b != 0));
        }
        finally { Directory.Delete(dir, true); }
    }
}
