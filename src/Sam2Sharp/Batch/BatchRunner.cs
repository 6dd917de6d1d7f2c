using System.Diagnostics;
using System.Text.Json;
using Sam2Sharp.IO;

namespace Sam2Sharp.Batch;

/// <summary>
/// Runs one shard of a batch so that it can be killed and simply run again. Each item's outputs are written through
/// <see cref="StagedOutputs"/> (hidden temporary names, renamed into place together), then its completion marker
/// <c>&lt;root&gt;/.sam2-tasks/done/&lt;item&gt;.json</c> is written; an item counts as complete only when its marker
/// exists and names outputs that all exist. A re-run skips complete items and redoes the others, first removing what a
/// killed run left of them. A failing item (<see cref="Sam2Exception"/> or an I/O error) is recorded with its one-line
/// reason and the task goes on; the <see cref="TaskReport"/> is written when the task ends, however it ends.
/// </summary>
public sealed class BatchRunner
{
    /// <summary>The folder under <see cref="TaskReport.FolderName"/> that holds the completion markers.</summary>
    public const string MarkerFolderName = "done";

    readonly Func<string, IReadOnlyList<OutputTarget>> outputsOf;
    readonly Func<string, string?>? sourceOf;
    readonly bool batchRoot;

    /// <summary>The batch command, for the report (<c>vos</c>, <c>image</c>, <c>amg</c>, <c>eval</c>).</summary>
    public string Command { get; }
    /// <summary>The folder that holds every item's outputs and the task reports.</summary>
    public string OutputRoot { get; }
    /// <summary>This task's shard.</summary>
    public Shard Shard { get; }
    /// <summary>The items of this shard, in sorted order.</summary>
    public IReadOnlyList<string> Items { get; }

    BatchRunner(string command, string outputRoot, Shard shard, IReadOnlyList<string> items,
        Func<string, IReadOnlyList<OutputTarget>> outputsOf, Func<string, string?>? sourceOf, bool batchRoot)
    {
        Command = command; OutputRoot = outputRoot; Shard = shard; Items = items;
        this.outputsOf = outputsOf; this.sourceOf = sourceOf; this.batchRoot = batchRoot;
    }

    /// <summary>
    /// Prepares the shard of <paramref name="allItems"/>: creates the output root and its <c>.sam2-tasks</c> folder. A root
    /// that is not yet a batch's (no <c>.sam2-tasks</c>) must not hold any output of this shard's items: those are the
    /// user's files, never replaced. In a batch's root, an item's outputs without a marker are a killed run's leftovers.
    /// </summary>
    /// <param name="command">The batch command, for the report.</param>
    /// <param name="outputRoot">The folder of every item's outputs, made if missing.</param>
    /// <param name="shard">This task's shard.</param>
    /// <param name="allItems">Every item of the batch (names of files or folders); the shard's are chosen from them.</param>
    /// <param name="outputsOf">The outputs of an item (paths under <paramref name="outputRoot"/>).</param>
    /// <param name="sourceOf">The input file of an item, recorded in the report (<see cref="ItemResult.Source"/>); null for none.</param>
    /// <exception cref="Sam2Exception">an item name is not a plain file name, or an output already exists outside a batch root.</exception>
    public static BatchRunner Open(string command, string outputRoot, Shard shard, IEnumerable<string> allItems,
        Func<string, IReadOnlyList<OutputTarget>> outputsOf, Func<string, string?>? sourceOf = null)
    {
        outputRoot = Path.GetFullPath(outputRoot);
        var items = shard.Select(allItems);
        foreach (var item in items)
            if (item.Length == 0 || item[0] == '.' || item.IndexOfAny(['/', '\\', '\0']) >= 0)
                throw new Sam2Exception($"batch item '{item}': the name must be a file or folder name not starting with '.'");
        var rootKind = FileKind.Of(outputRoot);
        if (rootKind is not (FileKindType.Missing or FileKindType.Directory))
            throw new Sam2Exception($"output folder {outputRoot} is {FileKind.Describe(rootKind)}, not a folder");
        string tasks = TaskReport.FolderIn(outputRoot);
        bool batchRoot = Directory.Exists(tasks);
        if (!batchRoot)
            foreach (var item in items)
                foreach (var t in outputsOf(item))
                    if (FileKind.Of(t.Path) is not FileKindType.Missing)
                        throw new Sam2Exception($"{t.Label} {t.Path} exists and was not written by a batch run (no {TaskReport.FolderName} in {outputRoot}); give a new or empty output folder");
        Directory.CreateDirectory(Path.Combine(tasks, MarkerFolderName));
        return new BatchRunner(command, outputRoot, shard, items, outputsOf, sourceOf, batchRoot);
    }

    /// <summary>The items of this shard that are not complete yet (nothing to compute when empty).</summary>
    public IReadOnlyList<string> Pending => Items.Where(i => !IsComplete(i)).ToList();

