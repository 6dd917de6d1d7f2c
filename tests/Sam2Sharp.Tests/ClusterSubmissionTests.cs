using System.Diagnostics;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Cluster;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary><c>sam2 cluster slurm</c>: the sbatch script (directives, quoting, refused commands), the model resolved at submission.</summary>
public sealed class ClusterSubmissionTests : IDisposable
{
    readonly string _dir = TestCli.TempDir("sam2-cluster-");

    public void Dispose() => Directory.Delete(_dir, true);

    static SlurmJobOptions Options(int tasks = 2) => new() { Tasks = tasks, LogFolder = "/shared/logs", WorkingDirectory = "/shared/work" };

    /// <summary>Runs the cluster command in-process and returns its exit code, standard output and standard error.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (out_, oldOut) = (new StringWriter(), Console.Out);
        Console.SetOut(out_);
        try
        {
            var (code, err) = TestCli.RunCapturingErrors(ClusterCommand.Create(), ["cluster", .. args]);
            return (code, out_.ToString(), err);
        }
        finally { Console.SetOut(oldOut); }
    }

    /// <summary>The words bash reads from the script's srun line.</summary>
    static string[] SrunWords(string script)
    {
        string line = script.Split('\n').Single(l => l.StartsWith("srun ", StringComparison.Ordinal));
        var psi = new ProcessStartInfo("bash", ["-c", "printf '%s\\0' " + line["srun ".Length..]]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        string words = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return words.TrimEnd('\0').Split('\0');
    }

    [Fact]
    public void ArgumentsWithSpacesAndQuotesReachTheTaskUnchanged()
    {
        string[] words = ["vos", "--base-video-dir", "/data/my videos/it's \"here\"", "--input-mask-dir", "a$b`c`\\d",
            "--output-mask-dir", "/out/with space", "--video-list-file", "*.txt", "--score-thresh", "-0.5"];
        var line = BatchCommandLine.Parse(words);
        string script = SlurmJob.Render(["/opt/sam2 dir/sam2"], line, Options());
        Assert.Equal(new[] { "/opt/sam2 dir/sam2" }.Concat(words), SrunWords(script));
        Assert.Equal("/out/with space", line.OutputRoot);
        Assert.Contains("#SBATCH --output=/shared/logs/%x-%A_%a.out\n", script);
    }

    [Fact]
    public void DirectivesCarryArrayAndResources()
    {
        var line = BatchCommandLine.Parse(["vos", "--output-mask-dir", "/out"]);
        string script = SlurmJob.Render(["sam2"], line, Options(4) with
        {
            MaxConcurrent = 2, CpusPerTask = 8, GpusPerTask = 1, Memory = "16G", Time = "1-02:00:00", Partition = "gpu", JobName = "davis",
            LogFolder = "/shared/my logs",
        });
        var directives = script.Split('\n').Where(l => l.StartsWith("#SBATCH ", StringComparison.Ordinal)).ToList();
        Assert.Equal(new[]
        {
            "#SBATCH --job-name=davis", "#SBATCH --array=0-3%2", "#SBATCH --ntasks=1", "#SBATCH --cpus-per-task=8",
            "#SBATCH --gpus-per-task=1", "#SBATCH --mem=16G", "#SBATCH --time=1-02:00:00", "#SBATCH --partition=gpu",
            "#SBATCH --chdir=/shared/work", "#SBATCH --output=\"/shared/my logs/%x-%A_%a.out\"", "#SBATCH --requeue",
        }, directives);
        // No --shard: each task is shard SLURM_ARRAY_TASK_ID of the exported count (also when resubmitted alone).
        Assert.DoesNotContain("--shard", script);
        Assert.Contains("\nexport SAM2_SHARD_COUNT=4\n", script);
        Assert.StartsWith("#!/bin/bash\n", script);

        var plain = SlurmJob.Render(["sam2"], line, Options(1));
        Assert.Contains("#SBATCH --array=0-0\n", plain);
        Assert.DoesNotContain("--mem", plain);
        Assert.DoesNotContain("--gpus", plain);
    }

    [Theory]
    [InlineData("--mem", "lots", "--mem 'lots'")]
    [InlineData("--time", "2h", "--time '2h'")]
    [InlineData("--array", "0", "--array 0")]
    [InlineData("--partition", "a b", "--partition 'a b'")]
    [InlineData("--output-log", "/tmp/\"x\"", "cannot go in an #SBATCH line")]
    public void BadResourcesAreOneLineErrors(string option, string value, string expected)
    {
        var (code, _, err) = Run("slurm", "--dry-run", option, value, "--", "vos", "--output-mask-dir", Path.Combine(_dir, "out"));
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains(expected, err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Theory]
    [InlineData("video --input x", "'video' is not a batch command")]
    [InlineData("train -c run.yaml", "'train' is not a batch command")]
    [InlineData("vos --shard 0/2 --output-mask-dir o", "--shard in the batch command")]
    [InlineData("vos --shard=0/2 --output-mask-dir o", "--shard in the batch command")]
    [InlineData("vos --base-video-dir v", "has no --output-mask-dir")]
    [InlineData("amg --image x.jpg --output-dir masks", "is the single-image form")]
    [InlineData("image --image x.jpg --point 1,1 --output m.png", "is the single-image form")]
    [InlineData("amg --input-dir photos --output-json a.json", "has no --output-dir")]
    public void CommandsThatCannotBeShardedAreRefused(string command, string expected)
    {
        var (code, _, err) = Run(["slurm", "--dry-run", "--", .. command.Split(' ')]);
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains(expected, err);
    }

    [Fact]
    public void ModelByNameIsFetchedOnceAtSubmissionAndTasksGetTheCachedFile()
    {
        using var server = new LoopbackFileServer();
        string registry = ModelHubTests.ServeMicro(server, _dir);
        string cache = Path.Combine(_dir, "cache"), output = Path.Combine(_dir, "out");
        string? old = Environment.GetEnvironmentVariable("SAM2_HOME");
        Environment.SetEnvironmentVariable("SAM2_HOME", cache);
        try
        {
            var (code, script, err) = Run("slurm", "--dry-run", "--array", "3", "--", "vos", "--model", "micro", "--models", registry,
                "--base-video-dir", "v", "--input-mask-dir", "m", "--output-mask-dir", output);
            Assert.True(code == 0, err);
            Assert.True(File.Exists(Path.Combine(cache, "micro.pt")), "the model was not downloaded at submission");
            var words = SrunWords(script);
            Assert.DoesNotContain("--model", words);
            int i = Array.IndexOf(words, "--checkpoint");
            Assert.Equal(Path.Combine(cache, "micro.pt"), words[i + 1]);
            Assert.Equal(Path.Combine(ModelHubTests.MicroFolder, "config.yaml"), words[Array.IndexOf(words, "--config") + 1]);
            // The task runs this very program (the test host runs it as a library, so dotnet and the dll, or its apphost).
            Assert.True(File.Exists(words[0]), words[0]);
            Assert.False(Directory.Exists(output), "a dry run wrote something");
        }
        finally { Environment.SetEnvironmentVariable("SAM2_HOME", old); }
    }

    [Fact]
    public void AnotherSubmissionScriptIsNotOverwrittenSilently()
    {
        string output = Path.Combine(_dir, "out"), path = SlurmJob.ScriptPath(output);
        var line = BatchCommandLine.Parse(["vos", "--output-mask-dir", output]);
        var options = Options() with { LogFolder = Path.Combine(_dir, "logs") };
        Assert.Equal(path, SlurmJob.Write(output, options, SlurmJob.Render(["sam2"], line, options), replace: false));
        Assert.True(Directory.Exists(options.LogFolder));
        // The same script again (a resubmission) is fine; another one is refused, then replaced when asked.
        SlurmJob.Write(output, options, SlurmJob.Render(["sam2"], line, options), replace: false);
        var other = SlurmJob.Render(["sam2"], line, options with { Tasks = 5 });
        var e = Assert.Throws<Sam2Exception>(() => SlurmJob.Write(output, options, other, replace: false));
        Assert.Contains("exists with other content", e.Message);
        Assert.Contains("--array=0-1", File.ReadAllText(path));
        SlurmJob.Write(output, options, other, replace: true);
        Assert.Contains("--array=0-4", File.ReadAllText(path));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.partial-*"));
    }

    [Fact]
    public void AFolderOfSomeoneElsesFilesIsNotMadeABatchRoot()
    {
        string output = Path.Combine(_dir, "mine");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "notes.txt"), "keep");
        var (code, _, err) = Run("slurm", "--sam2", "/bin/true", "--", "vos", "--output-mask-dir", output);
        Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
        Assert.Contains("has files and was not written by a batch run", err);
        Assert.Equal(["notes.txt"], Directory.EnumerateFileSystemEntries(output).Select(Path.GetFileName));
    }

    [Fact]
    public void SubmittingWithoutSlurmSaysSo()
    {
        string output = Path.Combine(_dir, "out");
        string? path = Environment.GetEnvironmentVariable("PATH");
        Environment.SetEnvironmentVariable("PATH", _dir); // no sbatch here
        try
        {
            var (code, _, err) = Run("slurm", "--sam2", "/bin/true", "--", "vos", "--output-mask-dir", output);
            Assert.Equal(Sam2Sharp.Cli.Commands.Cli.UserError, code);
            Assert.Contains("sbatch not found", err);
        }
        finally { Environment.SetEnvironmentVariable("PATH", path); }
    }
}
