using System.CommandLine;
using System.Globalization;
using Sam2Sharp.Cli.Commands;
using TorchSharp.PyBridge;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary><c>sam2 image --save-tensors</c> reproduces the golden image cases.</summary>
public class ImageCommandGoldenTests
{
    public static IEnumerable<object[]> PredictCases() => Golden.CasesOfKind("image_predict");

    static int Run(params string[] args) => TestCli.Run(ImageCommand.Create(), args);

    static string F(float v) => v.ToString(CultureInfo.InvariantCulture);

    [Theory]
    [MemberData(nameof(PredictCases))]
    public void SavedTensorsMatchReference(string folder, string name)
    {
        var dir = Directory.CreateTempSubdirectory("sam2-image-").FullName;
        try
        {
            var file = Path.Combine(dir, "out.safetensors");
            Assert.Equal(0, Run(["image", "--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml"), .. CaseArgs(folder, name, file)]));
            AssertMatchesCase(folder, name, file);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>The image, prompts and options of a golden image case, with --save-tensors <paramref name="tensorsFile"/>; the model options are the caller's.</summary>
    public static List<string> CaseArgs(string folder, string name, string tensorsFile)
    {
        var c = Golden.Case(folder, name);
        var (coords, labels, boxes, _) = ImagePredictorGoldenTests.Prompts(folder, c.GetProperty("prompts"));
        var args = new List<string> { "--image", Path.Combine(folder, c.GetProperty("image").GetString()!), "--save-tensors", tensorsFile };
        for (int i = 0; coords is not null && i < coords.GetLength(0); i++)
            args.AddRange(["--point", $"{F(coords[i, 0])},{F(coords[i, 1])},{labels![i]}"]);
        for (int i = 0; boxes is not null && i < boxes.GetLength(0); i++)
            args.AddRange(["--box", string.Join(",", Enumerable.Range(0, 4).Select(j => F(boxes[i, j])))]);
        if (c.GetProperty("prompts").TryGetProperty("mask_input", out var mi))
            args.AddRange(["--mask-input", Path.Combine(folder, mi.GetString()!)]);
        if (c.TryGetProperty("multimask_output", out var mm) && mm.GetBoolean()) args.Add("--multimask");
        return args;
    }

    /// <summary>The tensors saved by <c>sam2 image</c> match the golden case's expected outputs.</summary>
    public static void AssertMatchesCase(string folder, string name, string tensorsFile)
    {
        var got = Safetensors.LoadStateDict(tensorsFile);
        var exp = Golden.Tensors(Path.Combine(folder, Golden.Case(folder, name).GetProperty("expected").GetString()!));
        ImagePredictorGoldenTests.AssertPrediction(exp, got["masks"], got["iou_predictions"], got["low_res_logits"], got["logits"]);
    }

    [Theory]
    [InlineData("--point", "1,a", "--point '1,a'")]
    [InlineData("--point", "5000,10", "outside")]
    [InlineData("--box", "1,2,3", "--box '1,2,3'")]
    public void BadPromptsFailWithOneLineAndWriteNothing(string option, string value, string expected)
    {
        var folder = Golden.Folders()[0];
        var dir = Directory.CreateTempSubdirectory("sam2-image-").FullName;
        try
        {
            var (rc, err) = TestCli.RunCapturingErrors(ImageCommand.Create(), "image", "--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml"),
                "--image", Path.Combine(folder, "inputs", "image.png"), option, value, "--output", Path.Combine(dir, "m.png"));
            Assert.Equal(1, rc);
            var text = err.Trim();
            Assert.DoesNotContain('\n', text);
            Assert.Contains(expected, text);
            Assert.Empty(Directory.GetFiles(dir));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void MissingOrCorruptCheckpointAndMismatchedConfigAreRefused()
    {
        var folder = Golden.Folders()[0];
        var dir = Directory.CreateTempSubdirectory("sam2-image-").FullName;
        try
        {
            string Error(string ckpt, string cfg)
            {
                var (rc, err) = TestCli.RunCapturingErrors(ImageCommand.Create(), "image", "--checkpoint", ckpt, "--config", cfg,
                    "--image", Path.Combine(folder, "inputs", "image.png"), "--point", "10,10", "--output", Path.Combine(dir, "m.png"));
                Assert.Equal(1, rc);
                Assert.DoesNotContain('\n', err.Trim());
                return err;
            }
            Assert.Contains("checkpoint not found", Error(Path.Combine(dir, "none.pt"), Path.Combine(folder, "config.yaml")));
            File.WriteAllText(Path.Combine(dir, "bad.pt"), "not a checkpoint");
            Assert.Contains("bad.pt", Error(Path.Combine(dir, "bad.pt"), Path.Combine(folder, "config.yaml")));
            Assert.Contains("does not fit the config", Error(Path.Combine(folder, "model.pt"), "sam2.1_hiera_t"));
            Assert.False(File.Exists(Path.Combine(dir, "m.png")));
        }
        finally { Directory.Delete(dir, true); }
    }
}
