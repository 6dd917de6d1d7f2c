using System.Globalization;
using Sam2Sharp.Batch;
using Sam2Sharp.Config;
using Sam2Sharp.Imaging;
using Sam2Sharp.IO;
using Sam2Sharp.Video;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Evaluation;

/// <summary>What <see cref="VosInference"/> reads and writes (the reference tool's command-line arguments).</summary>
public sealed record VosInferenceOptions
{
    /// <summary>One folder of JPEG frames per video.</summary>
    public required string BaseVideoDir { get; init; }
    /// <summary>Input masks: <c>&lt;video&gt;/&lt;frame&gt;.png</c> (DAVIS) or <c>&lt;video&gt;/&lt;object&gt;/&lt;frame&gt;.png</c> (SA-V).</summary>
    public required string InputMaskDir { get; init; }
    /// <summary>Where the predicted masks go, in the same layout as the inputs.</summary>
    public required string OutputMaskDir { get; init; }
    /// <summary>A pixel is on when its logit is above this.</summary>
    public double ScoreThresh { get; init; }
    /// <summary>Prompt with every mask file found, not only the first frame's.</summary>
    public bool UseAllMasks { get; init; }
    /// <summary>How the input masks are stored, and so the outputs (per-object: masks may overlap).</summary>
    public VosLayout Layout { get; init; } = VosLayout.Palette;
    /// <summary>Track each object on its own from the first frame it has a mask on (LVOS, YouTube-VOS).</summary>
    public bool TrackObjectAppearingLaterInVideo { get; init; }
}

/// <summary>
/// Batch semi-supervised video object segmentation as the reference's <c>tools/vos_inference.py</c>:
/// the given masks prompt the video predictor, one forward propagation, the masks (logits above
/// the threshold) are written as PNGs in the input's layout.
/// </summary>
public static class VosInference
{
    static readonly string[] JpegExtensions = [".jpg", ".jpeg"];
    /// <summary>The option named in messages (the CLI shows its flag instead).</summary>
    internal const string TrackLater = nameof(VosInferenceOptions) + "." + nameof(VosInferenceOptions.TrackObjectAppearingLaterInVideo);

    /// <summary>
    /// The video predictor settings the tool uses: masks kept apart (non-overlapping) in the DAVIS layout only. (The tool
    /// builds its model without post-processing unless asked for: the benchmark figures are without it.)
    /// </summary>
    public static Sam2VideoPredictorOptions PredictorOptions(VosLayout layout) => new() { NonOverlapMasks = layout == VosLayout.Palette };

    /// <summary>The videos: the lines of <paramref name="videoListFile"/> if given, else every sub-folder of the video folder (sorted).</summary>
    public static IReadOnlyList<string> VideoNames(string baseVideoDir, string? videoListFile)
    {
        if (videoListFile is not null)
        {
            using var f = IO.InputFiles.OpenRegular(videoListFile, "video list");
            var lines = IO.InputFiles.ReadText(f, 16 << 20, $"video list {videoListFile}").Split('\n').Select(l => l.Trim()).ToList();
            // A name is one folder inside the video, mask and output folders; "../x" or "a/b" would reach outside them.
            for (int i = 0; i < lines.Count; i++)
                if (lines[i].Length > 0 && (lines[i] is "." or ".." || lines[i].IndexOfAny(['/', '\\', '\0']) >= 0 || Path.IsPathRooted(lines[i])))
                    throw new Sam2Exception($"video list {videoListFile} line {i + 1}: '{lines[i]}' is not a video folder name");
            return lines.Where(l => l.Length > 0).ToList();
        }
        if (!Directory.Exists(baseVideoDir)) throw new Sam2Exception($"video folder not found: {baseVideoDir}");
        return Directory.GetDirectories(baseVideoDir).Where(d => !VosMasks.IsHidden(d)).Select(Path.GetFileName).Cast<string>()
            .OrderBy(n => n, StringComparer.Ordinal).ToList();
    }

