using System.Globalization;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Imaging;
using TorchSharp.PyBridge;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary><c>sam2 embed</c> and <c>sam2 image --embedding</c>: the golden cases without the encoder, and mismatches refused.</summary>
public class EmbedCommandTests
{
    public static IEnumerable<object[]> PredictCases() => Golden.CasesOfKind("image_predict").Where(c => (string)c[1] == "image_box_and_point");

    static string[] Model(string folder) => ["--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml")];

    static int Embed(string folder, string image, string output, params string[] extra) =>
        TestCli.Run(EmbedCommand.Create(), ["embed", .. Model(folder), "--image", image, "--output", output, .. extra]);

    [Theory]
    [MemberData(nameof(PredictCases))]
    public void SavedEmbeddingReproducesTheGoldenCase(string folder, string name)
    {
        var c = Golden.Case(folder, name);
        var (coords, labels, boxes, _) = ImagePredictorGoldenTests.Prompts(folder, c.GetProperty("prompts"));
        var dir = TestCli.TempDir("sam2-embed-");
        try
        {
            string image = Path.Combine(folder, c.GetProperty("image").GetString()!), emb = Path.Combine(dir, "image.safetensors");
            Assert.Equal(0, Embed(folder, image, emb));
            List<string> args = ["image", .. Model(folder), "--image", image, "--embedding", emb, "--save-tensors", Path.Combine(dir, "out.safetensors")];
            string F(float v) => v.ToString(CultureInfo.InvariantCulture);
            for (int i = 0; coords is not null && i < coords.GetLength(0); i++) args.AddRange(["--point", $"{F(coords[i, 0])},{F(coords[i, 1])},{labels![i]}"]);
            for (int i = 0; boxes is not null && i < boxes.GetLength(0); i++) args.AddRange(["--box", string.Join(",", Enumerable.Range(0, 4).Select(j => F(boxes[i, j])))]);
            if (c.TryGetProperty("multimask_output", out var mm) && mm.GetBoolean()) args.Add("--multimask");
            Assert.Equal(0, TestCli.Run(ImageCommand.Create(), args.ToArray()));
            var got = Safetensors.LoadStateDict(Path.Combine(dir, "out.safetensors"));
            var exp = Golden.Tensors(Path.Combine(folder, c.GetProperty("expected").GetString()!));
            ImagePredictorGoldenTests.AssertPrediction(exp, got["masks"], got["iou_predictions"], got["low_res_logits"], got["logits"]);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void LoadedEmbeddingEqualsTheEncodersOutput()
    {
        var folder = Golden.Folders()[0];
        var model = ImagePredictorGoldenTests.Model(folder);
        var img = RgbImage.Load(Path.Combine(folder, "inputs", "image.png"));
        var dir = TestCli.TempDir("sam2-embed-");
        try
        {
            using var a = new Sam2ImagePredictor(model);
            a.SetImage(img);
            a.SaveEmbedding(Path.Combine(dir, "e.safetensors"), img);
            using var b = new Sam2ImagePredictor(model);
            b.LoadEmbedding(Path.Combine(dir, "e.safetensors"), img);
            static void Same(TorchSharp.torch.Tensor x, TorchSharp.torch.Tensor y)
            {
                Assert.Equal(x.shape, y.shape);
                Assert.True((x == y).all().item<bool>());
            }
            Same(a.ImageEmbedding, b.ImageEmbedding);
            Assert.Equal(a.HighResFeatures.Count, b.HighResFeatures.Count);
            for (int i = 0; i < a.HighResFeatures.Count; i++) Same(a.HighResFeatures[i], b.HighResFeatures[i]);
            Assert.Equal(a.OriginalSizes, b.OriginalSizes);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AnotherModelPrecisionOrImageIsRefusedInOneLine()
    {
        var folders = Golden.Folders();
        var folder = folders[0];
        var dir = TestCli.TempDir("sam2-embed-");
        try
        {
            string image = Path.Combine(folder, "inputs", "image.png"), emb = Path.Combine(dir, "e.safetensors"), outPng = Path.Combine(dir, "m.png");
            Assert.Equal(0, Embed(folder, image, emb));
            // An existing file is kept unless --force.
            Assert.Equal(1, Embed(folder, image, emb));
            Assert.Equal(0, Embed(folder, image, emb, "--force"));
            string Refusal(string useFolder, string useImage, params string[] extra)
            {
                var (rc, err) = TestCli.RunCapturingErrors(ImageCommand.Create(),
                    ["image", .. Model(useFolder), "--image", useImage, "--embedding", emb, "--point", "10,10", "--output", outPng, .. extra]);
                Assert.Equal(1, rc);
                var line = err.Trim().Split('\n').Last(l => l.StartsWith("error:"));
                Assert.DoesNotContain("   at ", err);
                return line;
            }
            Assert.Contains("was made in fp32", Refusal(folder, image, "--precision", "bf16"));
            if (folders.Count > 1) Assert.Contains("was made by model", Refusal(folders[1], image));
            // The same scene, one pixel changed: another image.
            var img = RgbImage.Load(image);
            var data = (byte[])img.Data.Clone();
            data[0] ^= 1;
            string other = Path.Combine(dir, "other.png");
            new RgbImage(img.Width, img.Height, data).SavePng(other);
            Assert.Contains("from another image", Refusal(folder, other));
            File.WriteAllText(Path.Combine(dir, "bad.safetensors"), "nonsense");
            var (rc2, err2) = TestCli.RunCapturingErrors(ImageCommand.Create(),
                ["image", .. Model(folder), "--image", image, "--embedding", Path.Combine(dir, "bad.safetensors"), "--point", "10,10", "--output", outPng]);
            Assert.Equal(1, rc2);
            Assert.Contains("not a readable safetensors file", err2);
            Assert.False(File.Exists(outPng));
        }
        finally { Directory.Delete(dir, true); }
    }
}
