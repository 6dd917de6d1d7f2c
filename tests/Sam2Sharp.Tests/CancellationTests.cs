using System.Diagnostics;
using System.Runtime.InteropServices;
using Sam2Sharp.Batch;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Evaluation;
using Sam2Sharp.IO;
using Sam2Sharp.Video;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary>A batch cancelled through its token (the library) or by Ctrl-C (the CLI): nothing partial is visible, the
/// finished items stay, and a re-run completes the rest.</summary>
public sealed class CancellationTests : IDisposable
{
    readonly string dir = TestCli.TempDir("sam2-cancel-");

    public void Dispose() => Directory.Delete(dir, recursive: true);

    static string Folder => BatchVosTests.Folder;
    static string Vos => BatchVosTests.Vos;

    /// <summary>Reports synchronously (Progress&lt;T&gt; would post to the thread pool, too late to cancel at a given item).</summary>
    sealed class OnReport(Action<Sam2Progress> action) : IProgress<Sam2Progress>
    {
        public void Report(Sam2Progress value) => action(value);
    }

    [Fact]
    public void CancelledVosBatchThrowsAndLeavesOnlyFinishedVideos()
    {
        string output = Path.Combine(dir, "out");
        var options = new VosInferenceOptions
        {
            BaseVideoDir = Path.Combine(Vos, "JPEGImages"), InputMaskDir = Path.Combine(Vos, "Annotations"), OutputMaskDir = output,
        };
        using var cts = new CancellationTokenSource();
        using (var model = Sam2Builder.Load(Path.Combine(Folder, "config.yaml"), Path.Combine(Folder, "model.pt"), new Sam2ModelOptions { ApplyPostprocessing = false }))
        {
            var predictor = new Sam2VideoPredictor(model, VosInference.PredictorOptions(VosLayout.Palette));
            var batch = VosInference.OpenBatch(options, VosInference.VideoNames(options.BaseVideoDir, null), Shard.All);
            // Cancelled as the second video starts: its frames are being computed when the token is next checked.
            var progress = new OnReport(p => { if (p.Item == "bedroom_b" && p.Done == 1) cts.Cancel(); });
            Assert.ThrowsAny<OperationCanceledException>(() => VosInference.Run(predictor, options, batch, progress, cts.Token));
        }
        // The report is written all the same: the first video done, the second cancelled.
        var report = TaskReport.Read(TaskReport.PathFor(output, Shard.All));
        Assert.Equal([("bedroom_a", ItemStatus.Done, (string?)null), ("bedroom_b", ItemStatus.Failed, "cancelled")],
            report.Items.Select(i => (i.Name, i.Status, i.Error)));
        Assert.True(Directory.Exists(Path.Combine(output, "bedroom_a")));
        // Nothing of the cancelled video, visible or under a hidden name.
        Assert.False(Directory.Exists(Path.Combine(output, "bedroom_b")));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(output), e => Path.GetFileName(e).StartsWith(".bedroom_b"));

