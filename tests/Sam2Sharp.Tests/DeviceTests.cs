using Sam2Sharp.Amg;
using Sam2Sharp.Imaging;
using Sam2Sharp.Modeling;
using Sam2Sharp.Video;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>Changes TorchSharp's process-wide default device, so its tests run alone, after the parallel ones.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DefaultDeviceCollection
{
    public const string Name = "default device";
}

/// <summary>
/// Every tensor the library makes follows the model's device. No GPU here, so the model is built on
/// <c>Device.CPU</c> explicitly and the test then makes the meta device (shapes, no data) TorchSharp's default:
/// a tensor made on the default device instead of the model's is a meta tensor, which fails as soon as it meets
/// a CPU tensor or is read. Outputs must be on the CPU and equal to those of a normal run.
/// </summary>
[Collection(DefaultDeviceCollection.Name)]
public sealed class DeviceTests
{
    static string Micro => Path.Combine(Golden.SharedDir, "golden", "sam2.1-micro");

    static Sam2Base Load() =>
        Sam2Builder.Load(Path.Combine(Micro, "config.yaml"), Path.Combine(Micro, "model.pt"), new Sam2ModelOptions { Device = CPU });

    /// <summary>Runs <paramref name="run"/> with the normal default device, then with meta as the default.</summary>
    static (T Normal, T OnMetaDefault) Twice<T>(Func<T> run)
    {
        var normal = run();
        var previous = get_default_device();
        set_default_device(new Device(DeviceType.META));
        try { return (normal, run()); }
        finally { set_default_device(previous); }
    }

    static void AssertSameOnCpu(Tensor expected, Tensor actual, string what)
    {
        Assert.True(actual.device_type == DeviceType.CPU, $"{what} is on {actual.device}");
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.to_type(float32).eq(actual.to_type(float32)).all().item<bool>(), $"{what} differs");
    }

    [Fact]
    public void ModelBuiltOnCpuHasEveryWeightThere()
    {
        using var model = Load();
        Assert.Equal(DeviceType.CPU, model.Device.type);
        Assert.All(model.parameters(), p => Assert.Equal(DeviceType.CPU, p.device_type));
        Assert.All(model.buffers(), b => Assert.Equal(DeviceType.CPU, b.device_type));
    }

    [Fact]
    public void ImagePredictorOutputsFollowTheModel()
    {
        using var model = Load();
        var image = RgbImage.Load(Path.Combine(Micro, "inputs", "image.png"));
        var (normal, onMeta) = Twice(() =>
        {
            using var p = new Sam2ImagePredictor(model, new() { MaxHoleArea = 8, MaxSprinkleArea = 8 });
            p.SetImage(image);
            var points = p.Predict(new float[,] { { 40, 50 }, { 90, 30 } }, [1, 0], multimaskOutput: true);
            var box = p.Predict(boxes: new float[,] { { 10, 10, 120, 100 } }, maskInput: points.LowResLogits[0].unsqueeze(0), multimaskOutput: false);
            var boxes = p.Predict(boxes: new float[,] { { 10, 10, 120, 100 }, { 30, 20, 60, 90 } }, multimaskOutput: false);
            return new[] { points, box, boxes };
        });
        for (int i = 0; i < normal.Length; i++)
        {
            AssertSameOnCpu(normal[i].Masks, onMeta[i].Masks, $"prediction {i} masks");
            AssertSameOnCpu(normal[i].IouPredictions, onMeta[i].IouPredictions, $"prediction {i} IoU");
            AssertSameOnCpu(normal[i].LowResLogits, onMeta[i].LowResLogits, $"prediction {i} low-res logits");
            normal[i].Dispose(); onMeta[i].Dispose();
        }
    }

    [Fact]
    public void SavedEmbeddingIsReadOntoTheModelsDevice()
    {
        using var model = Load();
        var image = RgbImage.Load(Path.Combine(Micro, "inputs", "image.png"));
        string dir = TestCli.TempDir("sam2-device-embed-"), file = Path.Combine(dir, "image.safetensors");
        try
        {
            using (var p = new Sam2ImagePredictor(model)) { p.SetImage(image); ImageEmbeddingFile.Save(p, image, file); }
            var (normal, onMeta) = Twice(() =>
            {
                using var p = new Sam2ImagePredictor(model);
                p.LoadEmbedding(file, image);
                return p.Predict(new float[,] { { 40, 50 } }, [1], multimaskOutput: true);
            });
            AssertSameOnCpu(normal.Masks, onMeta.Masks, "masks from the saved embedding");
            AssertSameOnCpu(normal.LowResLogits, onMeta.LowResLogits, "low-res logits from the saved embedding");
            normal.Dispose(); onMeta.Dispose();
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void VideoPredictorOutputsFollowTheModel()
    {
        using var model = Load();
        var (normal, onMeta) = Twice(() =>
        {
            var predictor = new Sam2VideoPredictor(model, new() { SpillBehind = 1 });
            using var session = predictor.InitState(Path.Combine(Micro, "inputs", "video"));
            var outputs = new List<Tensor>();
            using (var a = predictor.AddNewPointsOrBox(session, 0, 1, new float[,] { { 60, 40 } }, [1])) outputs.Add(a.MaskLogits.clone());
            using (var mask = MaskImages.ReadPngTensor(Path.Combine(Micro, "inputs", "video_mask_obj3.png")))
            using (var b = predictor.AddNewMask(session, 0, 3, mask)) outputs.Add(b.MaskLogits.clone());
            foreach (var f in predictor.PropagateInVideo(session, maxFrameNumToTrack: 4))
                using (f) outputs.Add(f.MaskLogits.clone());
            using (var c = predictor.AddNewPointsOrBox(session, 2, 1, new float[,] { { 20, 20 } }, [0])) outputs.Add(c.MaskLogits.clone());
            foreach (var f in predictor.PropagateInVideo(session, startFrameIdx: 3, reverse: true))
                using (f) outputs.Add(f.MaskLogits.clone());
            return outputs;
        });
        Assert.Equal(normal.Count, onMeta.Count);
        for (int i = 0; i < normal.Count; i++) AssertSameOnCpu(normal[i], onMeta[i], $"video output {i}");
    }

    [Fact]
    public void AutomaticMaskGeneratorFollowsTheModel()
    {
        using var model = Load();
        var image = RgbImage.Load(Path.Combine(Micro, "inputs", "image.png"));
        var options = new AmgOptions
        {
            PointsPerSide = 4, PointsPerBatch = 8, PredIouThresh = 0, StabilityScoreThresh = 0, CropNLayers = 1,
            MinMaskRegionArea = 4, UseM2m = true, OutputMode = AmgOutputMode.UncompressedRle,
        };
        var (normal, onMeta) = Twice(() =>
        {
            using var amg = new Sam2AutomaticMaskGenerator(model, options);
            return amg.Generate(image);
        });
        Assert.NotEmpty(normal);
        Assert.Equal(normal.Count, onMeta.Count);
        for (int i = 0; i < normal.Count; i++)
        {
            Assert.Equal(normal[i].Area, onMeta[i].Area);
            Assert.Equal(normal[i].Bbox, onMeta[i].Bbox);
            Assert.Equal(normal[i].PredictedIou, onMeta[i].PredictedIou);
        }
    }
}
