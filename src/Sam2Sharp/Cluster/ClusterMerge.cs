using Sam2Sharp.Batch;
using Sam2Sharp.Evaluation;

namespace Sam2Sharp.Cluster;

/// <summary>
/// What <c>sam2 cluster merge</c> makes of a complete batch: amg → one COCO JSON of every image; vos and image → a check
/// that every item is complete (their outputs are already in one folder); eval → one J&amp;F over all videos
/// (<see cref="VosScoreFiles.Merge"/>), written as the unsharded evaluation's results.csv.
/// </summary>
public static class ClusterMerge
{
    /// <summary>The COCO file's default name under the output root.</summary>
    public const string CocoFileName = "annotations.coco.json";

    /// <summary>Merges and returns what to print.</summary>
    /// <exception cref="Sam2Exception">the batch is not complete, its tasks ran different commands, or an output is missing.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled before the merged file was written.</exception>
    public static string Run(ClusterStatus status, string? output, bool replace, CancellationToken cancellationToken = default)
    {
        if (!status.Complete)
            throw new Sam2Exception($"{status.OutputRoot}: not complete ({status.Missing.Count} tasks without a report, {status.FailedItems.Count} items failed); see sam2 cluster status");
        var reports = status.Tasks.Select(t => t.Report!).ToList();
        var commands = reports.Select(r => r.Command).Distinct().ToList();
        if (commands.Count != 1) throw new Sam2Exception($"{status.OutputRoot}: the tasks ran different commands ({string.Join(", ", commands)})");
        var items = reports.SelectMany(r => r.Items).OrderBy(i => i.Name, StringComparer.Ordinal).ToList();
        return commands[0] switch
        {
            "amg" => MergeCoco(status.OutputRoot, items, output, replace, cancellationToken),
            "eval" => MergeScores(status.OutputRoot, output, replace),
            _ => CheckPresent(status.OutputRoot, commands[0], items.Select(i => i.Name).ToList()),
        };
    }

    static string MergeCoco(string root, IReadOnlyList<ItemResult> items, string? output, bool replace, CancellationToken cancellationToken)
    {
        // The report names each image relative to the output root, so the image is found wherever the batch is mounted.
        var (json, images, annotations) = CocoMerge.Merge(items.Select(i => new CocoMerge.Image(i.Name, AmgAnnotationFile(root, i.Name),
            i.Source is { } source ? Path.GetFullPath(Path.Combine(root, source)) : null)), cancellationToken);
        string path = output ?? Path.Combine(root, CocoFileName);
        SubmissionFile.Write(path, System.Text.Encoding.UTF8.GetString(json), replace);
        return $"amg: {images} images, {annotations} annotations merged into {path}\n";
    }

    static string MergeScores(string scoreFolder, string? output, bool replace)
    {
        string predRoot = Path.GetDirectoryName(Path.GetFullPath(scoreFolder).TrimEnd(Path.DirectorySeparatorChar))!;
        var result = VosScoreFiles.Merge(predRoot);
        string path = output ?? Path.Combine(predRoot, "results.csv");
        SubmissionFile.Write(path, result.ToCsv(), replace);
        return $"eval: {result.Videos.Count} videos; Global score: J&F: {VosBenchmarkResult.FormatOneDecimal(result.GlobalJF)} " +
            $"J: {VosBenchmarkResult.FormatOneDecimal(result.GlobalJ)} F: {VosBenchmarkResult.FormatOneDecimal(result.GlobalF)}; saved to {path}\n";
    }

    // The batch's own rule for an image's annotation file (OUTPUT/<stem>.json).
    static string AmgAnnotationFile(string root, string item) =>
        Amg.AmgOutputs.ForBatch(root, new BatchImage(item, item), json: true, masks: false, overlay: false).Json!;

    static string CheckPresent(string root, string command, IReadOnlyList<string> items)
    {
        var absent = items.Where(i => !Path.Exists(Path.Combine(root, i))).ToList();
        if (absent.Count > 0)
            throw new Sam2Exception($"{command}: {absent.Count} items reported complete are not in {root} (first: {absent[0]})");
        return $"{command}: all {items.Count} items complete in {root}\n";
    }
}
