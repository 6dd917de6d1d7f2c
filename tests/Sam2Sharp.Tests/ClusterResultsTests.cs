using System.Text.Json;
using Sam2Sharp.Amg;
using Sam2Sharp.Batch;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Cluster;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary><c>sam2 cluster status</c> and <c>merge</c> on synthetic task reports and annotation files.</summary>
public sealed class ClusterResultsTests : IDisposable
{
    readonly string _dir = TestCli.TempDir("sam2-cluster-results-");

    public void Dispose() => Directory.Delete(_dir, true);

    static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    static void Report(string root, string command, int k, int n, params ItemResult[] items) =>
        new TaskReport(command, new Shard(k, n), "node1", T0, T0.AddSeconds(10 + k), items).Write(root);

    [Fact]
    public void StatusListsFailedItemsAndMissingTasks()
    {
        Report(_dir, "vos", 0, 3, new ItemResult("a", ItemStatus.Done, 2.5), new ItemResult("d", ItemStatus.Skipped, 0));
        Report(_dir, "vos", 1, 3, new ItemResult("b", ItemStatus.Failed, 1, "video b: frame 00003.jpg: not a JPEG"), new ItemResult("e", ItemStatus.Done, 1));
        var status = ClusterStatus.Read(_dir);
        Assert.Equal(3, status.Count);
        Assert.Equal([2], status.Missing);
        Assert.Equal("b", Assert.Single(status.FailedItems).Item.Name);
        Assert.False(status.Complete);

        var (code, text, _) = ClusterSubmissionTests.Run("status", _dir);
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains("task 0/3: vos on node1, 2 items: done 1, skipped 1, failed 0", text);
        Assert.Contains("  failed b: video b: frame 00003.jpg: not a JPEG\n", text);
        Assert.Contains("task 2/3: missing", text);
        Assert.Contains("2 of 3 tasks reported; items done 2, skipped 1, failed 1; missing tasks 2; not complete", text);

        // The requeued tasks end well: complete, exit 0.
        Report(_dir, "vos", 1, 3, new ItemResult("b", ItemStatus.Done, 1), new ItemResult("e", ItemStatus.Skipped, 0));
        Report(_dir, "vos", 2, 3, new ItemResult("c", ItemStatus.Done, 1));
        (code, text, _) = ClusterSubmissionTests.Run("status", _dir);
        Assert.Equal(0, code);
        Assert.EndsWith("3 of 3 tasks reported; items done 3, skipped 2, failed 0; complete\n", text);
    }

    [Fact]
    public void StatusWithoutReportsNeedsTheTaskCount()
    {
        var (code, _, err) = ClusterSubmissionTests.Run("status", _dir);
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains("no task reports yet", err);
        (code, var text, _) = ClusterSubmissionTests.Run("status", _dir, "--tasks", "2");
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains("0 of 2 tasks reported", text);
        Assert.Contains("missing tasks 0, 1", text);
        // Just submitted: the script's array says how many tasks to wait for.
        var line = BatchCommandLine.Parse(["vos", "--output-mask-dir", _dir]);
        var options = new SlurmJobOptions { Tasks = 3, MaxConcurrent = 1, LogFolder = Path.Combine(_dir, ".sam2-tasks", "logs"), WorkingDirectory = _dir };
        SlurmJob.Write(_dir, options, SlurmJob.Render(["sam2"], line, options), replace: false);
        (code, text, _) = ClusterSubmissionTests.Run("status", _dir);
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains("0 of 3 tasks reported", text);
    }

    [Fact]
    public void StatusFollowsTheLatestSplit()
    {
        // An earlier run in 4 tasks, then the batch resubmitted in 2: the 2-task reports are the ones read.
        Report(_dir, "vos", 0, 4, new ItemResult("a", ItemStatus.Failed, 1, "x"));
        new TaskReport("vos", new Shard(0, 2), "n", T0, T0.AddHours(1), [new("a", ItemStatus.Done, 1)]).Write(_dir);
        new TaskReport("vos", new Shard(1, 2), "n", T0, T0.AddHours(1), [new("b", ItemStatus.Done, 1)]).Write(_dir);
        var status = ClusterStatus.Read(_dir);
        Assert.Equal(2, status.Count);
        Assert.True(status.Complete);
    }

