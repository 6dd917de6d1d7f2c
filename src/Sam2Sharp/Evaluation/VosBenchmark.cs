using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text;
using Sam2Sharp.IO;

namespace Sam2Sharp.Evaluation;

/// <summary>How <see cref="VosBenchmark"/> scores (the reference benchmark's arguments).</summary>
public sealed class VosBenchmarkOptions
{
    /// <summary>Leave the first and last frame out (standard for semi-supervised VOS, and for SA-V val/test).</summary>
    public bool SkipFirstAndLast { get; init; } = true;
    /// <summary>Ground truth and predictions must hold exactly the same videos (the library default, as the
    /// reference's benchmark(); its command line defaults to non-strict).</summary>
    public bool Strict { get; init; } = true;
    /// <summary>Videos evaluated at once; -1 = as many as the runtime likes.</summary>
    public int MaxDegreeOfParallelism { get; init; } = -1;
    /// <summary>Boundary tolerance as a fraction of the image diagonal.</summary>
    public double BoundaryThreshold { get; init; } = 0.008;
}

/// <summary>One object of one video: mean J and F in percent. <see cref="ObjectId"/> is the object id as a number
/// (DAVIS layout) or the object folder name (SA-V layout).</summary>
public sealed record VosObjectResult(string ObjectId, double J, double F)
{
    /// <summary>The mean of J and F (percent).</summary>
    public double JF => (J + F) / 2;
}

/// <summary>The scores of one video's objects, in the layout its ground truth is stored.</summary>
public sealed record VosVideoResult(string Name, VosLayout Layout, IReadOnlyList<VosObjectResult> Objects);

/// <summary>What will be evaluated: the (possibly redirected) roots, the videos in order, the videos left out.</summary>
public sealed record VosBenchmarkPlan(string GtRoot, string PredRoot, IReadOnlyList<string> Videos, IReadOnlyList<string> SkippedVideos)
{
    /// <summary>Why each skipped video was skipped (no prediction folder, or the first prediction file missing).</summary>
    public IReadOnlyDictionary<string, string> SkipReasons { get; init; } = new Dictionary<string, string>();
}

/// <summary>The outcome of a benchmark run: what was evaluated, per-object scores and the global means.</summary>
public sealed class VosBenchmarkResult
{
    /// <summary>What was evaluated (roots, videos, videos left out).</summary>
    public required VosBenchmarkPlan Plan { get; init; }
    /// <summary>Per-video results, in the plan's order.</summary>
    public required IReadOnlyList<VosVideoResult> Videos { get; init; }
    /// <summary>Whether the first and last frames were left out.</summary>
    public required bool SkipFirstAndLast { get; init; }
    /// <summary>Mean J over every object of every video (percent).</summary>
    public required double GlobalJ { get; init; }
    /// <summary>Mean F over every object of every video (percent).</summary>
    public required double GlobalF { get; init; }
    /// <summary>The mean of <see cref="GlobalJ"/> and <see cref="GlobalF"/> (percent).</summary>
    public double GlobalJF => (GlobalJ + GlobalF) / 2;

    /// <summary>The reference's results.csv text: a header, the global line, one line per object.</summary>
    public string ToCsv()
    {
        int ml = Math.Max("Global score".Length, Videos.Count == 0 ? 0 : Videos.Max(v => v.Name.Length));
        var sb = new StringBuilder();
        sb.Append($"{"sequence".PadRight(ml)},{"obj",3}, {"J&F",4}, {"J",4}, {"F",4}\n");
        sb.Append($"{"Global score".PadRight(ml)},{"",3}, {FormatOneDecimal(GlobalJF)}, {FormatOneDecimal(GlobalJ)}, {FormatOneDecimal(GlobalF)}\n");
        foreach (var v in Videos)
            foreach (var o in v.Objects)
                sb.Append($"{v.Name.PadRight(ml)},{ObjectLabel(v.Layout, o.ObjectId)}, {FormatOneDecimal(o.JF),4}, {FormatOneDecimal(o.J),4}, {FormatOneDecimal(o.F),4}\n");
        return sb.ToString();
    }

    /// <summary>The table as the reference prints it on screen (the CSV with commas as spaces).</summary>
    public string ToText() => ToCsv().Replace(',', ' ');

    /// <summary>Writes <see cref="ToCsv"/> to <paramref name="path"/> (replacing it); a write failure is a <see cref="Sam2Exception"/>.</summary>
    public void WriteCsv(string path)
    {
        try { File.WriteAllText(path, ToCsv()); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Sam2Exception($"cannot write {path}: {e.Message}", e);
        }
    }

    // The reference formats the id with "03": an int id is zero-padded on the left; an SA-V folder name is a string,
    // which Python (>= 3.10) pads on the right with '0' ("001" stays, "7" becomes "700").
    static string ObjectLabel(VosLayout layout, string id) =>
        layout == VosLayout.Palette ? long.Parse(id, CultureInfo.InvariantCulture).ToString("D3", CultureInfo.InvariantCulture) : id.PadRight(3, '0');

