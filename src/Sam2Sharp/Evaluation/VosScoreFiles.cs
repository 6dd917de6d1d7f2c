using System.Text.Json;
using System.Text.Json.Serialization;
using Sam2Sharp.Batch;
using Sam2Sharp.IO;

namespace Sam2Sharp.Evaluation;

/// <summary>
/// Sharded evaluation: each task of <c>sam2 eval --shard K/N</c> scores its videos and writes one score file per video
/// (<c>&lt;pred root&gt;/.sam2-eval/&lt;video&gt;.json</c>, a batch of its own with its markers and task reports under
/// <c>.sam2-eval/.sam2-tasks</c>); <see cref="Merge"/> reads them all back into one J&amp;F.
/// </summary>
public static class VosScoreFiles
{
    /// <summary>The folder under the prediction root that holds the score files (hidden: no reader takes it for a video).</summary>
    public const string FolderName = ".sam2-eval";
    const int MaxBytes = 16 << 20;

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter<VosLayout>() },
    };

    /// <summary>One video's scores and how they were computed.</summary>
    sealed record ScoreFile(string GtRoot, bool SkipFirstAndLast, VosVideoResult Video);

    /// <summary>The score folder of a prediction root (the output root of a sharded evaluation).</summary>
    public static string FolderIn(string predRoot) => Path.Combine(predRoot, FolderName);

    /// <summary>The score file of one video.</summary>
    public static string PathFor(string predRoot, string video) => Path.Combine(FolderIn(predRoot), video + ".json");

    /// <summary>The planned videos as a resumable batch: one score file each.</summary>
    public static BatchRunner OpenBatch(VosBenchmarkPlan plan, Shard shard) =>
        BatchRunner.Open("eval", FolderIn(plan.PredRoot), shard, plan.Videos,
            v => [new OutputTarget($"video {v}: scores", PathFor(plan.PredRoot, v))]);

    /// <summary>Scores each video of the batch and writes its score file (each committed as it ends).</summary>
    public static TaskReport Run(VosBenchmarkPlan plan, VosBenchmarkOptions options, BatchRunner batch,
        IProgress<Sam2Progress>? progress = null, CancellationToken cancellationToken = default) =>
        batch.Run((video, staged, _) =>
        {
            var result = VosBenchmark.EvaluateVideo(plan.GtRoot, plan.PredRoot, video, options.SkipFirstAndLast, options.BoundaryThreshold);
            File.WriteAllBytes(staged.File(PathFor(plan.PredRoot, video)),
                JsonSerializer.SerializeToUtf8Bytes(new ScoreFile(Path.GetFullPath(plan.GtRoot), options.SkipFirstAndLast, result), Json));
        }, "videos", progress, cancellationToken);

    /// <summary>
    /// The one J&amp;F over every video scored by any shard: the score files in video-name order (the order of an
    /// unsharded plan), aggregated by <see cref="VosBenchmark.Aggregate"/>.
    /// </summary>
    /// <exception cref="Sam2Exception">no score file, an unreadable one, or files scored with different settings.</exception>
    public static VosBenchmarkResult Merge(string predRoot)
    {
        string folder = FolderIn(predRoot);
        if (!Directory.Exists(folder)) throw new Sam2Exception($"no sharded evaluation in {predRoot}: {folder} not found (run sam2 eval --shard K/N first)");
        var files = Directory.EnumerateFiles(folder, "*.json").Where(f => !VosMasks.IsHidden(f)).Order(StringComparer.Ordinal)
            .Select(Read).ToList();
        if (files.Count == 0) throw new Sam2Exception($"no score files in {folder}");
        if (files.Select(f => (f.GtRoot, f.SkipFirstAndLast)).Distinct().Count() > 1)
            throw new Sam2Exception($"the score files in {folder} were computed against different ground truths or frame settings; re-run the evaluation into a new prediction folder");
        var videos = files.Select(f => f.Video).OrderBy(v => v.Name, StringComparer.Ordinal).ToList();
        var plan = new VosBenchmarkPlan(files[0].GtRoot, Path.GetFullPath(predRoot), videos.Select(v => v.Name).ToList(), []);
        return VosBenchmark.Aggregate(plan, videos, files[0].SkipFirstAndLast);
    }

    static ScoreFile Read(string path)
    {
        using var stream = InputFiles.OpenRegular(path, "score file");
        string text = InputFiles.ReadText(stream, MaxBytes, $"score file {path}");
        try
        {
            var f = JsonSerializer.Deserialize<ScoreFile>(text, Json) ?? throw new Sam2Exception($"score file {path}: empty");
            if (f.Video.Name + ".json" != Path.GetFileName(path)) throw new Sam2Exception($"score file {path}: holds video {f.Video.Name}");
            return f;
        }
        catch (JsonException e)
        {
            throw new Sam2Exception($"score file {path}: not a score file ({e.Message.Split('\n')[0]})");
        }
    }
}