    static string AnnotationJson(int h, int w, params (string Counts, int Area)[] masks) =>
        JsonSerializer.Serialize(masks.Select(m => new Dictionary<string, object>
        {
            ["segmentation"] = m.Counts.StartsWith('[')
                ? new Dictionary<string, object> { ["size"] = new[] { h, w }, ["counts"] = JsonSerializer.Deserialize<int[]>(m.Counts)! }
                : new Dictionary<string, object> { ["size"] = new[] { h, w }, ["counts"] = m.Counts },
            ["area"] = m.Area, ["bbox"] = new[] { 0, 0, 1, 1 }, ["predicted_iou"] = 0.9, ["stability_score"] = 0.95,
        }));

    [Fact]
    public void CocoMergeNumbersImagesAndAnnotationsTheSameWayWhateverTheShards()
    {
        string coco = CocoRleCodec.CountsToString([2, 3, 7]);
        File.WriteAllText(Path.Combine(_dir, "b.json"), AnnotationJson(3, 4, ("[2,3,7]", 3), (coco, 3)));
        File.WriteAllText(Path.Combine(_dir, "a.json"), AnnotationJson(2, 2, ("[0,4]", 4)));
        File.WriteAllText(Path.Combine(_dir, "c.json"), "[]");
        // c has no annotation: its size comes from its file's header, which the report names (relative to the root).
        Directory.CreateDirectory(Path.Combine(_dir, "in"));
        new Sam2Sharp.Imaging.RgbImage(5, 7).SavePng(Path.Combine(_dir, "in", "c.png"));
        // Two splits of the same images: the merged file is the same bytes.
        Report(_dir, "amg", 0, 2, new ItemResult("c.png", ItemStatus.Done, 1, Source: "in/c.png"), new ItemResult("a.png", ItemStatus.Done, 1));
        Report(_dir, "amg", 1, 2, new ItemResult("b.png", ItemStatus.Skipped, 0));
        var (code, text, err) = ClusterSubmissionTests.Run("merge", _dir, "--out", Path.Combine(_dir, "one.json"));
        Assert.True(code == 0, err);
        Assert.Contains("amg: 3 images, 3 annotations merged", text);

        Directory.Delete(TaskReport.FolderIn(_dir), true);
        Report(_dir, "amg", 0, 3, new ItemResult("b.png", ItemStatus.Done, 1));
        Report(_dir, "amg", 1, 3, new ItemResult("a.png", ItemStatus.Done, 1));
        Report(_dir, "amg", 2, 3, new ItemResult("c.png", ItemStatus.Done, 1, Source: "in/c.png"));
        (code, _, err) = ClusterSubmissionTests.Run("merge", _dir);
        Assert.True(code == 0, err);
        byte[] first = File.ReadAllBytes(Path.Combine(_dir, "one.json"));
        Assert.Equal(first, File.ReadAllBytes(Path.Combine(_dir, ClusterMerge.CocoFileName)));

        using var doc = JsonDocument.Parse(first);
        var images = doc.RootElement.GetProperty("images").EnumerateArray().ToList();
        Assert.Equal(["a.png", "b.png", "c.png"], images.Select(i => i.GetProperty("file_name").GetString()));
        Assert.Equal([1, 2, 3], images.Select(i => i.GetProperty("id").GetInt32()));
        Assert.Equal([(2, 2), (3, 4), (7, 5)], images.Select(i => (i.GetProperty("height").GetInt32(), i.GetProperty("width").GetInt32())));
        var anns = doc.RootElement.GetProperty("annotations").EnumerateArray().ToList();
        Assert.Equal([1, 2, 3], anns.Select(a => a.GetProperty("id").GetInt32()));
        Assert.Equal([1, 2, 2], anns.Select(a => a.GetProperty("image_id").GetInt32()));
        // Uncompressed counts become COCO's compressed string; both masks of b are the same mask.
        Assert.Equal(coco, anns[1].GetProperty("segmentation").GetProperty("counts").GetString());
        Assert.Equal(coco, anns[2].GetProperty("segmentation").GetProperty("counts").GetString());
        Assert.Equal(0.9, anns[0].GetProperty("predicted_iou").GetDouble());
        Assert.Equal(0, anns[0].GetProperty("iscrowd").GetInt32());
        Assert.Equal(1, Assert.Single(doc.RootElement.GetProperty("categories").EnumerateArray()).GetProperty("id").GetInt32());
        // Merging again into the same file with the same content is fine; a different existing file is kept.
        File.WriteAllText(Path.Combine(_dir, "other.json"), "{}");
        (code, _, err) = ClusterSubmissionTests.Run("merge", _dir, "--out", Path.Combine(_dir, "other.json"));
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains("exists with other content", err);
        Assert.Equal("{}", File.ReadAllText(Path.Combine(_dir, "other.json")));
    }

