using System.Text.Json;
using Sam2Sharp.Batch;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Imaging;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary><c>sam2 amg</c> over a folder of images, in two shards, resumable.</summary>
public sealed class BatchAmgTests : IDisposable
{
    readonly string dir = TestCli.TempDir("sam2-batch-amg-");
    static string Folder => Golden.Folders()[0];

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string Images() => Crops(dir);

    /// <summary>Three small crops of the golden image (a.png, b.png, c.png) and a text file, in <c>dir/images</c>.</summary>
    internal static string Crops(string dir)
    {
        var input = Path.Combine(dir, "images");
        Directory.CreateDirectory(input);
        var src = RgbImage.Load(Path.Combine(Folder, "inputs", "image.png"));
        foreach (var (name, x0, y0) in new[] { ("a", 0, 0), ("b", 200, 100), ("c", 380, 230) })
        {
            const int w = 160, h = 120;
            var crop = new RgbImage(w, h);
            for (int y = 0; y < h; y++) Array.Copy(src.Data, ((y0 + y) * src.Width + x0) * 3, crop.Data, y * w * 3, w * 3);
            crop.SavePng(Path.Combine(input, name + ".png"));
        }
        File.WriteAllText(Path.Combine(input, "notes.txt"), "not an image");
        return input;
    }

    static string[] Model => ["--checkpoint", Path.Combine(Folder, "model.pt"), "--config", Path.Combine(Folder, "config.yaml"),
        "--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"];

    static int Amg(params string[] args) => TestCli.Run(AmgCommand.Create(), ["amg", .. Model, .. args]);

    [Fact]
    public void TwoShardsEqualOneRunAndEachImageEqualsTheSingleImageCommand()
    {
        var input = Images();
        string whole = Path.Combine(dir, "whole"), sharded = Path.Combine(dir, "sharded");
        Assert.Equal(0, Amg("--input-dir", input, "--output-dir", whole, "--png-masks"));
        Assert.Equal(0, Amg("--input-dir", input, "--output-dir", sharded, "--png-masks", "--shard", "0/2"));
        Assert.Equal(["a.png", "c.png"], TaskReport.Read(TaskReport.PathFor(sharded, new Shard(0, 2))).Items.Select(i => i.Name));
        Assert.Equal(0, Amg("--input-dir", input, "--output-dir", sharded, "--png-masks", "--shard", "1/2"));

        foreach (var stem in new[] { "a", "b", "c" })
        {
            var json = File.ReadAllBytes(Path.Combine(whole, stem + ".json"));
            Assert.True(JsonDocument.Parse(json).RootElement.GetArrayLength() > 0);
            Assert.Equal(json, File.ReadAllBytes(Path.Combine(sharded, stem + ".json")));
            var pngs = Directory.GetFiles(Path.Combine(whole, stem)).Select(Path.GetFileName).Order().ToList();
            Assert.Equal(pngs, Directory.GetFiles(Path.Combine(sharded, stem)).Select(Path.GetFileName).Order().ToList());
            foreach (var p in pngs) Assert.Equal(File.ReadAllBytes(Path.Combine(whole, stem, p!)), File.ReadAllBytes(Path.Combine(sharded, stem, p!)));
        }
        // The batch writes what the single-image command writes.
        var single = Path.Combine(dir, "b.json");
        Assert.Equal(0, Amg("--image", Path.Combine(input, "b.png"), "--output-json", single));
        Assert.Equal(File.ReadAllBytes(single), File.ReadAllBytes(Path.Combine(whole, "b.json")));
    }

    [Fact]
    public void ReRunRedoesOnlyIncompleteImagesAndAListWorksToo()
    {
        var input = Images();
        var list = Path.Combine(dir, "list.txt");
        File.WriteAllText(list, "# the images\nimages/c.png\n\nimages/a.png\n");
        string output = Path.Combine(dir, "out");
        Assert.Equal(0, Amg("--input-list", list, "--output-dir", output));
        var before = File.ReadAllBytes(Path.Combine(output, "c.json"));
        // A run killed after committing c.png's outputs, before its marker; and a broken image among them.
        File.Delete(Path.Combine(output, TaskReport.FolderName, BatchRunner.MarkerFolderName, "c.png.json"));
        File.WriteAllText(Path.Combine(output, "c.json"), "[");
        File.WriteAllBytes(Path.Combine(input, "b.png"), [1, 2, 3]);
        File.AppendAllText(list, "images/b.png\n");

        var (rc, err) = TestCli.RunCapturingErrors(AmgCommand.Create(), ["amg", .. Model, "--input-list", list, "--output-dir", output]);
        Assert.Equal(1, rc);
        Assert.Contains("b.png", err);
        var report = TaskReport.Read(TaskReport.PathFor(output, Shard.All));
        Assert.Equal([("a.png", ItemStatus.Skipped), ("b.png", ItemStatus.Failed), ("c.png", ItemStatus.Done)],
            report.Items.Select(i => (i.Name, i.Status)));
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(output, "c.json")));
        Assert.False(File.Exists(Path.Combine(output, "b.json")));
    }
}
