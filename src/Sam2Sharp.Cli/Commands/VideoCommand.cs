using System.CommandLine;
using System.Globalization;
using Sam2Sharp.Imaging;
using Sam2Sharp.IO;
using Sam2Sharp.Video;
using Spectre.Console;
using static TorchSharp.torch;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 video</c>: a scripted interactive video session (prompts, propagation, corrections) on a video.</summary>
public static class VideoCommand
{
    const string Help = """
        Segment and track objects through a video, running the steps of a JSON file in order, as an interactive session would.

        Steps file: {"steps": [...]}, each step one of
          {"op":"add_points","frame":F,"obj_id":O,"points":[[x,y],...],"labels":[1,0,...]}  (optional "clear_old_points": true|false, default true)
          {"op":"add_box","frame":F,"obj_id":O,"box":[x0,y0,x1,y1]}
          {"op":"add_mask","frame":F,"obj_id":O,"mask":"file.png"|"empty"}  (nonzero pixels = object; the video's size;
            optional "mask_value": V takes only the pixels of palette index / gray level V, e.g. one object of a DAVIS annotation)
          {"op":"propagate","reverse":false,"start_frame":F,"max_frames":N}  (all but op optional; default: from the first prompted frame to the end)
          {"op":"clear_prompts","frame":F,"obj_id":O}   {"op":"remove_object","obj_id":O}   {"op":"reset"}
        Coordinates are video pixels; relative paths are relative to the steps file; steps are numbered from 0.
        The whole file is checked against the video before the model is loaded.

        Outputs are numbered from 0: one per add or clear_prompts step, one per frame of a propagation, one per updated frame
        of remove_object (reset gives none). --save-tensors stores output k as s{k:02}_logits (objects × H × W float32 logits,
        objects in the order they were added). --output writes each frame's last state as an indexed PNG named like the frame
        (DAVIS layout: pixel value = object id, which must be 1-255, also for --overlay-video; where objects overlap the smaller id wins, as the
        reference's vos_inference does; --non-overlap-masks keeps only the highest-scoring object per pixel first).
        --overlay-video shows the frames that got an output, in frame order, each in its last state.

        Nothing is written under the given names until every step has run: outputs are written to hidden temporary
        files/folders beside them (.NAME.partial-XXXXXXXX) and moved into place at the end; on an error they are deleted
        and the exit code is 1 (a killed process may leave them behind). An existing --save-tensors or --overlay-video file
        is replaced; --output must be a new or empty folder.
        """;

    public static Command Create()
    {
        var model = new ModelOptions();
        var input = new Option<string>("--input") { Description = "The video: a folder of JPEG/PNG frames (ordered by the number in their names) or a video file (decoded with ffmpeg).", Required = true };
        var prompts = new Option<string>("--prompts") { Description = "The steps file (JSON, see above).", Required = true };
        var output = new Option<string?>("--output") { Description = "Folder for the masks: one indexed PNG per frame (DAVIS palette, value = object id)." };
        var overlay = new Option<string?>("--overlay-video") { Description = $"Video of the frames with the masks overlaid ({string.Join(", ", OverlayVideoWriter.Extensions)}; encoded with ffmpeg)." };
        var fps = new Option<double?>("--fps") { Description = "Frame rate of --overlay-video (default: the input video's, 24 for a folder of frames)." };
        var saveTensors = new Option<string?>("--save-tensors") { Description = "Safetensors file with every output's logits (s00_logits, s01_logits, …)." };
        var nonOverlap = new Option<bool>("--non-overlap-masks") { Description = "At each pixel keep only the highest-scoring object (the model's non_overlap_masks)." };
        var cmd = new Command("video", Help);
        model.AddTo(cmd);
        foreach (var o in new Option[] { input, prompts, output, overlay, fps, saveTensors, nonOverlap }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(() =>
        {
            var (checkpoint, config) = model.Resolve(r);
            return Execute(new Request(checkpoint!, config, r.GetValue(input)!, r.GetValue(prompts)!,
                r.GetValue(output), r.GetValue(overlay), r.GetValue(fps), r.GetValue(saveTensors), r.GetValue(nonOverlap)));
        }));
        return cmd;
    }

    sealed record Request(string Checkpoint, string? Config, string Input, string Prompts, string? Output, string? Overlay,
        double? Fps, string? SaveTensors, bool NonOverlapMasks);

