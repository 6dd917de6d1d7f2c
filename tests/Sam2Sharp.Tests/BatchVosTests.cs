using Sam2Sharp.Batch;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Evaluation;
using Sam2Sharp.IO;
using Sam2Sharp.Video;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary><c>sam2 vos</c> as a sharded, resumable batch over the golden videos.</summary>
public sealed class BatchVosTests : IDisposable
{
    readonly string dir = TestCli.TempDir("sam2-batch-vos-");
    internal static string Folder => Golden.Folders().First(f => Directory.Exists(Path.Combine(f, "vos")));
    internal static string Vos => Path.Combine(Folder, "vos");

    public void Dispose() => Directory.Delete(dir, recursive: true);

    internal static string[] Args(string output, params string[] extra) =>
        ["vos", "--checkpoint", Path.Combine(Folder, "model.pt"), "--config", Path.Combine(Folder, "config.yaml"),
         "--base-video-dir", Path.Combine(Vos, "JPEGImages"), "--input-mask-dir", Path.Combine(Vos, "Annotations"),
         "--output-mask-dir", output, "-q", .. extra];

    static int Run(string output, params string[] extra) => TestCli.Run(VosCommand.Create(), Args(output, extra));

    /// <summary>Every visible file under <paramref name="root"/> (relative path → bytes); hidden entries are the batch's own.</summary>
    internal static SortedDictionary<string, byte[]> Visible(string root)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(root, f);
            if (rel.Split(Path.DirectorySeparatorChar).Any(p => p.StartsWith('.'))) continue;
            files[rel] = File.ReadAllBytes(f);
        }
        return files;
    }

    static void AssertSameFiles(string expected, string actual)
    {
        var a = Visible(expected);
        var b = Visible(actual);
        Assert.Equal(a.Keys, b.Keys);
        Assert.NotEmpty(a);
        foreach (var k in a.Keys) Assert.True(a[k].AsSpan().SequenceEqual(b[k]), $"{k} differs");
    }

    [Fact]
    public void TwoShardsTogetherEqualOneRunAndReRunsSkip()
    {
        string whole = Path.Combine(dir, "whole"), sharded = Path.Combine(dir, "sharded");
        Assert.Equal(0, Run(whole));
        Assert.Equal(0, Run(sharded, "--shard", "0/2"));
        var first = TaskReport.Read(TaskReport.PathFor(sharded, new Shard(0, 2)));
        Assert.Equal([("bedroom_a", ItemStatus.Done)], first.Items.Select(i => (i.Name, i.Status)));
        Assert.False(Directory.Exists(Path.Combine(sharded, "bedroom_b")));
        Assert.Equal(0, Run(sharded, "--shard", "1/2"));
        AssertSameFiles(whole, sharded);

        // A requeued task finds its video complete and skips it (no model work: a missing checkpoint is not even read).
        var args = Args(sharded, "--shard", "1/2");
        args[Array.IndexOf(args, "--checkpoint") + 1] = Path.Combine(dir, "absent.pt");
        Assert.Equal(0, TestCli.Run(VosCommand.Create(), args));
        var again = TaskReport.Read(TaskReport.PathFor(sharded, new Shard(1, 2)));
        Assert.Equal([("bedroom_b", ItemStatus.Skipped)], again.Items.Select(i => (i.Name, i.Status)));

        // Evaluation ignores the batch's hidden folder.
        var scored = VosBenchmark.Run(Path.Combine(Vos, "expected_davis"), sharded);
        Assert.Equal(2, scored.Videos.Count);
    }

    [Fact]
    public void FailureMidVideoLeavesNothingVisibleAndTheReRunCompletesIt()
    {
        string whole = Path.Combine(dir, "whole"), output = Path.Combine(dir, "resumed");
        Assert.Equal(0, Run(whole));
        var options = new VosInferenceOptions
        {
            BaseVideoDir = Path.Combine(Vos, "JPEGImages"), InputMaskDir = Path.Combine(Vos, "Annotations"), OutputMaskDir = output,
        };
        using (var model = Sam2Builder.Load(Path.Combine(Folder, "config.yaml"), Path.Combine(Folder, "model.pt"), new Sam2ModelOptions { ApplyPostprocessing = false }))
        {
            var predictor = new Sam2VideoPredictor(model, VosInference.PredictorOptions(VosLayout.Palette));
            var batch = VosInference.OpenBatch(options, VosInference.VideoNames(options.BaseVideoDir, null), Shard.All);
            var report = batch.Run((video, staged, ct) =>
            {
                var temp = staged.Folder(Path.Combine(output, video));
                VosInference.RunVideo(predictor, options, video, null, ct, temp);
                if (video == "bedroom_a")
                {
                    // Half of the frames written, then the item fails.
                    foreach (var png in Directory.GetFiles(temp).Order().Skip(4)) File.Delete(png);
                    Assert.NotEmpty(Directory.GetFiles(temp));
                    throw new Sam2Exception("simulated failure after 4 frames");
                }
            });
            Assert.False(report.Succeeded);
            Assert.Equal([ItemStatus.Failed, ItemStatus.Done], report.Items.Select(i => i.Status));
            Assert.Equal("simulated failure after 4 frames", report.Items[0].Error);
        }
        // Nothing of the failed video is visible, nor left under a hidden name.
        Assert.False(Directory.Exists(Path.Combine(output, "bedroom_a")));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(output), e => Path.GetFileName(e).StartsWith(".bedroom_a"));

        // A killed run leaves a staged folder, and a video committed without its marker: the re-run redoes both.
        Directory.CreateDirectory(Path.Combine(output, ".bedroom_b.partial-0123abcd"));
        File.WriteAllBytes(Path.Combine(output, ".bedroom_b.partial-0123abcd", "00000.png"), [1, 2, 3]);
        File.Delete(Path.Combine(output, TaskReport.FolderName, BatchRunner.MarkerFolderName, "bedroom_b.json"));
        File.WriteAllBytes(Path.Combine(output, "bedroom_b", "00003.png"), [1, 2, 3]);

        Assert.Equal(0, Run(output));
        var rerun = TaskReport.Read(TaskReport.PathFor(output, Shard.All));
        Assert.Equal([ItemStatus.Done, ItemStatus.Done], rerun.Items.Select(i => i.Status));
        AssertSameFiles(whole, output);
        Assert.False(Directory.Exists(Path.Combine(output, ".bedroom_b.partial-0123abcd")));
    }

    /// <summary>A real kill: the CLI process is killed while a video's frames are being written; nothing of that video is
    /// visible afterwards, and the requeued task completes it with the masks of an uninterrupted run.</summary>
    [Fact]
    public void KilledMidVideoTheRequeuedTaskCompletesIt()
    {
        string whole = Path.Combine(dir, "whole"), output = Path.Combine(dir, "killed");
        Assert.Equal(0, Run(whole));
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "sam2.dll"), .. Args(output)])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        bool caught = false;
        using (var p = System.Diagnostics.Process.Start(psi)!)
        {
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (!p.HasExited && DateTime.UtcNow < deadline)
            {
                // The first video's staged folder, once it holds a frame.
                var staged = Directory.Exists(output) ? Directory.GetDirectories(output, ".bedroom_a.partial-*") : [];
                if (staged.Any(d => Directory.EnumerateFiles(d, "*.png").Any()))
                {
                    p.Kill(entireProcessTree: true);
                    caught = true;
                    break;
                }
                Thread.Sleep(5);
            }
            p.WaitForExit(60_000);
        }
        Assert.True(caught, "the run ended before a frame of the first video was written, so nothing was killed mid-video");
        Assert.False(Directory.Exists(Path.Combine(output, "bedroom_a")));
        Assert.Empty(Visible(output));

        Assert.Equal(0, Run(output));
        AssertSameFiles(whole, output);
        Assert.DoesNotContain(Directory.GetFileSystemEntries(output), e => Path.GetFileName(e).StartsWith(".bedroom"));
    }

    [Fact]
    public void ExistingOutputOutsideABatchRootIsNeverReplaced()
    {
        string output = Path.Combine(dir, "mine");
        Directory.CreateDirectory(Path.Combine(output, "bedroom_a"));
        File.WriteAllText(Path.Combine(output, "bedroom_a", "keep.txt"), "mine");
        var (rc, err) = TestCli.RunCapturingErrors(VosCommand.Create(), Args(output));
        Assert.Equal(1, rc);
        Assert.Contains("exists and was not written by a batch run", err);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "bedroom_a", "keep.txt")));
    }
}