        // The re-run skips the finished video and completes the other.
        Assert.Equal(0, TestCli.Run(VosCommand.Create(), BatchVosTests.Args(output)));
        var rerun = TaskReport.Read(TaskReport.PathFor(output, Shard.All));
        Assert.Equal([ItemStatus.Skipped, ItemStatus.Done], rerun.Items.Select(i => i.Status));
        Assert.Equal(Directory.GetFiles(Path.Combine(output, "bedroom_a")).Length, Directory.GetFiles(Path.Combine(output, "bedroom_b")).Length);
    }

    /// <summary>A training run cancelled through its token between checkpoints saves the steps done, so a resumed run
    /// continues from them (before, the steps since the last checkpoint were lost, and with none yet the run folder could
    /// be neither resumed nor started again).</summary>
    [Fact]
    public void CancelledTrainingSavesTheStepsDoneForResume()
    {
        var yaml = TrainerTests.OneStepYaml(dir);
        var cfg = Sam2Sharp.Training.TrainRunConfig.Load(yaml);
        cfg.Run.Steps = 5;
        cfg.Run.CheckpointEvery = 100;
        var source = TrainerTests.FixedClip.Golden(Path.Combine(Golden.SharedDir, "golden", "sam2.1-micro"));
        using var cts = new CancellationTokenSource();
        using (var t = new Sam2Sharp.Training.Sam2Trainer(cfg, source, resume: false))
        {
            Assert.Null(t.CheckpointStep);
            var progress = new OnReport(p => { if (p.Done == 2) cts.Cancel(); });
            Assert.ThrowsAny<OperationCanceledException>(() => t.Run(progress: progress, cancellationToken: cts.Token));
            Assert.Equal(2, t.Step);
            Assert.Equal(2, t.CheckpointStep);
        }
        using var resumed = new Sam2Sharp.Training.Sam2Trainer(cfg, source, resume: true);
        Assert.Equal(2, resumed.Step);
    }

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int sig);

    /// <summary>Runs the CLI with <paramref name="args"/> and sends it SIGINT once <paramref name="ready"/> holds of its standard output so far.</summary>
    static (bool Signalled, int Code, string Stderr) Interrupt(string[] args, Func<string, bool> ready)
    {
        Assert.True(OperatingSystem.IsLinux(), "this test sends a POSIX signal");
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "sam2.dll"), .. args])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        bool signalled = false;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var stdout = new System.Text.StringBuilder();
        p.OutputDataReceived += (_, e) => { lock (stdout) stdout.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (!p.HasExited && DateTime.UtcNow < deadline)
        {
            string so = ""; lock (stdout) so = stdout.ToString();
            if (ready(so))
            {
                Assert.Equal(0, kill(p.Id, 2));
                signalled = true;
                break;
            }
            Thread.Sleep(5);
        }
        Assert.True(p.WaitForExit(60_000), "the run did not end after SIGINT");
        return (signalled, p.ExitCode, err.Result);
    }

    static bool StagedPngs(string folder, string pattern) =>
        Directory.Exists(folder) && Directory.GetDirectories(folder, pattern).Any(d => Directory.EnumerateFiles(d, "*.png").Any());

    const string CancelledLine = "error: cancelled; nothing partial was written (a batch re-run resumes after its finished items)";

    /// <summary>Ctrl-C (SIGINT) while the CLI writes a video's frames: the command's token reaches the library, which stops
    /// at the next frame; one line on standard error, exit 130, nothing of the video left, visible or hidden.</summary>
    [Fact]
    public void CtrlCStopsTheCliWithOneLineAndNoPartialOutput()
    {
        string output = Path.Combine(dir, "interrupted");
        var (signalled, code, stderr) = Interrupt(BatchVosTests.Args(output), _ => StagedPngs(output, ".bedroom_a.partial-*"));
        Assert.True(signalled, "the run ended before a frame of the first video was written, so nothing was interrupted mid-video");
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.Cancelled, code);
        Assert.Equal(CancelledLine, stderr.TrimEnd('\n'));
        Assert.Empty(BatchVosTests.Visible(output));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(output), e => Path.GetFileName(e).StartsWith(".bedroom"));
        Assert.Equal("cancelled", TaskReport.Read(TaskReport.PathFor(output, Shard.All)).Items[0].Error);
    }

    /// <summary>Ctrl-C during <c>sam2 video</c>'s propagation: it stops at the next frame, one line, exit 130, and none of the
    /// staged masks or tensors is left.</summary>
    [Fact]
    public void CtrlCStopsAVideoCommandMidPropagation()
    {
        string output = Path.Combine(dir, "video");
        Directory.CreateDirectory(output);
        string steps = Path.Combine(dir, "steps.json");
        File.WriteAllText(steps, """{"steps":[{"op":"add_points","frame":0,"obj_id":1,"points":[[160,90]],"labels":[1]},{"op":"propagate"}]}""");
        string[] args = ["video", "--checkpoint", Path.Combine(Folder, "model.pt"), "--config", Path.Combine(Folder, "config.yaml"),
            "--input", Path.Combine(Golden.SharedDir, "samples", "videos", "bedroom"), "--prompts", steps,
            "--output", Path.Combine(output, "masks"), "--save-tensors", Path.Combine(output, "logits.safetensors")];
        // The first step's line is printed when it is done, just before the propagation over 200 frames starts.
        var (signalled, code, stderr) = Interrupt(args, stdout => stdout.Contains("step 0 add_points"));
        Assert.True(signalled, "the run ended before its first step was reported, so nothing was interrupted");
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.Cancelled, code);
        Assert.Equal(CancelledLine, stderr.TrimEnd('\n'));
        Assert.Empty(Directory.GetFileSystemEntries(output));
    }

    /// <summary>Ctrl-C during <c>sam2 train</c>, between two checkpoints: the steps done are saved before it ends, its one
    /// line says which step the checkpoint holds, and <c>--resume</c> starts there.</summary>
    [Fact]
    public void CtrlCDuringTrainingSavesTheStepsDoneAndSaysSo()
    {
        var data = Sam2Sharp.Training.SyntheticVos.Generate(Path.Combine(dir, "data"), new Sam2Sharp.Training.SyntheticVosOptions
        {
            Videos = 2, Frames = 3, Width = 64, Height = 48, Objects = 2, Seed = 3,
            Backgrounds = [Path.Combine(Golden.SharedDir, "samples", "videos", "bedroom")],
        });
        var yaml = TrainingDataTests.WriteRunYaml(data.Root, "JPEGImages", "Annotations", null, """
            run:
              steps: 1000
              checkpoint_every: 1000
            """);
        string output = Path.Combine(data.Root, "out"), log = Path.Combine(output, "train_log.jsonl");
        int Lines() { try { return File.ReadAllLines(log).Count(l => l.Length > 0); } catch (IOException) { return 0; } }
        var (signalled, code, stderr) = Interrupt(["train", "-c", yaml, "-q"], _ => Lines() >= 1);
        Assert.True(signalled, "the run ended before its first step was logged, so nothing was interrupted");
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.Cancelled, code);
        int done = Lines();
        Assert.InRange(done, 1, 999);
        Assert.Equal($"error: cancelled; {Path.Combine(output, "checkpoint.pt")} holds step {done} of 1000; continue with --resume", stderr.TrimEnd('\n'));
        Assert.DoesNotContain(Directory.GetFiles(output), f => f.EndsWith(".tmp"));
        var cfg = Sam2Sharp.Training.TrainRunConfig.Load(yaml);
        using var resumed = new Sam2Sharp.Training.Sam2Trainer(cfg, Sam2Sharp.Cli.Commands.TrainCommand.OpenVosDataset(cfg, 256), resume: true);
        Assert.Equal(done, resumed.Step);
    }
}
