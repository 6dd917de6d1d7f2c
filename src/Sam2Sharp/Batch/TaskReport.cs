using System.Text.Json;
using System.Text.Json.Serialization;
using Sam2Sharp.IO;

namespace Sam2Sharp.Batch;

/// <summary>What became of one item of a batch task.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ItemStatus>))]
public enum ItemStatus
{
    /// <summary>Computed and committed by this task.</summary>
    Done,
    /// <summary>Already complete (its completion marker present) from an earlier run; left as it was.</summary>
    Skipped,
    /// <summary>Failed; nothing of it is visible in the outputs.</summary>
    Failed,
}

/// <summary>One item's line in a <see cref="TaskReport"/>.</summary>
/// <param name="Name">The item's name (a video folder, an image file name).</param>
/// <param name="Status">Done, skipped or failed.</param>
/// <param name="Seconds">Wall time spent on the item by this task.</param>
/// <param name="Error">The one-line reason when it failed.</param>
/// <param name="Source">The input file the item is made from (an image), relative to the output root so that the batch's
/// folders can be read where they are mounted elsewhere; null when the item has no single input file (a video).</param>
public sealed record ItemResult(string Name, ItemStatus Status, double Seconds, string? Error = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Source = null);

/// <summary>
/// The report one batch task writes when it ends (beside its outputs, in <see cref="FolderIn"/>): which items it did,
/// skipped or failed and how long each took. <c>sam2 cluster status</c> and <c>merge</c> read them back.
/// </summary>
/// <param name="Command">The batch command (<c>vos</c>, <c>amg</c>, <c>image</c>, <c>eval</c>).</param>
/// <param name="Shard">The task's shard.</param>
/// <param name="Host">The machine it ran on.</param>
/// <param name="Started">When the task began.</param>
/// <param name="Finished">When it ended.</param>
/// <param name="Items">Every item of the shard, in order.</param>
public sealed record TaskReport(string Command, Shard Shard, string Host, DateTimeOffset Started, DateTimeOffset Finished,
    IReadOnlyList<ItemResult> Items)
{
    /// <summary>The folder, under a batch's output root, that holds the task reports (hidden, so no reader takes it for an item).</summary>
    public const string FolderName = ".sam2-tasks";
    const int MaxReportBytes = 64 << 20;

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Items done by this task.</summary>
    [JsonIgnore] public int Done => Items.Count(i => i.Status == ItemStatus.Done);
    /// <summary>Items found complete and skipped.</summary>
    [JsonIgnore] public int Skipped => Items.Count(i => i.Status == ItemStatus.Skipped);
    /// <summary>Items that failed.</summary>
    [JsonIgnore] public int Failed => Items.Count(i => i.Status == ItemStatus.Failed);
    /// <summary>Whether every item of the shard is complete (the task's exit code is 0 exactly then).</summary>
    [JsonIgnore] public bool Succeeded => Failed == 0;

    /// <summary>The report folder of a batch whose outputs are under <paramref name="outputRoot"/>.</summary>
    public static string FolderIn(string outputRoot) => Path.Combine(outputRoot, FolderName);

    /// <summary>The file a task of <paramref name="shard"/> writes its report to.</summary>
    public static string PathFor(string outputRoot, Shard shard) =>
        Path.Combine(FolderIn(outputRoot), $"task-{shard.Index}-of-{shard.Count}.json");

    /// <summary>Writes the report to <see cref="PathFor"/> atomically (a temporary file renamed over the old report).</summary>
    public string Write(string outputRoot)
    {
        string path = PathFor(outputRoot, Shard);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        AtomicFile.Write(path, JsonSerializer.Serialize(this, Json));
        return path;
    }

    /// <summary>Reads one report.</summary>
    /// <exception cref="Sam2Exception">the file is missing, not a regular file, too large, or not a task report.</exception>
    public static TaskReport Read(string path)
    {
        using var stream = InputFiles.OpenRegular(path, "task report");
        string text = InputFiles.ReadText(stream, MaxReportBytes, $"task report {path}");
        try
        {
            return JsonSerializer.Deserialize<TaskReport>(text, Json)
                ?? throw new Sam2Exception($"task report {path}: empty");
        }
        catch (JsonException e)
        {
            throw new Sam2Exception($"task report {path}: not a task report ({e.Message.Split('\n')[0]})");
        }
    }

    /// <summary>Every report under <paramref name="outputRoot"/>, ordered by shard; none if the folder does not exist.</summary>
    public static IReadOnlyList<(string Path, TaskReport Report)> ReadAll(string outputRoot)
    {
        string folder = FolderIn(outputRoot);
        if (!Directory.Exists(folder)) return [];
        return Directory.EnumerateFiles(folder, "task-*-of-*.json").Order(StringComparer.Ordinal)
            .Select(p => (p, Read(p))).OrderBy(r => r.Item2.Shard.Count).ThenBy(r => r.Item2.Shard.Index).ToList();
    }
}
