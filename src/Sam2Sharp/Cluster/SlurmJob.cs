using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Sam2Sharp.Batch;

namespace Sam2Sharp.Cluster;

/// <summary>The resources and names of a Slurm array job (the <c>#SBATCH</c> directives of <see cref="SlurmJob"/>).</summary>
public sealed record SlurmJobOptions
{
    /// <summary>Array tasks (shards): the array is 0 … Tasks−1.</summary>
    public int Tasks { get; init; } = 1;
    /// <summary>At most this many tasks at once (the array's <c>%</c> throttle); null for no limit.</summary>
    public int? MaxConcurrent { get; init; }
    /// <summary>CPUs per task (also the task's OMP_NUM_THREADS).</summary>
    public int CpusPerTask { get; init; } = 1;
    /// <summary>GPUs per task; null for none.</summary>
    public int? GpusPerTask { get; init; }
    /// <summary>Memory per node, in Slurm's form (<c>8G</c>, <c>16000M</c>); null for the partition's default.</summary>
    public string? Memory { get; init; }
    /// <summary>Time limit per task (<c>02:00:00</c>, <c>1-00:00:00</c>); null for the partition's default.</summary>
    public string? Time { get; init; }
    /// <summary>Partition; null for the default one.</summary>
    public string? Partition { get; init; }
    /// <summary>The job's name.</summary>
    public string JobName { get; init; } = "sam2";
    /// <summary>The folder the tasks' logs go to (<c>NAME-JOB_TASK.out</c>).</summary>
    public required string LogFolder { get; init; }
    /// <summary>The folder the tasks run in (relative paths of the command are relative to it).</summary>
    public required string WorkingDirectory { get; init; }
}

