using System.Globalization;
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

    /// <summary>
    /// The model settings the tool builds with: masks kept apart (non-overlapping) in the DAVIS layout only, and the
    /// video predictor's post-processing only when asked for (the benchmark figures are without it).
    /// </summary>
    public static Func<Sam2Config, Sam2Config> ConfigAdjustment(VosLayout layout, bool applyPostprocessing) => c =>
        (applyPostprocessing ? c.WithVideoPostprocessing() : c) with { NonOverlapMasks = layout == VosLayout.Palette };

    /// <summary>The videos: the lines of <paramref name="videoListFile"/> if given, else every sub-folder of the video folder (sorted).</summary>
    public static IReadOnlyList<string> VideoNames(string baseVideoDir, string? videoListFile)
    {
        if (videoListFile is not null)
        {
            if (!File.Exists(videoListFile)) throw new Sam2Exception($"video list file not found: {videoListFile}");
            return File.ReadAllLines(videoListFile).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        }
        if (!Directory.Exists(baseVideoDir)) throw new Sam2Exception($"video folder not found: {baseVideoDir}");
        return Directory.GetDirectories(baseVideoDir).Select(Path.GetFileName).Cast<string>()
            .OrderBy(n => n, StringComparer.Ordinal).ToList();
    }

    /// <summary>Checks the folders before any model work, so that a wrong path fails at once.</summary>
    public static void CheckFolders(VosInferenceOptions o)
    {
        if (!Directory.Exists(o.BaseVideoDir)) throw new Sam2Exception($"video folder not found: {o.BaseVideoDir}");
        if (!Directory.Exists(o.InputMaskDir)) throw new Sam2Exception($"input mask folder not found: {o.InputMaskDir}");
    }

    /// <summary>Every listed video has its frame folder (checked before any model work).</summary>
    public static void CheckVideos(string baseVideoDir, IEnumerable<string> videos)
    {
        foreach (var v in videos)
            if (!Directory.Exists(Path.Combine(baseVideoDir, v)))
                throw new Sam2Exception($"video {v} not found: no folder {Path.Combine(baseVideoDir, v)}");
    }

    /// <summary>One video, with all objects together or (for objects appearing later) each on its own.</summary>
    public static void RunVideo(Sam2VideoPredictor predictor, VosInferenceOptions o, string videoName, Action<string>? log = null)
    {
        if (o.TrackObjectAppearingLaterInVideo) InferPerObject(predictor, o, videoName, log);
        else Infer(predictor, o, videoName);
    }

    static FolderFrameSource OpenVideo(VosInferenceOptions o, string videoName)
    {
        CheckVideos(o.BaseVideoDir, [videoName]);
        return new FolderFrameSource(Path.Combine(o.BaseVideoDir, videoName), JpegExtensions);
    }

    /// <summary>All objects tracked together from the masks of the first frame (or of every frame with masks).</summary>
    public static void Infer(Sam2VideoPredictor predictor, VosInferenceOptions o, string videoName)
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
                    "use --track-object-appearing-later-in-video for datasets whose objects do not all appear on the first frame (LVOS, YouTube-VOS)");
            }
            objectIds ??= masks.Keys.ToHashSet();
            foreach (var (id, m) in masks)
            {
                if (!objectIds.Contains(id))
                    throw new Sam2Exception($"in video {videoName}: object {id} appears on frame {f} but not on the first input frame; " +
                        "use --track-object-appearing-later-in-video for such datasets (LVOS, YouTube-VOS)");
                using var t = MaskTensor(m, frames.Width, frames.Height);
                predictor.AddNewMask(session, f, id, t).Dispose();
            }
        }
        if (objectIds is null || objectIds.Count == 0)
            throw new Sam2Exception($"in video {videoName}: no object in the input masks of frames {string.Join(", ", inputFrames)}; " +
                "use --track-object-appearing-later-in-video for datasets whose objects do not all appear on the first frame");

        palette ??= PalettePng.DavisPalette;
        Directory.CreateDirectory(Path.Combine(o.OutputMaskDir, videoName));
        foreach (var r in predictor.PropagateInVideo(session))
        {
            using (r)
            {
                var perObj = LabelMap.Threshold(r.MaskLogits, r.ObjIds, o.ScoreThresh);
                VosMasks.WriteFrame(Path.Combine(o.OutputMaskDir, videoName), names[r.FrameIdx], perObj, frames.Width, frames.Height, o.Layout, palette);
            }
        }
    }

    /// <summary>
    /// Each object tracked on its own from the first frame where its mask is not empty (every such frame with
    /// <see cref="VosInferenceOptions.UseAllMasks"/>); the per-object scores are then combined per frame.
    /// </summary>
    public static void InferPerObject(Sam2VideoPredictor predictor, VosInferenceOptions o, string videoName, Action<string>? log = null)
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
                log?.Invoke($"adding mask from frame {f} as input for object {id}");
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
                }
            }

            palette ??= PalettePng.DavisPalette;
            Directory.CreateDirectory(Path.Combine(o.OutputMaskDir, videoName));
            for (int f = 0; f < names.Count; f++)
            {
                using var scope = NewDisposeScope();
                var all = full(objectIds.Count, 1, h, w, -1024.0f, dtype: float32);
                for (int i = 0; i < objectIds.Count; i++)
                    if (scores[objectIds[i]].TryGetValue(f, out var s)) all[TensorIndex.Slice(i, i + 1)] = s.unsqueeze(0);
                if (o.Layout == VosLayout.Palette) all = Modeling.Sam2Base.ApplyNonOverlappingConstraints(all);
                var perObj = LabelMap.Threshold(all, objectIds, o.ScoreThresh);
                VosMasks.WriteFrame(Path.Combine(o.OutputMaskDir, videoName), names[f], perObj, w, h, o.Layout, palette);
            }
        }
        finally
        {
            foreach (var d in scores.Values) foreach (var t in d.Values) t.Dispose();
            predictor.ResetState(session);
        }
    }

    static Tensor MaskTensor(bool[] mask, int width, int height) => tensor(mask, new long[] { height, width });
}