    /// <summary>Checks the folders before any model work, so that a wrong path fails at once.</summary>
    public static void CheckFolders(VosInferenceOptions o)
    {
        if (!Directory.Exists(o.BaseVideoDir)) throw new Sam2Exception($"video folder not found: {o.BaseVideoDir}");
        if (!Directory.Exists(o.InputMaskDir)) throw new Sam2Exception($"input mask folder not found: {o.InputMaskDir}");
        for (var d = Path.GetFullPath(o.OutputMaskDir); !string.IsNullOrEmpty(d); d = Path.GetDirectoryName(d))
        {
            if (File.Exists(d)) throw new Sam2Exception($"output mask folder {o.OutputMaskDir}: {d} is a file, not a folder");
            if (Directory.Exists(d)) break;
        }
    }

    /// <summary>Every listed video has its frame folder, and its input mask folder when one is given (checked before any model work).</summary>
    public static void CheckVideos(string baseVideoDir, IEnumerable<string> videos, string? inputMaskDir = null)
    {
        foreach (var v in videos)
        {
            if (!Directory.Exists(Path.Combine(baseVideoDir, v)))
                throw new Sam2Exception($"video {v} not found: no folder {Path.Combine(baseVideoDir, v)}");
            if (inputMaskDir is not null && !Directory.Exists(Path.Combine(inputMaskDir, v)))
                throw new Sam2Exception($"in video {v}: no input masks, folder {Path.Combine(inputMaskDir, v)} not found");
        }
    }

    /// <summary>
    /// The shard <paramref name="shard"/> of <paramref name="videos"/> as a resumable batch under
    /// <see cref="VosInferenceOptions.OutputMaskDir"/>: one output folder per video, committed whole
    /// (see <see cref="BatchRunner"/>). Nothing is computed here; <see cref="Run"/> does.
    /// </summary>
    public static BatchRunner OpenBatch(VosInferenceOptions o, IEnumerable<string> videos, Shard shard) =>
        BatchRunner.Open("vos", o.OutputMaskDir, shard, videos,
            v => [new OutputTarget($"video {v}: output", Path.Combine(o.OutputMaskDir, v), IsFolder: true)]);

    /// <summary>
    /// Every video of the batch in order, each committed as it ends; a video that fails is reported and left out, the
    /// others go on. <paramref name="progress"/> is told as each video starts (its name in <see cref="Sam2Progress.Item"/>)
    /// and ends, and of the input frame chosen for each object when objects are tracked on their own
    /// (<see cref="Sam2Progress.Message"/>). <paramref name="predictor"/> may be null only when no video is pending.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked every frame).</exception>
    public static TaskReport Run(Sam2VideoPredictor? predictor, VosInferenceOptions o, BatchRunner batch,
        IProgress<Sam2Progress>? progress = null, CancellationToken cancellationToken = default)
    {
        return batch.Run((video, staged, ct) =>
        {
            ArgumentNullException.ThrowIfNull(predictor);
            var at = new Sam2Progress(batch.Items.ToList().IndexOf(video), batch.Items.Count, "videos") { Item = video };
            var log = progress is null ? null : new InlineProgress<string>(m => progress.Report(at with { Message = m }));
            RunVideo(predictor, o, video, log, ct, staged.Folder(Path.Combine(o.OutputMaskDir, video)));
        }, "videos", progress, cancellationToken);
    }

    /// <summary>One video, with all objects together or (for objects appearing later) each on its own;
    /// <paramref name="log"/> hears which input frame each object gets in the latter case. The masks go to
    /// <paramref name="outputVideoDir"/>, by default the video's folder under <see cref="VosInferenceOptions.OutputMaskDir"/>.</summary>
    public static void RunVideo(Sam2VideoPredictor predictor, VosInferenceOptions o, string videoName, IProgress<string>? log = null,
        CancellationToken cancellationToken = default, string? outputVideoDir = null)
    {
        outputVideoDir ??= Path.Combine(o.OutputMaskDir, videoName);
        if (o.TrackObjectAppearingLaterInVideo) InferPerObject(predictor, o, videoName, outputVideoDir, log, cancellationToken);
        else Infer(predictor, o, videoName, outputVideoDir, cancellationToken);
    }