    [Fact]
    public void CocoMergeNamesAnImageWithoutAnnotationsWhoseSizeCannotBeRead()
    {
        File.WriteAllText(Path.Combine(_dir, "a.json"), "[]");
        Report(_dir, "amg", 0, 1, new ItemResult("a.png", ItemStatus.Done, 1));
        var (code, _, err) = ClusterSubmissionTests.Run("merge", _dir);
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains("image a.png has no annotation and no image file is known to read its size from", err);

        Report(_dir, "amg", 0, 1, new ItemResult("a.png", ItemStatus.Done, 1, Source: "gone/a.png"));
        (code, _, err) = ClusterSubmissionTests.Run("merge", _dir);
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains($"image a.png has no annotation, and its size cannot be read from {Path.Combine(_dir, "gone", "a.png")}", err);
        Assert.DoesNotContain('\n', err.TrimEnd('\n'));
        Assert.False(File.Exists(Path.Combine(_dir, ClusterMerge.CocoFileName)));
    }

    [Fact]
    public void CocoMergeOfRealAmgShardsIsTheSameForTwoAndThreeShards()
    {
        var input = BatchAmgTests.Crops(_dir);
        var folder = Golden.Folders()[0];
        string[] Amg(string output, string shard) => ["amg", "--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml"),
            "--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0", "--output-mode", "uncompressed_rle",
            "--input-dir", input, "--output-dir", output, "--shard", shard];
        string two = Path.Combine(_dir, "two"), three = Path.Combine(_dir, "three");
        foreach (var k in new[] { "0/2", "1/2" }) Assert.Equal(0, TestCli.Run(AmgCommand.Create(), Amg(two, k)));
        foreach (var k in new[] { "2/3", "0/3", "1/3" }) Assert.Equal(0, TestCli.Run(AmgCommand.Create(), Amg(three, k)));
        var (code, text, err) = ClusterSubmissionTests.Run("merge", two);
        Assert.True(code == 0, err);
        Assert.StartsWith("amg: 3 images, ", text);
        Assert.Equal(0, ClusterSubmissionTests.Run("merge", three).Code);
        byte[] merged = File.ReadAllBytes(Path.Combine(two, ClusterMerge.CocoFileName));
        Assert.Equal(merged, File.ReadAllBytes(Path.Combine(three, ClusterMerge.CocoFileName)));

