using System.Globalization;
using System.Text;
using System.Text.Json;
using Sam2Sharp.Imaging;
using Sam2Sharp.IO;
using Sam2Sharp.Modeling;
using Sam2Sharp.Video;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Evaluation;

/// <summary>One object to segment by clicks: its ground-truth mask (row-major) on an image or a video frame.</summary>
public sealed record ClickTarget(string Name, int ObjectId, bool[] Mask, int Width, int Height);

/// <summary>The IoU after each click (index k−1 = after k clicks) and the clicks themselves.</summary>
public sealed record ClickTargetResult(string Name, int ObjectId, IReadOnlyList<double> Ious, IReadOnlyList<SampledClick> Clicks)
{
    /// <summary>Number of clicks to reach <paramref name="iouThreshold"/>; the click budget when never reached.</summary>
    public int NoC(double iouThreshold)
    {
        for (int k = 0; k < Ious.Count; k++) if (Ious[k] >= iouThreshold) return k + 1;
        return Ious.Count;
    }
}

/// <summary>Interactive segmentation figures over all targets: mean IoU after k clicks, NoC@85 and NoC@90.</summary>
public sealed class ClickEvaluationResult
{
    /// <summary>Clicks simulated per target.</summary>
    public required int MaxClicks { get; init; }
    /// <summary>Per-target IoU after each click.</summary>
    public required IReadOnlyList<ClickTargetResult> Targets { get; init; }

    /// <summary>Mean IoU over the targets after k = 1…MaxClicks clicks.</summary>
    public IReadOnlyList<double> MeanIou => Enumerable.Range(0, MaxClicks)
        .Select(k => VosMetrics.Mean(Targets.Select(t => t.Ious[k]).ToList())).ToList();

    /// <summary>Mean number of clicks to reach <paramref name="iouThreshold"/> (MaxClicks when never reached).</summary>
    public double MeanNoC(double iouThreshold) => VosMetrics.Mean(Targets.Select(t => (double)t.NoC(iouThreshold)).ToList());
    /// <summary><see cref="MeanNoC"/> at IoU 0.85.</summary>
    public double NoC85 => MeanNoC(0.85);
    /// <summary><see cref="MeanNoC"/> at IoU 0.90.</summary>
    public double NoC90 => MeanNoC(0.90);

    static string F(double v, string format = "F4") => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>The figures as printed: one line per click count, then the NoC.</summary>
    public string ToText()
    {
        var sb = new StringBuilder();
        sb.Append($"{Targets.Count} targets, up to {MaxClicks} clicks each\n");
        sb.Append("clicks  mean IoU\n");
        var mean = MeanIou;
        for (int k = 0; k < MaxClicks; k++) sb.Append($"{k + 1,6}  {F(mean[k])}\n");
        sb.Append($"NoC@85: {F(NoC85, "F2")}\n");
        sb.Append($"NoC@90: {F(NoC90, "F2")}\n");
        return sb.ToString();
    }

    /// <summary>The result as JSON (snake_case): the summary (mean IoU per click, NoC@85, NoC@90) and every target's IoUs, clicks and NoCs.</summary>
    public string ToJson() => JsonSerializer.Serialize(new
    {
        max_clicks = MaxClicks,
        num_targets = Targets.Count,
        mean_iou = MeanIou,
        noc85 = NoC85,
        noc90 = NoC90,
        targets = Targets.Select(t => new
        {
            name = t.Name,
            object_id = t.ObjectId,
            ious = t.Ious,
            clicks = t.Clicks.Select(c => new[] { c.X, c.Y, c.Label }),
            noc85 = t.NoC(0.85),
            noc90 = t.NoC(0.90),
        }),
    }, new JsonSerializerOptions { WriteIndented = true });

    /// <summary>Writes results.json and curve.png into <paramref name="dir"/> (created if needed).</summary>
    public void WriteOutputs(string dir)
    {
        try
        {
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "results.json"), ToJson());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Sam2Exception($"cannot write into {dir}: {e.Message}", e);
        }
        DrawCurve(Path.Combine(dir, "curve.png"));
    }

    /// <summary>The mean IoU per click as a line chart (PNG).</summary>
    public void DrawCurve(string path, int width = 720, int height = 440)
    {
        var mean = MeanIou;
        int step = MaxClicks <= 20 ? 1 : (int)Math.Ceiling(MaxClicks / 20.0);
        new LineChart
        {
            Title = $"mean IoU per click ({Targets.Count} targets)   NoC@85 {F(NoC85, "F2")}   NoC@90 {F(NoC90, "F2")}",
            XLabel = "number of clicks", YLabel = "mean IoU",
            // One click only: the single point sits in the middle.
            XMin = MaxClicks == 1 ? 0 : 1, XMax = MaxClicks == 1 ? 2 : MaxClicks, YMin = 0, YMax = 1,
            XTicks = Enumerable.Range(0, (MaxClicks - 1) / step + 1).Select(i => 1.0 + i * step).ToList(),
            YTicks = Enumerable.Range(0, 11).Select(i => i / 10.0).ToList(),
            Series = [new LineSeries(Enumerable.Range(1, MaxClicks).Select(k => ((double)k, mean[k - 1])).ToList(), LineChart.Blue, Dots: true)],
            Width = width, Height = height,
        }.Save(path);
    }
}

