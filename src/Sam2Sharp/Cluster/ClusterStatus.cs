using System.Text;
using Sam2Sharp.Batch;
using Sam2Sharp.Evaluation;

namespace Sam2Sharp.Cluster;

/// <summary>One task of an array job as its report tells it; <see cref="Report"/> is null when it has none yet.</summary>
/// <param name="Index">The task's shard index.</param>
/// <param name="Report">Its report, or null (not started, still running, or killed before it ended).</param>
public sealed record TaskState(int Index, TaskReport? Report);

/// <summary>
/// The state of a batch split over <see cref="Count"/> tasks, read from the task reports under its output root:
/// what each task did, the items that failed and the tasks that have not reported.
/// </summary>
/// <param name="OutputRoot">The batch's output root.</param>
/// <param name="Count">The number of tasks.</param>
/// <param name="Tasks">Every task 0 … Count−1.</param>
public sealed record ClusterStatus(string OutputRoot, int Count, IReadOnlyList<TaskState> Tasks)
{
    /// <summary>Tasks with no report.</summary>
    public IReadOnlyList<int> Missing => Tasks.Where(t => t.Report is null).Select(t => t.Index).ToList();

    /// <summary>Every failed item, with its task.</summary>
    public IReadOnlyList<(int Task, ItemResult Item)> FailedItems =>
        Tasks.Where(t => t.Report is not null)
            .SelectMany(t => t.Report!.Items.Where(i => i.Status == ItemStatus.Failed).Select(i => (t.Index, i))).ToList();

    /// <summary>Whether every task reported and no item failed.</summary>
    public bool Complete => Missing.Count == 0 && FailedItems.Count == 0;

    /// <summary>
    /// Reads the reports under <paramref name="outputRoot"/> (for a sharded evaluation, the prediction root or its
    /// <see cref="VosScoreFiles.FolderIn"/>; a root holding both a vos batch and an evaluation is the vos batch). The number of tasks is <paramref name="tasks"/> when given,
    /// else that of the most recent report (reports of an earlier split into another number of tasks are ignored).
    /// </summary>
    /// <exception cref="Sam2Exception">no reports and no <paramref name="tasks"/>, or a report is unreadable.</exception>
    public static ClusterStatus Read(string outputRoot, int? tasks = null)
    {
        if (!Directory.Exists(outputRoot)) throw new Sam2Exception($"output root {outputRoot}: folder not found");
        // A prediction root given for a sharded evaluation: its batch is the score folder.
        string scores = VosScoreFiles.FolderIn(outputRoot);
        if (!Directory.Exists(TaskReport.FolderIn(outputRoot)) && Directory.Exists(TaskReport.FolderIn(scores))) outputRoot = scores;
        var reports = TaskReport.ReadAll(outputRoot).Select(r => r.Report).ToList();
        int count = tasks ?? SlurmJob.ArrayTasks(outputRoot) ?? (reports.Count > 0 ? reports.MaxBy(r => r.Finished)!.Shard.Count
            : throw new Sam2Exception($"{TaskReport.FolderIn(outputRoot)}: no task reports yet (give --tasks N to list the tasks as missing)"));
        if (count < 1) throw new Sam2Exception($"--tasks {count}: at least 1");
        var byIndex = reports.Where(r => r.Shard.Count == count).ToDictionary(r => r.Shard.Index);
        return new ClusterStatus(outputRoot, count,
            Enumerable.Range(0, count).Select(i => new TaskState(i, byIndex.GetValueOrDefault(i))).ToList());
    }

    /// <summary>One line per task, one per failed item, then a summary line.</summary>
    public string ToText()
    {
        var s = new StringBuilder();
        foreach (var t in Tasks)
        {
            if (t.Report is not { } r) { s.Append($"task {t.Index}/{Count}: missing (no report: not started, running, or killed)\n"); continue; }
            s.Append($"task {t.Index}/{Count}: {r.Command} on {r.Host}, {r.Items.Count} items: done {r.Done}, skipped {r.Skipped}, failed {r.Failed}, {(r.Finished - r.Started).TotalSeconds:F1} s\n");
            foreach (var i in r.Items.Where(i => i.Status == ItemStatus.Failed))
                s.Append($"  failed {i.Name}: {i.Error}\n");
        }
        var reported = Tasks.Where(t => t.Report is not null).Select(t => t.Report!).ToList();
        s.Append($"{reported.Count} of {Count} tasks reported; items done {reported.Sum(r => r.Done)}, skipped {reported.Sum(r => r.Skipped)}, failed {reported.Sum(r => r.Failed)}");
        if (Missing.Count > 0) s.Append($"; missing tasks {string.Join(", ", Missing)}");
        s.Append(Complete ? "; complete\n" : "; not complete\n");
        return s.ToString();
    }
}