        // Every annotation of every image, in order, its mask the same RLE as in the image's own file.
        using var doc = JsonDocument.Parse(merged);
        var anns = doc.RootElement.GetProperty("annotations").EnumerateArray().ToList();
        int id = 0;
        foreach (var (stem, imageId) in new[] { ("a", 1), ("b", 2), ("c", 3) })
        {
            using var own = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(two, stem + ".json")));
            var mine = anns.Where(a => a.GetProperty("image_id").GetInt32() == imageId).ToList();
            Assert.Equal(own.RootElement.GetArrayLength(), mine.Count);
            foreach (var (a, o) in mine.Zip(own.RootElement.EnumerateArray()))
            {
                Assert.Equal(++id, a.GetProperty("id").GetInt32());
                var counts = o.GetProperty("segmentation").GetProperty("counts").EnumerateArray().Select(c => c.GetInt32()).ToArray();
                Assert.Equal(CocoRleCodec.CountsToString(counts), a.GetProperty("segmentation").GetProperty("counts").GetString());
                Assert.Equal(o.GetProperty("area").GetInt64(), a.GetProperty("area").GetInt64());
            }
        }
        Assert.True(id > 0);
        Assert.Equal(anns.Count, id);

        // The batch's reports name each image relative to the output root; an image left without annotations still
        // gets its size, read from that file's header (the crops are 160×120).
        Assert.Equal(Path.Combine("..", "images", "b.png"),
            TaskReport.ReadAll(two).SelectMany(r => r.Report.Items).Single(i => i.Name == "b.png").Source);
        File.WriteAllText(Path.Combine(two, "b.json"), "[]");
        string emptied = Path.Combine(_dir, "emptied.json");
        Assert.Equal(0, ClusterSubmissionTests.Run("merge", two, "--out", emptied).Code);
        using var again = JsonDocument.Parse(File.ReadAllBytes(emptied));
        var b = again.RootElement.GetProperty("images")[1];
        Assert.Equal(("b.png", 120, 160), (b.GetProperty("file_name").GetString(), b.GetProperty("height").GetInt32(), b.GetProperty("width").GetInt32()));
        Assert.DoesNotContain(again.RootElement.GetProperty("annotations").EnumerateArray(), a => a.GetProperty("image_id").GetInt32() == 2);
    }

    [Fact]
    public void MergeRefusesAnIncompleteBatchAndNamesBadFiles()
    {
        Report(_dir, "amg", 0, 2, new ItemResult("a.png", ItemStatus.Done, 1));
        var (code, _, err) = ClusterSubmissionTests.Run("merge", _dir);
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains("not complete (1 tasks without a report, 0 items failed)", err);

        Report(_dir, "amg", 1, 2, new ItemResult("b.png", ItemStatus.Done, 1));
        File.WriteAllText(Path.Combine(_dir, "a.json"), AnnotationJson(2, 2, ("[0,4]", 4)));
        File.WriteAllText(Path.Combine(_dir, "b.json"), "[{\"segmentation\": [[0, 1]], \"area\": 1}]");
        (code, _, err) = ClusterSubmissionTests.Run("merge", _dir);
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains($"{Path.Combine(_dir, "b.json")}, annotation 0: segmentation is not an RLE", err);
        Assert.False(File.Exists(Path.Combine(_dir, ClusterMerge.CocoFileName)));
    }

    [Fact]
    public void EvalMergeOfTwoShardsEqualsAnUnshardedEvaluation()
    {
        var source = Path.Combine(Golden.SharedDir, "golden-eval", "davis");
        string gt = Path.Combine(source, "gt"), pred = Path.Combine(_dir, "pred");
        EvaluationTests.CopyDir(Path.Combine(source, "pred"), pred);
        var whole = Sam2Sharp.Evaluation.VosBenchmark.Run(gt, pred, new Sam2Sharp.Evaluation.VosBenchmarkOptions { Strict = false });
        Assert.Equal(0, TestCli.Run(EvalCommand.Create(), "eval", "--gt-root", gt, "--pred-root", pred, "--shard", "1/2", "-q"));
        // The line a submission would run names the prediction root; the batch is its score folder.
        Assert.Equal(Sam2Sharp.Evaluation.VosScoreFiles.FolderIn(pred), BatchCommandLine.Parse(["eval", "--gt-root", gt, "--pred-root", pred]).OutputRoot);
        var (code, text, _) = ClusterSubmissionTests.Run("status", pred, "--tasks", "2");
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains("task 0/2: missing", text);
        Assert.Equal(0, TestCli.Run(EvalCommand.Create(), "eval", "--gt-root", gt, "--pred-root", pred, "--shard", "0/2", "-q"));
        (code, text, var err) = ClusterSubmissionTests.Run("merge", pred);
        Assert.True(code == 0, err);
        Assert.Contains($"eval: {whole.Videos.Count} videos; Global score: J&F: {Sam2Sharp.Evaluation.VosBenchmarkResult.FormatOneDecimal(whole.GlobalJF)}", text);
        Assert.Equal(whole.ToCsv(), File.ReadAllText(Path.Combine(pred, "results.csv")));
    }

    [Fact]
    public void VosMergeChecksEveryVideoIsThere()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "v1"));
        Report(_dir, "vos", 0, 2, new ItemResult("v1", ItemStatus.Done, 1));
        Report(_dir, "vos", 1, 2, new ItemResult("v2", ItemStatus.Done, 1));
        var (code, _, err) = ClusterSubmissionTests.Run("merge", _dir);
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains("1 items reported complete are not in", err);
        Directory.CreateDirectory(Path.Combine(_dir, "v2"));
        (code, var text, _) = ClusterSubmissionTests.Run("merge", _dir);
        Assert.Equal(0, code);
        Assert.Contains("vos: all 2 items complete", text);
    }
}
