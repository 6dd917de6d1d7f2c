using System.CommandLine;
using Sam2Sharp.Batch;

namespace Sam2Sharp.Cli.Commands;

/// <summary>The <c>--shard</c> option every batch command shares, and how a task's report is shown.</summary>
public sealed class BatchOptions
{
    readonly Option<string?> shard = new("--shard")
    {
        Description = "Run only shard K of N (0-based, e.g. 0/4) of the sorted items; default: the Slurm array task " +
            "(SLURM_ARRAY_TASK_ID/COUNT/MIN) or Kubernetes Indexed Job (JOB_COMPLETION_INDEX with SAM2_SHARD_COUNT) when set, else all",
    };

    /// <summary>Adds the option to <paramref name="cmd"/>.</summary>
    public void AddTo(Command cmd) => cmd.Options.Add(shard);

    /// <summary>The shard to run: the option, else the job engine's environment, else the whole batch.</summary>
    public Shard Resolve(ParseResult r) => Requested(r) ?? Shard.All;

    /// <summary>The shard asked for by the option or the environment, null when neither gives one (an unsharded run).</summary>
    public Shard? Requested(ParseResult r) => r.GetValue(shard) is { } s ? Shard.Parse(s) : Shard.FromEnvironment();

    /// <summary>Prints the outcome (failed items by name, always) and returns the exit code: 0 iff no item failed.</summary>
    public static int Finish(TaskReport report, string unit, string outputRoot, bool quiet)
    {
        foreach (var f in report.Items.Where(i => i.Status == ItemStatus.Failed))
            Console.Error.WriteLine($"error: {f.Name}: {Cli.ToFlags(f.Error ?? "failed")}");
        if (!quiet || !report.Succeeded)
            Console.WriteLine($"Shard {report.Shard}: {report.Done} {unit} done, {report.Skipped} already complete, {report.Failed} failed; " +
                $"report {TaskReport.PathFor(outputRoot, report.Shard)}");
        return report.Succeeded ? 0 : Cli.UserError;
    }
}
