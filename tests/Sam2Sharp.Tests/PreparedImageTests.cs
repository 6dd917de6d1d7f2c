using Sam2Sharp.Imaging;
using Sam2Sharp.Modeling.Sam;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>A click on an image reuses what the decoder computed of that image alone (<see cref="PreparedImage"/>).</summary>
public class PreparedImageTests
{
    public static IEnumerable<object[]> Folders() => Golden.Folders().Select(f => new object[] { f });

    static RgbImage Photo(string folder) => RgbImage.Load(Path.Combine(folder, "inputs", "image.png"));

    /// <summary>The decoder without the prepared image: every product over the image tokens made for this prompt.</summary>
    static (Tensor LowRes, Tensor Iou) Unprepared(Sam2ImagePredictor p, Tensor coords, Tensor labels, Tensor? mask)
    {
        var m = p.Model;
        var (sparse, dense) = m.PromptEncoder.forward((coords, labels), null, mask);
        var dec = m.MaskDecoder.forward(p.ImageEmbedding, m.PromptEncoder.GetDensePe(), sparse, dense, multimaskOutput: true,
            repeatImage: false, highResFeatures: p.HighResFeatures);
        return (dec.Masks, dec.IouPred);
    }

    [Theory]
    [MemberData(nameof(Folders))]
    public void AClickOnAPreparedImageGivesWhatTheWholeDecoderGives(string folder)
    {
        var model = ImagePredictorGoldenTests.Model(folder); // shared by the tests: loaded outside this test's scope
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var p = new Sam2ImagePredictor(model);
        var photo = Photo(folder);
        var other = new RgbImage(photo.Width, photo.Height, photo.Data.Select(b => (byte)(255 - b)).ToArray());
        p.SetImage(other);
        using (p.Predict(new float[,] { { 10, 12 } }, [1])) { } // prepares the other image, which SetImage must drop
        p.SetImage(photo);
        var mask = randn([1, 1, model.ImageSize / 4, model.ImageSize / 4], generator: new Generator().manual_seed(2));
        foreach (var (x, y, useMask) in new[] { (30f, 40f, false), (photo.Width - 20f, 25f, false), (50f, 60f, true) })
        {
            var coords = p.Transforms.TransformCoords(tensor(new float[,] { { x, y } }), true, (photo.Height, photo.Width)).unsqueeze(0);
            var labels = tensor(new[] { 1 }, ScalarType.Int32).unsqueeze(0);
            var (lowRes, iou) = p.DecodeTorch(coords, labels, maskInput: useMask ? mask : null);
            Assert.True(p.IsPrepared(0)); // made at the first click, kept for the others
            var (expectedLowRes, expectedIou) = Unprepared(p, coords, labels, useMask ? mask : null);
            double scale = Math.Max(1, expectedLowRes.abs().max().item<float>());
            Assert.True((lowRes - expectedLowRes).abs().max().item<float>() <= 1e-5 * scale, $"logits of the click at ({x}, {y})");
            Assert.True((iou - expectedIou).abs().max().item<float>() <= 1e-5, $"IoU estimates of the click at ({x}, {y})");
        }
    }
}
