using Sam2Sharp.Batch;
using Sam2Sharp.Cli.Commands;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary><c>sam2 image</c> over a folder of images: one prompt for all or a prompts file, in shards.</summary>
public sealed class BatchImageTests : IDisposable
{
    readonly string dir = TestCli.TempDir("sam2-batch-image-");
    static string Folder => Golden.Folders()[0];

    public void Dispose() => Directory.Delete(dir, recursive: true);

    static (int, string) Image(params string[] args) => TestCli.RunCapturingErrors(ImageCommand.Create(),
        ["image", "--checkpoint", Path.Combine(Folder, "model.pt"), "--config", Path.Combine(Folder, "config.yaml"), .. args]);

    [Fact]
    public void ShardsWithOnePromptForAllEqualTheSingleImageCommand()
    {
        var input = BatchAmgTests.Crops(dir);
        string output = Path.Combine(dir, "out");
        for (int k = 0; k < 2; k++)
            Assert.Equal(0, Image("--input-dir", input, "--output-dir", output, "--point", "80,60", "--box", "10,10,120,100", "--shard", $"{k}/2").Item1);
        foreach (var stem in new[] { "a", "b", "c" })
        {
            var single = Path.Combine(dir, stem + ".png");
            Assert.Equal(0, Image("--image", Path.Combine(input, stem + ".png"), "--point", "80,60", "--box", "10,10,120,100", "--output", single).Item1);
            Assert.Equal(File.ReadAllBytes(single), File.ReadAllBytes(Path.Combine(output, stem + ".png")));
        }
        Assert.Equal(2, TaskReport.ReadAll(output).Count);
    }

    [Fact]
    public void PromptsFileGivesEachImageItsOwnPromptsAndIsCheckedFirst()
    {
        var input = BatchAmgTests.Crops(dir);
        var prompts = Path.Combine(dir, "prompts.json");
        File.WriteAllText(prompts, """{"a.png": {"points": [[20, 30], [100, 90, 0]]}, "b.png": {"boxes": [[0, 0, 50, 40], [60, 50, 150, 110]]}}""");
        string output = Path.Combine(dir, "out");
        var (rc, err) = Image("--input-dir", input, "--output-dir", output, "--prompts", prompts);
        Assert.Equal(1, rc);
        Assert.Contains("has no prompts for image c.png", err);
        Assert.False(Directory.Exists(output));

        File.Delete(Path.Combine(input, "c.png"));
        Assert.Equal(0, Image("--input-dir", input, "--output-dir", output, "--prompts", prompts, "--overlays").Item1);
        Assert.Equal(["a.overlay.png", "a.png", "b-1.png", "b-2.png", "b.overlay.png"],
            Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        File.WriteAllText(prompts, """{"a.png": {"points": [[20]]}}""");
        (rc, err) = Image("--input-dir", input, "--output-dir", Path.Combine(dir, "o2"), "--prompts", prompts);
        Assert.Equal(1, rc);
        Assert.Contains("image a.png, point 1", err);
    }
}