    /// <summary>The completion marker of <paramref name="item"/>.</summary>
    public string MarkerPath(string item) => Path.Combine(TaskReport.FolderIn(OutputRoot), MarkerFolderName, item + ".json");

    sealed record Marker(string Item, IReadOnlyList<string> Outputs, double Seconds, DateTimeOffset Finished);

    /// <summary>Whether the item's marker exists and every output it names is present.</summary>
    public bool IsComplete(string item)
    {
        string path = MarkerPath(item);
        if (FileKind.Of(path) is not FileKindType.Regular) return false;
        try
        {
            var m = JsonSerializer.Deserialize<Marker>(File.ReadAllBytes(path));
            return m is not null && m.Item == item && m.Outputs.All(o => FileKind.Of(Path.Combine(OutputRoot, o)) is not FileKindType.Missing);
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>
    /// Runs every item of the shard in order: skipped when complete, else computed by <paramref name="compute"/>, which
    /// writes each output given by <c>outputsOf</c> to the temporary path <see cref="StagedOutputs.File"/> or
    /// <see cref="StagedOutputs.Folder"/> gives for it. <paramref name="progress"/> hears each item as it starts and ends.
    /// </summary>
    /// <returns>The task report, also written to <see cref="TaskReport.PathFor"/>.</returns>
    /// <exception cref="OperationCanceledException">cancelled: the report is written first, the unfinished items failed.</exception>
    public TaskReport Run(Action<string, StagedOutputs, CancellationToken> compute, string unit = "items",
        IProgress<Sam2Progress>? progress = null, CancellationToken cancellationToken = default)
    {
        var started = DateTimeOffset.Now;
        var results = new List<ItemResult>();
        try
        {
            for (int i = 0; i < Items.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var at = new Sam2Progress(i, Items.Count, unit) { Item = Items[i] };
                progress?.Report(at);
                results.Add(RunItem(Items[i], compute, cancellationToken));
                if (results[^1].Error is { } error) progress?.Report(at with { Message = $"{Items[i]} failed: {error}" });
                progress?.Report(at with { Done = i + 1 });
            }
        }
        catch (Exception e)
        {
            string why = e is OperationCanceledException ? "cancelled" : $"not run: the task stopped ({e.GetType().Name})";
            results.AddRange(Items.Skip(results.Count).Select(n => Result(n, ItemStatus.Failed, 0, why)));
            WriteReport(started, results);
            throw;
        }
        return WriteReport(started, results);
    }

    ItemResult Result(string item, ItemStatus status, double seconds, string? error = null) =>
        new(item, status, seconds, error, sourceOf?.Invoke(item) is { } source ? Path.GetRelativePath(OutputRoot, Path.GetFullPath(source)) : null);

    TaskReport WriteReport(DateTimeOffset started, List<ItemResult> results)
    {
        var report = new TaskReport(Command, Shard, Environment.MachineName, started, DateTimeOffset.Now, results);
        report.Write(OutputRoot);
        return report;
    }

    ItemResult RunItem(string item, Action<string, StagedOutputs, CancellationToken> compute, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        if (IsComplete(item)) return Result(item, ItemStatus.Skipped, 0);
        var targets = outputsOf(item);
        try
        {
            File.Delete(MarkerPath(item));
            RemovePartial(item, targets);
            using (var staged = StagedOutputs.Open(targets))
            {
                compute(item, staged, cancellationToken);
                staged.Commit();
            }
            var rel = targets.Select(t => Path.GetRelativePath(OutputRoot, Path.GetFullPath(t.Path))).ToList();
            WriteMarker(item, new Marker(item, rel, watch.Elapsed.TotalSeconds, DateTimeOffset.Now));
            return Result(item, ItemStatus.Done, watch.Elapsed.TotalSeconds);
        }
        catch (Exception e) when (e is Sam2Exception or IOException or UnauthorizedAccessException)
        {
            return Result(item, ItemStatus.Failed, watch.Elapsed.TotalSeconds, e.Message.Split('\n')[0].TrimEnd('\r'));
        }
    }

    /// <summary>Deletes outputs of an incomplete item (a run killed after its commit, before its marker); only in a batch's
    /// own root, and never through a link. The hidden temporary files are StagedOutputs' to clean.</summary>
    void RemovePartial(string item, IReadOnlyList<OutputTarget> targets)
    {
        foreach (var t in targets)
        {
            var kind = FileKind.Of(t.Path);
            if (kind is FileKindType.Missing) continue;
            if (!batchRoot) throw new Sam2Exception($"{t.Label} {t.Path} exists and was not written by a batch run; remove it or give a new output folder");
            if (kind is FileKindType.Directory) Directory.Delete(t.Path, recursive: true);
            else if (kind is FileKindType.Regular) File.Delete(t.Path);
            else throw new Sam2Exception($"{t.Label} {t.Path} is {FileKind.Describe(kind)}; refusing to replace it");
        }
    }

    void WriteMarker(string item, Marker marker)
    {
        AtomicFile.Write(MarkerPath(item), JsonSerializer.SerializeToUtf8Bytes(marker));
    }
}