    static int Execute(Request q)
    {
        // --- everything the user gave is checked before the model is loaded ---
        if (q.Output is null && q.Overlay is null && q.SaveTensors is null)
            throw new Sam2Exception("nothing to write: give --output, --overlay-video or --save-tensors");
        string? outDir = q.Output is null ? null : StagedOutputs.CheckTarget("--output", q.Output, folder: true);
        string? overlayPath = q.Overlay is null ? null : StagedOutputs.CheckTarget("--overlay-video", q.Overlay, folder: false);
        string? tensorsPath = q.SaveTensors is null ? null : StagedOutputs.CheckTarget("--save-tensors", q.SaveTensors, folder: false);
        var targets = new[] { outDir, overlayPath, tensorsPath }.Where(p => p is not null).ToList();
        if (targets.Distinct(StringComparer.Ordinal).Count() != targets.Count) throw new Sam2Exception("two outputs have the same path");
        if (q.Fps is { } f && !(f > 0 && double.IsFinite(f))) throw new Sam2Exception("--fps must be a positive number");
        if (!File.Exists(q.Checkpoint)) throw new Sam2Exception($"checkpoint not found: {q.Checkpoint}");
        string? encoder = null, frameRate = null;
        if (overlayPath is not null)
        {
            if (!OverlayVideoWriter.Extensions.Contains(Path.GetExtension(overlayPath).ToLowerInvariant()))
                throw new Sam2Exception($"--overlay-video {q.Overlay}: the name must end in one of {string.Join(", ", OverlayVideoWriter.Extensions)}");
            encoder = OverlayVideoWriter.ChooseEncoder();
            frameRate = q.Fps?.ToString("R", CultureInfo.InvariantCulture)
                ?? (File.Exists(q.Input) ? OverlayVideoWriter.FrameRateOf(q.Input) : null) ?? "24";
        }

        var frames = FrameSource.Open(q.Input);
        VideoSession? session = null;
        try
        {
            var steps = VideoSteps.Load(q.Prompts, frames);
            bool labelMaps = outDir is not null || overlayPath is not null;
            var allIds = steps.Select(ObjIdOf).Where(id => id is not null).Select(id => id!.Value).Distinct().Order().ToList();
            if (labelMaps)
            {
                foreach (var s in steps)
                    if (ObjIdOf(s) is { } id && id is < 1 or > 255)
                        throw new Sam2Exception($"{q.Prompts}: step {s.Index} ({s.Op}), field 'obj_id': {id} cannot be stored in an indexed PNG (--output/--overlay-video need object ids 1 to 255)");
                if (outDir is not null)
                {
                    var names = new HashSet<string>(StringComparer.Ordinal);
                    for (int i = 0; i < frames.Count; i++)
                        if (!names.Add(frames.Name(i))) throw new Sam2Exception($"--input {q.Input}: two frames are named {frames.Name(i)}, so their PNGs would collide");
                }
            }

            using var staged = new StagedOutputs();
            using var sam = Sam2Builder.Load(q.Config, q.Checkpoint, c => c.WithVideoPostprocessing() with { NonOverlapMasks = q.NonOverlapMasks });
            var predictor = new Sam2VideoPredictor(sam);
            session = predictor.InitState(frames);
            using var tensors = tensorsPath is null ? null : new SafetensorsStreamWriter(staged.Scratch(tensorsPath));
            var lastState = new SortedDictionary<int, byte[]>(); // frame → its latest label map, PNG-encoded (small)
            int outputs = 0;
            var framesWithOutput = new HashSet<int>();
            int width = frames.Width, height = frames.Height;

            void Emit(VideoFrameMasks r)
            {
                using (r)
                {
                    tensors?.Add($"s{outputs:D2}_logits", r.MaskLogits.squeeze(1));
                    if (labelMaps)
                    {
                        using var ms = new MemoryStream();
                        PalettePng.WriteIndexed(ms, LabelMap(r, height, width), width, height, PalettePng.DavisPalette);
                        lastState[r.FrameIdx] = ms.ToArray();
                    }
                    framesWithOutput.Add(r.FrameIdx);
                    outputs++;
                }
            }

            bool interactive = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
            foreach (var step in steps)
            {
                int before = outputs;
                try { RunStep(predictor, session, step, Emit, interactive); }
                catch (Exception e)
                {
                    // One line naming the step, whatever went wrong inside the predictor.
                    string msg = e is Sam2Exception ? e.Message : $"{e.GetType().Name}: {e.Message}";
                    throw new Sam2Exception($"step {step.Index} ({step.Op}): {msg.Split('\n')[0].Trim()}", e);
                }
                Console.WriteLine($"step {step.Index} {step.Op}: {Describe(before, outputs)}; objects: {(session.ObjIds.Count == 0 ? "none" : string.Join(", ", session.ObjIds))}");
            }

            // --- all steps ran: write everything under temporary names, then move it into place ---
            try
            {
                if (tensors is not null) tensors.Finish(staged.File(tensorsPath!));
                if (outDir is not null)
                {
                    var dir = staged.Folder(outDir);
                    foreach (var (frame, png) in lastState) File.WriteAllBytes(Path.Combine(dir, frames.Name(frame) + ".png"), png);
                }
                if (overlayPath is not null) WriteOverlay(staged.File(overlayPath), frames, lastState, allIds, frameRate!, encoder!);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new Sam2Exception($"writing the outputs failed: {e.Message}", e);
            }
            staged.Commit();
            Console.WriteLine($"{outputs} output(s) for {framesWithOutput.Count} frame(s); wrote {string.Join(", ", targets)}");
            return 0;
        }
        finally
        {
            if (session is not null) session.Dispose(); // also closes the frames
            else frames.Dispose();
        }
    }