    static FolderFrameSource OpenVideo(VosInferenceOptions o, string videoName)
    {
        CheckVideos(o.BaseVideoDir, [videoName]);
        return new FolderFrameSource(Path.Combine(o.BaseVideoDir, videoName), JpegExtensions);
    }

    /// <summary>All objects tracked together from the masks of the first frame (or of every frame with masks).</summary>
    public static void Infer(Sam2VideoPredictor predictor, VosInferenceOptions o, string videoName, string outputVideoDir,
        CancellationToken cancellationToken = default)
    {
        var frames = OpenVideo(o, videoName);
        using var session = predictor.InitState(frames);
        var names = Enumerable.Range(0, frames.Count).Select(frames.Name).ToList();
        var videoMaskDir = Path.Combine(o.InputMaskDir, videoName);
        if (!Directory.Exists(videoMaskDir)) throw new Sam2Exception($"in video {videoName}: no input masks, folder {videoMaskDir} not found");

        List<int> inputFrames;
        if (!o.UseAllMasks) inputFrames = [0];
        else
        {
            var set = new SortedSet<int>();
            if (o.Layout == VosLayout.Palette)
            {
                for (int i = 0; i < names.Count; i++)
                    if (File.Exists(Path.Combine(videoMaskDir, names[i] + ".png"))) set.Add(i);
            }
            else
            {
                foreach (var (_, objDir) in VosMasks.ObjectFolders(videoMaskDir))
                    for (int i = 0; i < names.Count; i++)
                        if (File.Exists(Path.Combine(objDir, names[i] + ".png"))) set.Add(i);
            }
            if (set.Count == 0)
                throw new Sam2Exception($"in video {videoName}: no input masks in {o.InputMaskDir}; check that they are in the expected layout");
            inputFrames = set.ToList();
        }

        byte[]? palette = null;
        HashSet<int>? objectIds = null;
        foreach (int f in inputFrames)
        {
            Dictionary<int, bool[]> masks;
            try { masks = VosMasks.ReadFrame(videoMaskDir, names[f], o.Layout, false, ref palette, frames.Width, frames.Height); }
            catch (FileNotFoundException e)
            {
                throw new Sam2Exception($"in video {videoName}: no input mask for frame {f} ({e.FileName}); " +
                    $"set {TrackLater} for datasets whose objects do not all appear on the first frame (LVOS, YouTube-VOS)");
            }
            objectIds ??= masks.Keys.ToHashSet();
            foreach (var (id, m) in masks)
            {
                if (!objectIds.Contains(id))
                    throw new Sam2Exception($"in video {videoName}: object {id} appears on frame {f} but not on the first input frame; " +
                        $"set {TrackLater} for such datasets (LVOS, YouTube-VOS)");
                using var t = MaskTensor(m, frames.Width, frames.Height);
                predictor.AddNewMask(session, f, id, t).Dispose();
            }
        }
        if (objectIds is null || objectIds.Count == 0)
            throw new Sam2Exception($"in video {videoName}: no object in the input masks of frames {string.Join(", ", inputFrames)}; " +
                $"set {TrackLater} for datasets whose objects do not all appear on the first frame");

        palette ??= PalettePng.DavisPalette;
        Directory.CreateDirectory(outputVideoDir);
        foreach (var r in predictor.PropagateInVideo(session))
        {
            using (r)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var perObj = LabelMap.Threshold(r.MaskLogits, r.ObjIds, o.ScoreThresh);
                VosMasks.WriteFrame(outputVideoDir, names[r.FrameIdx], perObj, frames.Width, frames.Height, o.Layout, palette);
            }
        }
    }

    /// <summary>
    /// Each object tracked on its own from the first frame where its mask is not empty (every such frame with
    /// <see cref="VosInferenceOptions.UseAllMasks"/>); the per-object scores are then combined per frame.
    /// </summary>
    public static void InferPerObject(Sam2VideoPredictor predictor, VosInferenceOptions o, string videoName, string outputVideoDir,
        IProgress<string>? log = null,
        CancellationToken cancellationToken = default)
    {
        var frames = OpenVideo(o, videoName);
        using var session = predictor.InitState(frames);
        var names = Enumerable.Range(0, frames.Count).Select(frames.Name).ToList();
        var videoMaskDir = Path.Combine(o.InputMaskDir, videoName);
        if (!Directory.Exists(videoMaskDir)) throw new Sam2Exception($"in video {videoName}: no input masks, folder {videoMaskDir} not found");
        int w = frames.Width, h = frames.Height;

        byte[]? palette = null;
        var inputs = new SortedDictionary<int, SortedDictionary<int, bool[]>>();
        for (int f = 0; f < names.Count; f++)
        {
            if (o.Layout == VosLayout.Palette && !File.Exists(Path.Combine(videoMaskDir, names[f] + ".png"))) continue;
            var masks = VosMasks.ReadFrame(videoMaskDir, names[f], o.Layout, true, ref palette, w, h);
            foreach (var (id, m) in masks)
            {
                if (!m.Any(v => v)) continue;
                if (!inputs.TryGetValue(id, out var perFrame)) inputs[id] = perFrame = new();
                if (perFrame.Count > 0 && !o.UseAllMasks) continue;
                log?.Report($"adding mask from frame {f} as input for object {id}");
                perFrame[f] = m;
            }
        }

        var objectIds = inputs.Keys.ToList();
        // Scores at the video's size per object and frame; frames an object was not tracked on stay absent.
        var scores = objectIds.ToDictionary(id => id, _ => new Dictionary<int, Tensor>());
        try
        {
            foreach (int id in objectIds)
            {
                var inputFrames = inputs[id].Keys.ToList();
                predictor.ResetState(session);
                foreach (int f in inputFrames)
                {
                    using var t = MaskTensor(inputs[id][f], w, h);
                    predictor.AddNewMask(session, f, id, t).Dispose();
                }
                foreach (var r in predictor.PropagateInVideo(session, startFrameIdx: inputFrames.Min()))
                {
                    using (r)
                    using (var row = r.MaskLogits[0])
                        scores[id][r.FrameIdx] = row.clone();
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }

            palette ??= PalettePng.DavisPalette;
            Directory.CreateDirectory(outputVideoDir);
            for (int f = 0; f < names.Count; f++)
            {
                using var scope = NewDisposeScope();
                var all = full(objectIds.Count, 1, h, w, -1024.0f, dtype: float32, device: predictor.Model.Device);
                for (int i = 0; i < objectIds.Count; i++)
                    if (scores[objectIds[i]].TryGetValue(f, out var s)) all[TensorIndex.Slice(i, i + 1)] = s.unsqueeze(0);
                if (o.Layout == VosLayout.Palette) all = Modeling.Sam2Base.ApplyNonOverlappingConstraints(all);
                var perObj = LabelMap.Threshold(all, objectIds, o.ScoreThresh);
                VosMasks.WriteFrame(outputVideoDir, names[f], perObj, w, h, o.Layout, palette);
            }
        }
        finally
        {
            foreach (var d in scores.Values) foreach (var t in d.Values) t.Dispose();
            predictor.ResetState(session);
        }
    }

    static Tensor MaskTensor(bool[] mask, int width, int height) => tensor(mask, new long[] { height, width }, device: CPU);
}