/// <summary>
/// Interactive segmentation as SAM 2 reports it: a simulated user clicks the centre of the largest error
/// (<see cref="PointSampling.SampleFromErrorCenter(ReadOnlySpan{bool}, ReadOnlySpan{bool}, int, int, bool)"/>),
/// the model predicts from all clicks so far plus its previous low-resolution logits, up to a click budget.
/// </summary>
public static class ClickEvaluation
{
    /// <summary>Clicks per target unless told otherwise.</summary>
    public const int DefaultMaxClicks = 20;
    static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png"];

    /// <summary>
    /// The targets of a mask PNG: each object id of a palette PNG, or the one object (nonzero pixels) of a gray PNG.
    /// Ids absent from the mask give no target.
    /// </summary>
    public static IReadOnlyList<ClickTarget> TargetsFromMask(string maskPath, string name)
    {
        if (!File.Exists(maskPath)) throw new Sam2Exception($"mask not found: {maskPath}");
        var m = PalettePng.ReadMask(maskPath);
        if (m.Palette is null)
        {
            var on = m.Values.Select(v => v > 0).ToArray();
            return on.Any(v => v) ? [new ClickTarget(name, 1, on, m.Width, m.Height)] : [];
        }
        return m.Values.Where(v => v > 0).Distinct().Order()
            .Select(id => new ClickTarget(name, id, m.Values.Select(v => v == id).ToArray(), m.Width, m.Height)).ToList();
    }

    /// <summary>
    /// Clicks on one target of the image set in <paramref name="predictor"/>. The first click asks for three masks and
    /// keeps the one with the highest predicted IoU (as SAM 2 does with one click); later clicks ask for one mask, with the
    /// previous low-resolution logits as the mask input.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked before each click).</exception>
    public static ClickTargetResult RunImageTarget(Sam2ImagePredictor predictor, ClickTarget target, int maxClicks = DefaultMaxClicks,
        CancellationToken cancellationToken = default)
    {
        CheckBudget(maxClicks);
        var (h, w) = predictor.OriginalSizes[^1];
        if (w != target.Width || h != target.Height)
            throw new Sam2Exception($"{target.Name}: the mask is {target.Width}×{target.Height}, the image {w}×{h}");
        var clicks = new List<SampledClick>();
        var ious = new List<double>();
        bool[]? pred = null;
        Tensor? prevLogits = null;
        try
        {
            for (int k = 0; k < maxClicks; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var click = PointSampling.SampleFromErrorCenter(target.Mask, pred, w, h);
                clicks.Add(click);
                bool multimask = k == 0;
                using var r = predictor.Predict(clicks.Select(c => c.ToPromptPoint()).ToList(), null, prevLogits, multimaskOutput: multimask);
                using var scope = NewDisposeScope();
                long best = multimask ? r.IouPredictions.argmax().item<long>() : 0;
                var mask = r.Masks[best];
                pred = mask.cpu().contiguous().data<bool>().ToArray();
                var next = r.LowResLogits[TensorIndex.Slice(best, best + 1)].clone().DetachFromDisposeScope();
                prevLogits?.Dispose();
                prevLogits = next;
                ious.Add(Iou(target.Mask, pred));
            }
        }
        finally { prevLogits?.Dispose(); }
        return new ClickTargetResult(target.Name, target.ObjectId, ious, clicks);
    }

    /// <summary>
    /// Clicks on one target on a frame of an open video session: the session is reset, then each click is added with
    /// <c>clearOldPoints: false</c>, so that the predictor feeds its previous logits on that frame back with all clicks.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked before each click).</exception>
    public static ClickTargetResult RunVideoTarget(Sam2VideoPredictor predictor, VideoSession session, int frameIdx, ClickTarget target,
        int maxClicks = DefaultMaxClicks, CancellationToken cancellationToken = default)
    {
        CheckBudget(maxClicks);
        int w = session.VideoWidth, h = session.VideoHeight;
        if (w != target.Width || h != target.Height)
            throw new Sam2Exception($"{target.Name}: the mask is {target.Width}×{target.Height}, the video {w}×{h}");
        predictor.ResetState(session);
        var clicks = new List<SampledClick>();
        var ious = new List<double>();
        bool[]? pred = null;
        try
        {
            for (int k = 0; k < maxClicks; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var click = PointSampling.SampleFromErrorCenter(target.Mask, pred, w, h);
                clicks.Add(click);
                using var r = predictor.AddNewPointsOrBox(session, frameIdx, target.ObjectId, [click.ToPromptPoint()],
                    clearOldPoints: false);
                using var logits = r.MaskLogits[0, 0];
                using var on = (logits > 0).cpu().contiguous();
                pred = on.data<bool>().ToArray();
                ious.Add(Iou(target.Mask, pred));
            }
        }
        finally { predictor.ResetState(session); }
        return new ClickTargetResult(target.Name, target.ObjectId, ious, clicks);
    }