/// <summary>
/// An <c>sbatch</c> array script that runs one batch command over shards: task K of N runs <c>srun sam2 COMMAND …</c>
/// and takes its shard from <c>SLURM_ARRAY_TASK_ID</c>/<c>SLURM_ARRAY_TASK_COUNT</c>. Tasks may be requeued: a re-run
/// skips the items already complete.
/// </summary>
public static partial class SlurmJob
{
    /// <summary>The script's text.</summary>
    /// <param name="executable">The words that start sam2 in a task (its path, or <c>dotnet</c> and the dll).</param>
    /// <param name="batch">The batch command.</param>
    /// <param name="options">Resources and names.</param>
    /// <exception cref="Sam2Exception">an option is out of range or not of Slurm's form.</exception>
    public static string Render(IReadOnlyList<string> executable, BatchCommandLine batch, SlurmJobOptions options)
    {
        Check(options);
        var s = new StringBuilder();
        s.Append("#!/bin/bash\n");
        Directive(s, "job-name", options.JobName);
        Directive(s, "array", $"0-{options.Tasks - 1}" + (options.MaxConcurrent is { } m ? $"%{m}" : ""));
        Directive(s, "ntasks", "1");
        Directive(s, "cpus-per-task", options.CpusPerTask.ToString());
        if (options.GpusPerTask is { } g) Directive(s, "gpus-per-task", g.ToString());
        if (options.Memory is { } mem) Directive(s, "mem", mem);
        if (options.Time is { } t) Directive(s, "time", t);
        if (options.Partition is { } p) Directive(s, "partition", p);
        Directive(s, "chdir", options.WorkingDirectory);
        Directive(s, "output", Path.Combine(options.LogFolder, "%x-%A_%a.out"));
        // A preempted task goes back to the queue; its complete items are skipped when it runs again.
        s.Append("#SBATCH --requeue\n");
        s.Append($"# Written by sam2 cluster slurm for {batch.OutputRoot}. Each task is shard SLURM_ARRAY_TASK_ID of SAM2_SHARD_COUNT\n");
        s.Append("# (so one task resubmitted alone with sbatch --array=K keeps its shard) and writes its report to .sam2-tasks/\n");
        s.Append("# there; `sam2 cluster status` reads them.\n");
        s.Append("set -euo pipefail\n");
        s.Append($"export SAM2_SHARD_COUNT={options.Tasks}\n");
        s.Append("export OMP_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
        s.Append("srun ").AppendJoin(' ', executable.Concat(batch.Words).Select(ShellQuote)).Append('\n');
        return s.ToString();
    }

    /// <summary>One word for a POSIX shell: as it is when it has no special character, else in single quotes.</summary>
    public static string ShellQuote(string word) =>
        word.Length > 0 && PlainWord().IsMatch(word) ? word : "'" + word.Replace("'", "'\\''") + "'";

    /// <summary>The script's place: <c>OUTPUT/.sam2-tasks/submit.sbatch</c>, beside the task reports.</summary>
    public static string ScriptPath(string outputRoot) => Path.Combine(TaskReport.FolderIn(outputRoot), "submit.sbatch");

    /// <summary>The number of tasks of the script submitted for <paramref name="outputRoot"/>; null without one.</summary>
    public static int? ArrayTasks(string outputRoot)
    {
        string path = ScriptPath(outputRoot);
        if (!File.Exists(path)) return null;
        foreach (var line in File.ReadLines(path))
            if (ArrayDirective().Match(line) is { Success: true } m) return int.Parse(m.Groups[1].Value) + 1;
        return null;
    }

    /// <summary>Writes the script to <see cref="ScriptPath"/> and makes the log folder (Slurm does not make it).</summary>
    /// <exception cref="Sam2Exception">a different script is there and <paramref name="replace"/> is false.</exception>
    public static string Write(string outputRoot, SlurmJobOptions options, string script, bool replace)
    {
        // A .sam2-tasks folder makes the root a batch's, whose unmarked outputs the tasks treat as leftovers to redo:
        // it is never added to a folder that already holds someone's files.
        if (!Directory.Exists(TaskReport.FolderIn(outputRoot)) && Directory.Exists(outputRoot) && Directory.EnumerateFileSystemEntries(outputRoot).Any())
            throw new Sam2Exception($"output folder {outputRoot} has files and was not written by a batch run (no {TaskReport.FolderName}); give a new or empty output folder");
        string path = ScriptPath(outputRoot);
        SubmissionFile.Write(path, script, replace);
        Directory.CreateDirectory(options.LogFolder);
        return path;
    }

    /// <summary>Submits <paramref name="scriptPath"/> with <c>sbatch --parsable</c> and returns the job id.</summary>
    /// <exception cref="Sam2Exception">sbatch is missing or refused the script (its message, one line).</exception>
    public static string Submit(string scriptPath, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo("sbatch", ["--parsable", scriptPath])
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        Process process;
        try { process = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new Sam2Exception("sbatch not found: run this on a Slurm login node, or use --dry-run to print the script");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(2)))
            {
                process.Kill();
                throw new Sam2Exception($"sbatch {scriptPath}: no answer within {(timeout ?? TimeSpan.FromMinutes(2)).TotalSeconds:F0} s");
            }
            string err = stderr.Result.Trim(), id = stdout.Result.Trim().Split(';')[0];
            if (process.ExitCode != 0 || id.Length == 0)
                throw new Sam2Exception($"sbatch {scriptPath} failed (exit {process.ExitCode}): {err.Split('\n')[0]}");
            return id;
        }
    }

    static void Check(SlurmJobOptions o)
    {
        if (o.Tasks < 1) throw new Sam2Exception($"--array {o.Tasks}: at least 1 task");
        if (o.MaxConcurrent is < 1) throw new Sam2Exception($"--max-concurrent {o.MaxConcurrent}: at least 1");
        if (o.CpusPerTask < 1) throw new Sam2Exception($"--cpus-per-task {o.CpusPerTask}: at least 1");
        if (o.GpusPerTask is < 0) throw new Sam2Exception($"--gpus-per-task {o.GpusPerTask}: not negative");
        if (o.Memory is { } m && !MemoryForm().IsMatch(m)) throw new Sam2Exception($"--mem '{m}': expected a size such as 8G, 16000M or 1T");
        if (o.Time is { } t && !TimeForm().IsMatch(t)) throw new Sam2Exception($"--time '{t}': expected MM, HH:MM:SS or D-HH:MM:SS");
        if (o.Partition is { } p && !NameForm().IsMatch(p)) throw new Sam2Exception($"--partition '{p}': letters, digits, '-', '_' and ',' only");
        if (!NameForm().IsMatch(o.JobName)) throw new Sam2Exception($"--job-name '{o.JobName}': letters, digits, '-', '_' and '.' only");
    }

    // sbatch reads a directive's value up to white space unless it is in double quotes; a path with a double quote or
    // a line break cannot be written at all, so it is refused rather than mangled.
    static void Directive(StringBuilder s, string name, string value)
    {
        if (value.IndexOfAny(['"', '\n', '\r', '\\']) >= 0)
            throw new Sam2Exception($"--{name} '{value}': a double quote, backslash or line break cannot go in an #SBATCH line");
        s.Append($"#SBATCH --{name}=").Append(value.Contains(' ') || value.Contains('\t') ? $"\"{value}\"" : value).Append('\n');
    }

    [GeneratedRegex(@"^[A-Za-z0-9_./:=@%+,-]+$")] private static partial Regex PlainWord();
    [GeneratedRegex(@"^#SBATCH --array=0-([0-9]+)(%[0-9]+)?$")] private static partial Regex ArrayDirective();
    [GeneratedRegex(@"^[0-9]+[KMGT]?$")] private static partial Regex MemoryForm();
    [GeneratedRegex(@"^([0-9]+-)?[0-9]+(:[0-9]{2}){0,2}$")] private static partial Regex TimeForm();
    [GeneratedRegex(@"^[A-Za-z0-9_.,-]+$")] private static partial Regex NameForm();
}
