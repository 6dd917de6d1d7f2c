using Sam2Sharp.Amg;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Evaluation;
using Sam2Sharp.Imaging;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary>Progress reports and cancellation of the long library operations, and the CLI's mapping of library terms.</summary>
public sealed class ProgressTests
{
    /// <summary>Collects reports as they come (from any thread).</summary>
    sealed class Recorder : IProgress<Sam2Progress>
    {
        public readonly List<Sam2Progress> Reports = [];
        public void Report(Sam2Progress value) { lock (Reports) Reports.Add(value); }
    }

    static string EvalDir => Path.Combine(Golden.SharedDir, "golden-eval", "davis");

    [Fact]
    public void BenchmarkReportsEveryVideoOnceAndStopsWhenCancelled()
    {
        var progress = new Recorder();
        var r = VosBenchmark.Run(Path.Combine(EvalDir, "gt"), Path.Combine(EvalDir, "pred"), progress: progress);
        Assert.Equal(r.Videos.Count, progress.Reports.Count);
        Assert.Equal(Enumerable.Range(1, r.Videos.Count).Select(i => (long)i), progress.Reports.Select(p => p.Done).Order());
        Assert.All(progress.Reports, p => Assert.Equal(r.Videos.Count, p.Total));
        Assert.Equal(r.Videos.Select(v => v.Name).Order(), progress.Reports.Select(p => p.Item!).Order());

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() =>
            VosBenchmark.Run(Path.Combine(EvalDir, "gt"), Path.Combine(EvalDir, "pred"), cancellationToken: cancelled.Token));
    }

    [Fact]
    public void MaskGeneratorCountsPromptBatchesAndStopsWhenCancelled()
    {
        var folder = Path.Combine(Golden.SharedDir, "golden", "sam2.1-micro");
        using var model = Sam2Builder.Load(Path.Combine(folder, "config.yaml"), Path.Combine(folder, "model.pt"));
        var image = RgbImage.Load(Path.Combine(folder, "inputs", "image.png"));
        // 4×4 points in batches of 5: 4 batches on the whole image.
        using var amg = new Sam2AutomaticMaskGenerator(model, new AmgOptions { PointsPerSide = 4, PointsPerBatch = 5 });
        var progress = new Recorder();
        amg.Generate(image, progress);
        Assert.Equal([1L, 2, 3, 4], progress.Reports.Select(p => p.Done));
        Assert.All(progress.Reports, p => Assert.Equal(4, p.Total));

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => amg.Generate(image, cancellationToken: cancelled.Token));
    }

    [Fact]
    public void CliShowsFlagsWhereTheLibraryNamesItsSettings()
    {
        Assert.Equal("set --track-object-appearing-later-in-video for such datasets",
            Sam2Sharp.Cli.Commands.Cli.ToFlags("set VosInferenceOptions.TrackObjectAppearingLaterInVideo for such datasets"));
        var e = Assert.Throws<Sam2Exception>(() => Training.SyntheticVos.Generate(Path.Combine(Path.GetTempPath(), "never-written"),
            new Training.SyntheticVosOptions { Videos = 0 }));
        Assert.DoesNotContain("--", e.Message);
        Assert.StartsWith("--videos must be at least 1", Sam2Sharp.Cli.Commands.Cli.ToFlags(e.Message));
    }

    [Fact]
    public void ImageEncoderReportsEachBlockThenTheNeckAndTheEmbeddingIsUnchanged()
    {
        var folder = Golden.Folders()[0];
        using var model = TestServer.LoadModel(folder);
        var image = RgbImage.Load(Path.Combine(folder, "inputs", "image.png"));
        var progress = new Recorder();
        using var watched = new Sam2ImagePredictor(model);
        watched.SetImage(image, progress);
        using var plain = new Sam2ImagePredictor(model);
        plain.SetImage(image);
        int total = model.ImageEncoder.Trunk.Depth + 1;
        Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), progress.Reports.Select(p => p.Done));
        Assert.All(progress.Reports, p => Assert.Equal((total, "encoder steps"), (p.Total, p.Unit)));
        Assert.True(watched.ImageEmbedding.equal(plain.ImageEmbedding).all().item<bool>());
    }
}