    /// <summary>Every image of <paramref name="imagesDir"/> with its mask <c>&lt;stem&gt;.png</c> in <paramref name="masksDir"/>.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked before each click).</exception>
    public static ClickEvaluationResult EvaluateImages(Sam2ImagePredictor predictor, string imagesDir, string masksDir,
        int maxClicks = DefaultMaxClicks, Action<string>? progress = null, CancellationToken cancellationToken = default)
    {
        var pairs = ImagePairs(imagesDir, masksDir);
        var results = new List<ClickTargetResult>();
        foreach (var (image, mask) in pairs)
        {
            var name = Path.GetFileNameWithoutExtension(image);
            var targets = TargetsFromMask(mask, name);
            if (targets.Count == 0) { progress?.Invoke($"{name}: no object in the mask, skipped"); continue; }
            predictor.SetImage(RgbImage.Load(image));
            foreach (var t in targets)
            {
                var r = RunImageTarget(predictor, t, maxClicks, cancellationToken);
                results.Add(r);
                progress?.Invoke($"{name} object {t.ObjectId}: IoU after 1 click {r.Ious[0]:F3}, after {maxClicks} {r.Ious[^1]:F3}");
            }
        }
        if (results.Count == 0) throw new Sam2Exception($"no object to click on in the masks of {masksDir}");
        return new ClickEvaluationResult { MaxClicks = maxClicks, Targets = results };
    }

    /// <summary>The (image, mask) pairs, checked before any model work: every image needs its mask.</summary>
    public static IReadOnlyList<(string Image, string Mask)> ImagePairs(string imagesDir, string masksDir)
    {
        if (!Directory.Exists(imagesDir)) throw new Sam2Exception($"image folder not found: {imagesDir}");
        if (!Directory.Exists(masksDir)) throw new Sam2Exception($"mask folder not found: {masksDir}");
        var images = Directory.GetFiles(imagesDir).Where(p => ImageExtensions.Contains(Path.GetExtension(p).ToLowerInvariant()))
            .OrderBy(p => p, StringComparer.Ordinal).ToList();
        if (images.Count == 0) throw new Sam2Exception($"no JPEG or PNG images in {imagesDir}");
        return images.Select(i =>
        {
            var m = Path.Combine(masksDir, Path.GetFileNameWithoutExtension(i) + ".png");
            if (!File.Exists(m)) throw new Sam2Exception($"no mask for {Path.GetFileName(i)}: {m} not found");
            return (i, m);
        }).ToList();
    }

    /// <summary>Every object of the DAVIS-layout masks (<c>&lt;frame name&gt;.png</c>) on the chosen frames of a video.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked before each click).</exception>
    public static ClickEvaluationResult EvaluateVideo(Sam2VideoPredictor predictor, string videoPath, string videoMasksDir, IReadOnlyList<int> frames,
        int maxClicks = DefaultMaxClicks, Action<string>? progress = null, CancellationToken cancellationToken = default)
    {
        CheckBudget(maxClicks);
        if (!Directory.Exists(videoMasksDir)) throw new Sam2Exception($"video mask folder not found: {videoMasksDir}");
        if (frames.Count == 0) throw new Sam2Exception("no frame to click on: give at least one frame index");
        var source = FrameSource.Open(videoPath);
        using var session = predictor.InitState(source);
        var results = new List<ClickTargetResult>();
        foreach (int f in frames)
        {
            if (f < 0 || f >= source.Count) throw new Sam2Exception($"frame {f} is outside the video (frames 0 to {source.Count - 1})");
            var name = source.Name(f);
            var targets = TargetsFromMask(Path.Combine(videoMasksDir, name + ".png"), $"frame {name}");
            foreach (var t in targets)
            {
                var r = RunVideoTarget(predictor, session, f, t, maxClicks, cancellationToken);
                results.Add(r);
                progress?.Invoke($"frame {name} object {t.ObjectId}: IoU after 1 click {r.Ious[0]:F3}, after {maxClicks} {r.Ious[^1]:F3}");
            }
        }
        if (results.Count == 0) throw new Sam2Exception($"no object to click on in the masks of frames {string.Join(",", frames)}");
        return new ClickEvaluationResult { MaxClicks = maxClicks, Targets = results };
    }

    static void CheckBudget(int maxClicks)
    {
        if (maxClicks < 1) throw new Sam2Exception($"the click budget must be at least 1, got {maxClicks}");
    }

    static double Iou(bool[] gt, bool[] pred)
    {
        long inter = 0, sum = 0;
        for (int i = 0; i < gt.Length; i++)
        {
            if (gt[i] && pred[i]) inter++;
            sum += (gt[i] ? 1 : 0) + (pred[i] ? 1 : 0);
        }
        return VosMetrics.Iou(inter, sum);
    }
}