    static string Describe(int before, int after) => (after - before) switch
    {
        0 => "no output",
        1 => $"output {before}",
        _ => $"outputs {before} to {after - 1}",
    };

    static int? ObjIdOf(VideoStep s) => s switch
    {
        AddPointsStep a => a.ObjId,
        AddBoxStep a => a.ObjId,
        AddMaskStep a => a.ObjId,
        ClearPromptsStep a => a.ObjId,
        RemoveObjectStep a => a.ObjId,
        _ => null,
    };

    static void RunStep(Sam2VideoPredictor p, VideoSession s, VideoStep step, Action<VideoFrameMasks> emit, bool interactive)
    {
        switch (step)
        {
            case AddPointsStep a:
                emit(p.AddNewPointsOrBox(s, a.Frame, a.ObjId, a.Points, a.Labels, clearOldPoints: a.ClearOldPoints));
                break;
            case AddBoxStep a:
                emit(p.AddNewPointsOrBox(s, a.Frame, a.ObjId, box: a.Box));
                break;
            case AddMaskStep a:
                using (var m = a.MaskPath is null ? zeros(s.VideoHeight, s.VideoWidth, ScalarType.Bool)
                       : a.MaskValue is int v ? MaskImages.ReadLabelTensor(a.MaskPath, v) : MaskImages.ReadPngTensor(a.MaskPath))
                    emit(p.AddNewMask(s, a.Frame, a.ObjId, m));
                break;
            case ClearPromptsStep a:
                emit(p.ClearAllPromptsInFrame(s, a.Frame, a.ObjId)!);
                break;
            case RemoveObjectStep a:
                foreach (var r in p.RemoveObject(s, a.ObjId).Updated) emit(r);
                break;
            case ResetStep:
                p.ResetState(s);
                break;
            case PropagateStep a:
                var results = p.PropagateInVideo(s, a.StartFrame, a.MaxFrames, a.Reverse); // the preflight has run here
                if (!interactive)
                {
                    foreach (var r in results) emit(r);
                    break;
                }
                int total = FrameCount(s, a);
                AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask($"step {a.Index} propagate{(a.Reverse ? " (reverse)" : "")}", maxValue: Math.Max(total, 1));
                        foreach (var r in results) { emit(r); task.Increment(1); }
                        task.Value = task.MaxValue;
                    });
                break;
            default:
                throw new InvalidOperationException(step.Op);
        }
    }

    /// <summary>How many frames a propagation visits (for the progress bar), the predictor's rule for its range.</summary>
    static int FrameCount(VideoSession s, PropagateStep a)
    {
        int start = a.StartFrame ?? s.Objects.SelectMany(o => o.Output.CondFrameOutputs.Keys).DefaultIfEmpty(0).Min();
        int max = a.MaxFrames ?? s.NumFrames;
        return a.Reverse ? (start > 0 ? start - Math.Max(start - max, 0) + 1 : 0) : Math.Max(0, Math.Min(start + max, s.NumFrames - 1) - start + 1);
    }

    /// <summary>
    /// The DAVIS label map of a frame: pixel = id of an object whose logit is &gt; 0, the smallest id where several are
    /// (the reference's vos_inference paints objects from the largest id down), 0 for background.
    /// </summary>
    static byte[] LabelMap(VideoFrameMasks r, int height, int width)
    {
        using var scope = NewDisposeScope();
        var label = zeros(height, width, ScalarType.Byte);
        foreach (var (id, i) in r.ObjIds.Select((id, i) => (id, i)).OrderByDescending(x => x.id))
            label = label.masked_fill(r.MaskLogits[i, 0] > 0, id);
        return label.data<byte>().ToArray();
    }

    static void WriteOverlay(string path, IFrameSource frames, SortedDictionary<int, byte[]> lastState, List<int> allIds, string frameRate, string encoder)
    {
        using var writer = new OverlayVideoWriter(path, frames.Width, frames.Height, frameRate, encoder);
        foreach (var (frame, png) in lastState)
        {
            var labels = PalettePng.Read(new MemoryStream(png), "label map").Samples;
            // One mask per object id of the whole run, so an object keeps its colour on every frame.
            var masks = allIds.Select(id =>
            {
                var m = new byte[labels.Length];
                for (int i = 0; i < m.Length; i++) m[i] = labels[i] == id ? (byte)1 : (byte)0;
                return m;
            }).ToList();
            writer.Write(MaskImages.Overlay(frames.Read(frame), masks));
        }
        writer.Finish();
    }
}