    /// <summary>Python's "{x:.1f}": the exact binary value rounded to one decimal, ties to even.</summary>
    public static string FormatOneDecimal(double x)
    {
        if (double.IsNaN(x)) return "nan";
        if (double.IsInfinity(x)) return x > 0 ? "inf" : "-inf";
        // A double is halfway between two one-decimal numbers only when it is an odd multiple of 0.25.
        double q = x * 4;
        if (Math.Abs(q) < 1e15 && q == Math.Floor(q) && Math.Abs(q % 2) == 1)
            x = Math.Round(x, 1, MidpointRounding.ToEven);
        return x.ToString("F1", CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// The J&amp;F benchmark of SA-V (sav_dataset/utils/sav_benchmark.py): per video, per object mean J and F over the
/// frames that have ground truth; the global J and F are means over all objects of all videos.
/// </summary>
public static class VosBenchmark
{
    /// <summary>
    /// Decides which videos to evaluate. Strict: both roots must hold the same video folders, else an error naming the
    /// extra ones. Non-strict: the videos present on both sides; a ground-truth video without a prediction folder is
    /// skipped (listed in <see cref="VosBenchmarkPlan.SkippedVideos"/>), never scored as an empty prediction, as the
    /// reference does. A predicted video missing a frame (or an object folder) is an error naming it when strict, and is
    /// skipped with that reason when not (see <see cref="Run(VosBenchmarkPlan, VosBenchmarkOptions?, IProgress{Sam2Progress}?, CancellationToken)"/>);
    /// it is never scored as an empty prediction.
    /// </summary>
    /// <param name="gtRoot">The ground-truth folder (one folder per video).</param>
    /// <param name="predRoot">The predictions, in the same layout.</param>
    /// <param name="strict">Every video must be on both sides, complete.</param>
    /// <param name="skipFirstAndLast">When given (and not strict), videos whose prediction lacks a frame or object that would be read
    /// are moved to the skipped list here, with the reason, so that the plan names every video left out before anything is scored.</param>
    public static VosBenchmarkPlan Plan(string gtRoot, string predRoot, bool strict, bool? skipFirstAndLast = null)
    {
        var plan = PlanFolders(gtRoot, predRoot, strict);
        return !strict && skipFirstAndLast is { } skip ? SkipIncomplete(plan, skip) : plan;
    }

    static VosBenchmarkPlan PlanFolders(string gtRoot, string predRoot, bool strict)
    {
        if (!Directory.Exists(gtRoot)) throw new Sam2Exception($"ground-truth folder not found: {gtRoot}");
        if (!Directory.Exists(predRoot)) throw new Sam2Exception($"prediction folder not found: {predRoot}");
        var gtEntries = ListNames(gtRoot);
        var predEntries = ListNames(predRoot);
        // As the reference: when the counts differ and the root holds an "Annotations" folder of video folders,
        // the user gave the dataset root; evaluate its Annotations.
        if (gtEntries.Count != predEntries.Count && gtEntries.Contains("Annotations"))
        {
            var ann = Path.Combine(gtRoot, "Annotations");
            var inner = Directory.Exists(ann) ? ListNames(ann) : [];
            if (inner.Count > 0 && !inner[0].Contains(".png", StringComparison.Ordinal))
            {
                gtRoot = ann;
                gtEntries = inner;
            }
        }
        var gtVideos = gtEntries.Where(n => Directory.Exists(Path.Combine(gtRoot, n))).ToList();
        var predVideos = predEntries.Where(n => Directory.Exists(Path.Combine(predRoot, n))).ToList();
        var predSet = new HashSet<string>(predVideos, StringComparer.Ordinal);
        var gtSet = new HashSet<string>(gtVideos, StringComparer.Ordinal);
        var missing = gtVideos.Where(v => !predSet.Contains(v)).ToList();
        if (strict)
        {
            var extra = predVideos.Where(v => !gtSet.Contains(v)).ToList();
            var problems = new List<string>();
            if (missing.Count > 0) problems.Add($"videos in {gtRoot} but not in {predRoot}: {string.Join(", ", missing)}");
            if (extra.Count > 0) problems.Add($"videos in {predRoot} but not in {gtRoot}: {string.Join(", ", extra)}");
            if (problems.Count > 0) throw new Sam2Exception("strict evaluation: " + string.Join("; ", problems));
            return new VosBenchmarkPlan(gtRoot, predRoot, gtVideos, []);
        }
        return new VosBenchmarkPlan(gtRoot, predRoot, gtVideos.Where(predSet.Contains).ToList(), missing)
        {
            SkipReasons = missing.ToDictionary(v => v, _ => "no prediction folder"),
        };
    }

    /// <summary>Plans (<see cref="Plan"/>) then evaluates the videos of two folders.</summary>
    public static VosBenchmarkResult Run(string gtRoot, string predRoot, VosBenchmarkOptions? options = null,
        IProgress<Sam2Progress>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new VosBenchmarkOptions();
        return Run(Plan(gtRoot, predRoot, options.Strict), options, progress, cancellationToken);
    }

    /// <summary>Evaluates the planned videos in parallel; <paramref name="progress"/> is told (from worker threads)
    /// as each video finishes. Results and averages are in the plan's video order whatever the finishing order.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static VosBenchmarkResult Run(VosBenchmarkPlan plan, VosBenchmarkOptions? options = null,
        IProgress<Sam2Progress>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new VosBenchmarkOptions();
        if (!options.Strict) plan = SkipIncomplete(plan, options.SkipFirstAndLast);
        if (plan.Videos.Count == 0) throw new Sam2Exception($"no videos to evaluate in {plan.GtRoot} and {plan.PredRoot}");
        var results = new VosVideoResult[plan.Videos.Count];
        var errors = new Exception?[plan.Videos.Count];
        int done = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism, CancellationToken = cancellationToken };
        Parallel.For(0, plan.Videos.Count, parallel, (i, state) =>
        {
            try
            {
                results[i] = EvaluateVideo(plan.GtRoot, plan.PredRoot, plan.Videos[i], options.SkipFirstAndLast, options.BoundaryThreshold);
                progress?.Report(new Sam2Progress(Interlocked.Increment(ref done), plan.Videos.Count, "videos") { Item = plan.Videos[i] });
            }
            catch (Exception e)
            {
                errors[i] = e;
                state.Break(); // lower-index videos still run, so the error reported below is always the same one
            }
        });
        var first = errors.FirstOrDefault(e => e != null);
        if (first != null) ExceptionDispatchInfo.Capture(first).Throw();
        return Aggregate(plan, results, options.SkipFirstAndLast);
    }

    /// <summary>
    /// The global scores of per-video results, in the order given (the plan's): J and F are each the mean over every
    /// object of every video. Per-shard results merged in video-name order (<see cref="VosScoreFiles.Merge"/>) give the
    /// value of one unsharded run to the last bit.
    /// </summary>
    public static VosBenchmarkResult Aggregate(VosBenchmarkPlan plan, IReadOnlyList<VosVideoResult> videos, bool skipFirstAndLast)
    {
        var allJ = videos.SelectMany(v => v.Objects).Select(o => o.J).ToList();
        var allF = videos.SelectMany(v => v.Objects).Select(o => o.F).ToList();
        return new VosBenchmarkResult
        {
            Plan = plan, Videos = videos, SkipFirstAndLast = skipFirstAndLast,
            GlobalJ = VosMetrics.Mean(allJ), GlobalF = VosMetrics.Mean(allF),
        };
    }

    /// <summary>
    /// Evaluates one video. The layout is read from the ground truth (<see cref="VosMasks.Detect"/>). Frames are the
    /// ground-truth PNG files in name order; the prediction must have the same file for each.
    /// </summary>
    public static VosVideoResult EvaluateVideo(string gtRoot, string predRoot, string video, bool skipFirstAndLast = true,
        double boundaryThreshold = 0.008)
    {
        var gtVideo = Path.Combine(gtRoot, video);
        var predVideo = Path.Combine(predRoot, video);
        var entries = ListNames(gtVideo);
        if (VosMasks.Detect(gtVideo) == VosLayout.Palette)
        {
            var ev = new VosSequenceEvaluator(boundaryThreshold);
            foreach (var frame in Frames(Pngs(entries), skipFirstAndLast))
            {
                var (gt, pred) = LoadPair(gtVideo, predVideo, frame, video, null, sav: false);
                ev.FeedFrame(pred.Values, gt.Values, pred.Height, pred.Width);
            }
            var objs = ev.Conclude()
                .Select(o => new VosObjectResult(o.ObjectId.ToString(CultureInfo.InvariantCulture), o.J, o.F)).ToList();
            return new VosVideoResult(video, VosLayout.Palette, objs);
        }

        var objects = new List<VosObjectResult>();
        foreach (var obj in entries.Where(e => Directory.Exists(Path.Combine(gtVideo, e))))
        {
            var gtObj = Path.Combine(gtVideo, obj);
            var predObj = Path.Combine(predVideo, obj);
            var ev = new VosSequenceEvaluator(boundaryThreshold);
            foreach (var frame in Frames(Pngs(ListNames(gtObj)), skipFirstAndLast))
            {
                var (gt, pred) = LoadPair(gtObj, predObj, frame, video, obj, sav: true);
                ev.FeedFrame(pred.Values, gt.Values, pred.Height, pred.Width);
            }
            var scores = ev.Conclude();
            // The reference requires exactly one object per folder; an object absent from every evaluated
            // ground-truth frame has no score there (it fails on an assertion), so say so plainly.
            if (scores.Count != 1)
                throw new Sam2Exception($"video {video}, object {obj}: the ground truth is empty in every evaluated frame, so the object cannot be scored");
            objects.Add(new VosObjectResult(obj, scores[0].J, scores[0].F));
        }
        return new VosVideoResult(video, VosLayout.PerObject, objects);
    }

    /// <summary>Moves the videos whose prediction lacks a frame or an object that would be read to the skipped list.</summary>
    static VosBenchmarkPlan SkipIncomplete(VosBenchmarkPlan plan, bool skipFirstAndLast)
    {
        var keep = new List<string>();
        var skipped = plan.SkippedVideos.ToList();
        var reasons = new Dictionary<string, string>(plan.SkipReasons);
        foreach (var video in plan.Videos)
        {
            if (FirstMissingPrediction(plan.GtRoot, plan.PredRoot, video, skipFirstAndLast) is { } missing)
            {
                skipped.Add(video);
                reasons[video] = missing;
            }
            else keep.Add(video);
        }
        return plan with { Videos = keep, SkippedVideos = skipped, SkipReasons = reasons };
    }

    /// <summary>The first prediction file (or object folder) the evaluation of a video would need and not find, or null.</summary>
    static string? FirstMissingPrediction(string gtRoot, string predRoot, string video, bool skipFirstAndLast)
    {
        var gtVideo = Path.Combine(gtRoot, video);
        var predVideo = Path.Combine(predRoot, video);
        var entries = ListNames(gtVideo);
        if (VosMasks.Detect(gtVideo) == VosLayout.Palette)
            return Frames(Pngs(entries), skipFirstAndLast).Where(f => !File.Exists(Path.Combine(predVideo, f))).Select(f => $"frame {f} missing").FirstOrDefault();
        foreach (var obj in entries.Where(e => Directory.Exists(Path.Combine(gtVideo, e))))
        {
            var predObj = Path.Combine(predVideo, obj);
            if (!Directory.Exists(predObj)) return $"object {obj} missing";
            foreach (var f in Frames(Pngs(ListNames(Path.Combine(gtVideo, obj))), skipFirstAndLast))
                if (!File.Exists(Path.Combine(predObj, f))) return $"object {obj}, frame {f} missing";
        }
        return null;
    }

    static List<string> Pngs(List<string> names) => names.Where(n => n.EndsWith(".png", StringComparison.Ordinal)).ToList();

    static IEnumerable<string> Frames(List<string> all, bool skipFirstAndLast) =>
        skipFirstAndLast ? all.Skip(1).Take(Math.Max(0, all.Count - 2)) : all;

    static (IO.MaskImage gt, IO.MaskImage pred) LoadPair(string gtDir, string predDir, string frame, string video, string? obj, bool sav)
    {
        var gtPath = Path.Combine(gtDir, frame);
        var predPath = Path.Combine(predDir, frame);
        if (!File.Exists(predPath))
            throw new Sam2Exception($"prediction missing for video {video}{(obj != null ? $", object {obj}" : "")}, frame {frame}: {predPath} not found");
        var gt = IO.PalettePng.ReadMask(gtPath);
        var pred = IO.PalettePng.ReadMask(predPath);
        if (gt.Width != pred.Width || gt.Height != pred.Height)
            throw new Sam2Exception($"shape mismatch: {gtPath} is {gt.Width}x{gt.Height}, {predPath} is {pred.Width}x{pred.Height}");
        if (sav) return (Binarize(gt, gtPath), Binarize(pred, predPath));
        return (gt, pred);
    }

    // SA-V files hold one object each: at most two distinct values, then anything > 0 is the object (id 1).
    static IO.MaskImage Binarize(IO.MaskImage m, string path)
    {
        int first = m.Values.Length > 0 ? m.Values[0] : 0, second = first;
        var v = new int[m.Values.Length];
        for (int i = 0; i < v.Length; i++)
        {
            int x = m.Values[i];
            if (x != first && x != second)
            {
                if (second != first)
                    throw new Sam2Exception($"found more than 1 object in {path}: the SA-V layout holds one object mask per PNG file");
                second = x;
            }
            v[i] = x > 0 ? 1 : 0;
        }
        return m with { Values = v };
    }

    static List<string> ListNames(string dir)
    {
        try
        {
            var names = Directory.EnumerateFileSystemEntries(dir).Where(p => !VosMasks.IsHidden(p)).Select(p => Path.GetFileName(p)!).ToList();
            names.Sort(StringComparer.Ordinal);
            return names;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Sam2Exception($"cannot list {dir}: {e.Message}", e);
        }
    }
}
