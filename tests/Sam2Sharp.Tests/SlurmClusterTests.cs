using System.Diagnostics;
using Sam2Sharp.Batch;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary>
/// A fact that needs a real Slurm: skipped, with the reason in the test output, only where one cannot be started here
/// (not root, or the Debian packages slurm-wlm and munge missing: scripts/setup.sh installs them).
/// </summary>
public sealed class SlurmFactAttribute : FactAttribute
{
    public SlurmFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "Slurm test: Linux only";
        else if (!Environment.IsPrivilegedProcess) Skip = "Slurm test: needs root to start munged, slurmctld and slurmd (scripts/slurm-local.sh)";
        else if (new[] { "munged", "slurmctld", "slurmd", "sbatch", "squeue" }.FirstOrDefault(b => !OnPath(b)) is { } missing)
            Skip = $"Slurm test: {missing} not found; install slurm-wlm and munge (scripts/setup.sh)";
    }

    static bool OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/sbin").Any(d => File.Exists(Path.Combine(d, name)));
}

/// <summary>
/// <c>sam2 cluster slurm</c> on a real single-node Slurm (scripts/slurm-local.sh): a 2-task array of <c>sam2 vos</c> over
/// the golden videos with the golden micro model; the tasks' masks together must be byte-equal to one unsharded run.
/// </summary>
public sealed class SlurmClusterTests : IDisposable
{
    readonly string _dir = TestCli.TempDir("sam2-slurm-");
    static string Folder => Golden.Folders().First(f => Directory.Exists(Path.Combine(f, "vos")));
    static string Script => Path.Combine(Golden.RepoRoot, "scripts", "slurm-local.sh");
    static readonly string SlurmConf = "/tmp/sam2-slurm/slurm.conf";

    public void Dispose() => Directory.Delete(_dir, true);

    static (int Code, string Out, string Err) Exec(string file, IEnumerable<string> args, TimeSpan timeout, params (string Name, string Value)[] env)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["SLURM_CONF"] = SlurmConf;
        foreach (var (name, value) in env) psi.Environment[name] = value;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout)) { p.Kill(true); return (-1, stdout.Result, stderr.Result + $"\n(killed after {timeout.TotalSeconds} s)"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    string[] VosArgs(string output)
    {
        var vos = Path.Combine(Folder, "vos");
        return ["vos", "--checkpoint", Path.Combine(Folder, "model.pt"), "--config", Path.Combine(Folder, "config.yaml"),
            "--base-video-dir", Path.Combine(vos, "JPEGImages"), "--input-mask-dir", Path.Combine(vos, "Annotations"),
            "--output-mask-dir", output, "-q"];
    }

    static SortedDictionary<string, byte[]> Masks(string root) => new(
        Directory.EnumerateFiles(root, "*.png", SearchOption.AllDirectories)
            .Where(f => !Path.GetRelativePath(root, f).StartsWith(TaskReport.FolderName, StringComparison.Ordinal))
            .ToDictionary(f => Path.GetRelativePath(root, f), File.ReadAllBytes), StringComparer.Ordinal);

    [SlurmFact]
    public void ArrayOfTwoVosTasksEqualsOneUnshardedRun()
    {
        bool startedHere = Exec("bash", [Script, "status"], TimeSpan.FromSeconds(30)).Code != 0;
        if (startedHere)
        {
            var (code, o, e) = Exec("bash", [Script, "start"], TimeSpan.FromSeconds(150));
            Assert.True(code == 0, $"Slurm did not start (scripts/slurm-local.sh start, exit {code}): {o}{e}");
        }
        try
        {
            string sharded = Path.Combine(_dir, "sharded out"), whole = Path.Combine(_dir, "whole");
            string cli = Path.Combine(AppContext.BaseDirectory, "sam2.dll");
            var (code, stdout, stderr) = Exec("dotnet", [cli, "cluster", "slurm", "--array", "2", "--cpus-per-task", "1", "--time", "00:10:00",
                "--job-name", "sam2-ci", "--", .. VosArgs(sharded)], TimeSpan.FromMinutes(2));
            Assert.True(code == 0, $"sam2 cluster slurm failed (exit {code}): {stderr}");
            string job = stdout.Trim().Split('\n')[^1];
            Assert.Matches("^[0-9]+$", job);

            // Wait for the array to leave the queue (bounded), then read what the tasks wrote.
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
            while (Exec("squeue", ["-h", "-j", job, "-o", "%i %T"], TimeSpan.FromSeconds(30)).Out.Trim().Length > 0)
            {
                if (DateTime.UtcNow > deadline)
                {
                    Exec("scancel", [job], TimeSpan.FromSeconds(30));
                    Assert.Fail($"job {job} did not finish in 5 min; logs: {Logs(sharded)}");
                }
                Thread.Sleep(2000);
            }
            var (statusCode, status, statusErr) = ClusterSubmissionTests.Run("status", sharded);
            Assert.True(statusCode == 0, $"cluster status: {status}{statusErr}; logs: {Logs(sharded)}");
            Assert.Contains("2 of 2 tasks reported; items done 2, skipped 0, failed 0; complete", status);
            var reports = TaskReport.ReadAll(sharded).Select(r => r.Report).ToList();
            Assert.Equal([new Shard(0, 2), new Shard(1, 2)], reports.Select(r => r.Shard));
            Assert.All(reports, r => Assert.Single(r.Items));
            var (mergeCode, merged, mergeErr) = ClusterSubmissionTests.Run("merge", sharded);
            Assert.True(mergeCode == 0, mergeErr);
            Assert.Contains("vos: all 2 items complete", merged);

            // The unsharded run in a process of its own with the tasks' one thread (the script sets OMP_NUM_THREADS from
            // --cpus-per-task): libtorch's float sums depend on the thread count, sharding must not change anything else.
            var (wholeCode, _, wholeErr) = Exec("dotnet", [cli, .. VosArgs(whole)], TimeSpan.FromMinutes(5), ("OMP_NUM_THREADS", "1"));
            Assert.True(wholeCode == 0, wholeErr);
            var (a, b) = (Masks(whole), Masks(sharded));
            Assert.NotEmpty(a);
            Assert.Equal(a.Keys, b.Keys);
            foreach (var k in a.Keys) Assert.True(a[k].AsSpan().SequenceEqual(b[k]), $"{k}: the Slurm tasks' mask differs from the unsharded run's");
        }
        finally
        {
            if (startedHere) Exec("bash", [Script, "stop"], TimeSpan.FromSeconds(60));
        }
    }

    static string Logs(string root)
    {
        var folder = Path.Combine(TaskReport.FolderIn(root), "logs");
        return Directory.Exists(folder)
            ? string.Join(" | ", Directory.GetFiles(folder).Order().Select(f => $"{Path.GetFileName(f)}: {File.ReadAllText(f).Trim()}"))
            : "(no log folder)";
    }
}
