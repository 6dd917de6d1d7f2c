using System.CommandLine;
using Sam2Sharp.Imaging;
using Sam2Sharp.IO;
using Sam2Sharp.Video;
using Spectre.Console;

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
        files/folders beside them (.NAME.partial-XXXXXXXX) and moved into place together at the end; on an error they are
        deleted and the exit code is 1. While it runs, each output is locked (.NAME.sam2-lock): a second run writing a same
        name fails at once. A run killed while moving its outputs is undone by the next run on those names (.NAME.sam2-commit).
        An existing --save-tensors or --overlay-video file is replaced (a symbolic link, FIFO or device never is);
        --output must be a new or empty folder.
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
        cmd.SetAction((r, ct) => Cli.Run(() =>
        {
            // The model is resolved (a --model fetched) only once the frames, steps and outputs are known to be good.
            return Execute(new Request(() => model.Resolve(r), r.GetValue(input)!, r.GetValue(prompts)!,
                r.GetValue(output), r.GetValue(overlay), r.GetValue(fps), r.GetValue(saveTensors), r.GetValue(nonOverlap), model.Options(r)), ct);
        }, ct));
        return cmd;
    }

    sealed record Request(Func<(string? Checkpoint, string? Config)> ResolveModel, string Input, string Prompts, string? Output, string? Overlay,
        double? Fps, string? SaveTensors, bool NonOverlapMasks, Sam2ModelOptions ModelOptions);

    static int Execute(Request q, CancellationToken ct)
    {
        // --- everything the user gave is checked before the model is loaded ---
        if (q.Output is null && q.Overlay is null && q.SaveTensors is null)
            throw new Sam2Exception("nothing to write: give --output, --overlay-video or --save-tensors");
        string? fps = q.Fps is { } f ? OverlayVideoWriter.FormatFrameRate(f, "--fps") : null;
        var frames = FrameSource.Open(q.Input);
        VideoSession? session = null;
        try
        {
            var steps = VideoSteps.Load(q.Prompts, frames);
            using var outputs = VideoOutputs.Open(new VideoOutputOptions(
                q.Output is null ? null : new OutputTarget("--output", q.Output, IsFolder: true),
                q.Overlay is null ? null : new OutputTarget("--overlay-video", q.Overlay),
                q.SaveTensors is null ? null : new OutputTarget("--save-tensors", q.SaveTensors),
                fps, File.Exists(q.Input) ? q.Input : null), frames, steps, q.Prompts);

            var (checkpoint, config) = q.ResolveModel();
            if (!File.Exists(checkpoint)) throw new Sam2Exception($"checkpoint not found: {checkpoint}");
            using var sam = Sam2Builder.Load(config, checkpoint, q.ModelOptions);
            var predictor = new Sam2VideoPredictor(sam, new Sam2VideoPredictorOptions { NonOverlapMasks = q.NonOverlapMasks });
            session = predictor.InitState(frames);
            var runner = new VideoStepRunner(predictor, session);
            bool interactive = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
            foreach (var step in steps)
            {
                int before = outputs.Count;
                if (interactive && step is PropagateStep) WithProgressBar(step, progress => Play(runner, step, outputs, progress, ct));
                else Play(runner, step, outputs, null, ct);
                Console.WriteLine($"step {step.Index} {step.Op}: {Describe(before, outputs.Count)}; objects: {(session.ObjIds.Count == 0 ? "none" : string.Join(", ", session.ObjIds))}");
            }
            outputs.Commit();
            Console.WriteLine($"{outputs.Count} output(s) for {outputs.FrameCount} frame(s); wrote {string.Join(", ", outputs.Paths)}");
            return 0;
        }
        finally
        {
            if (session is not null) session.Dispose(); // also closes the frames
            else frames.Dispose();
        }
    }

    static void Play(VideoStepRunner runner, VideoStep step, VideoOutputs outputs, IProgress<VideoStepProgress>? progress,
                     CancellationToken ct)
    {
        foreach (var r in runner.Play(step, progress, ct))
            using (r) outputs.Add(r);
    }

    /// <summary>Runs a propagation under the shared progress bar, fed by the runner's progress reports.</summary>
    static void WithProgressBar(VideoStep step, Action<IProgress<VideoStepProgress>> run) =>
        ProgressDisplay.Run($"step {step.Index} {step.Op}{(step is PropagateStep { Reverse: true } ? " (reverse)" : "")}", quiet: false,
            progress => run(new Reporter(p => progress?.Report(new Sam2Progress(p.Done, p.Total, "frames")))));

    /// <summary>Reports synchronously, on the thread that runs the step (Progress&lt;T&gt; would post to the thread pool).</summary>
    sealed class Reporter(Action<VideoStepProgress> report) : IProgress<VideoStepProgress>
    {
        public void Report(VideoStepProgress value) => report(value);
    }

    static string Describe(int before, int after) => (after - before) switch
    {
        0 => "no output",
        1 => $"output {before}",
        _ => $"outputs {before} to {after - 1}",
    };
}
