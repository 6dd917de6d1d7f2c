using System.CommandLine;
using Sam2Sharp.Evaluation;
using Sam2Sharp.IO;
using Sam2Sharp.Video;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 vos</c>: batch semi-supervised VOS inference (the reference's tools/vos_inference.py).</summary>
public static class VosCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var batch = new BatchOptions();
        var baseVideoDir = new Option<string>("--base-video-dir") { Description = "Folder with one folder of JPEG frames per video (e.g. DAVIS/JPEGImages/480p, sav_val/JPEGImages_24fps)", Required = true };
        var inputMaskDir = new Option<string>("--input-mask-dir") { Description = "Input masks: <video>/<frame>.png palette PNGs (DAVIS), or <video>/<object>/<frame>.png with --per-obj-png-file (SA-V)", Required = true };
        var outputMaskDir = new Option<string>("--output-mask-dir") { Description = "Where to write the predicted masks, in the input's layout", Required = true };
        var videoList = new Option<string?>("--video-list-file") { Description = "Text file with one video name per line (default: every folder in --base-video-dir)" };
        var scoreThresh = new Option<double>("--score-thresh") { Description = "Threshold on the mask logits (default 0)", DefaultValueFactory = _ => 0.0 };
        var useAll = new Option<bool>("--use-all-masks") { Description = "Prompt with every mask file found, not only the first frame's" };
        var perObj = new Option<bool>("--per-obj-png-file") { Description = "One PNG per object and frame (SA-V layout), masks may overlap; default: one palette PNG per frame (DAVIS layout), non-overlapping" };
        var post = new Option<bool>("--apply-postprocessing") { Description = "Apply the video predictor's post-processing (hole filling, dynamic multimask); the published figures are without it" };
        var later = new Option<bool>("--track-object-appearing-later-in-video") { Description = "Track each object on its own from the first frame it appears on (LVOS, YouTube-VOS)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only the final line" };

        var cmd = new Command("vos", "Segment videos from their first-frame masks and write the predicted masks (then score them with `sam2 eval`). " +
            "Each video is committed whole with a marker under <output>/.sam2-tasks; a re-run skips complete videos and redoes the rest");
        model.AddTo(cmd);
        batch.AddTo(cmd);
        foreach (var o in new Option[] { baseVideoDir, inputMaskDir, outputMaskDir, videoList, scoreThresh, useAll, perObj, post, later, quiet })
            cmd.Options.Add(o);
        cmd.SetAction((r, ct) => Cli.Run(() =>
        {
            var options = new VosInferenceOptions
            {
                BaseVideoDir = r.GetValue(baseVideoDir)!,
                InputMaskDir = r.GetValue(inputMaskDir)!,
                OutputMaskDir = r.GetValue(outputMaskDir)!,
                ScoreThresh = r.GetValue(scoreThresh),
                UseAllMasks = r.GetValue(useAll),
                Layout = r.GetValue(perObj) ? VosLayout.PerObject : VosLayout.Palette,
                TrackObjectAppearingLaterInVideo = r.GetValue(later),
            };
            bool isQuiet = r.GetValue(quiet);
            // Paths are checked before the model is loaded.
            VosInference.CheckFolders(options);
            var videos = VosInference.VideoNames(options.BaseVideoDir, r.GetValue(videoList));
            VosInference.CheckVideos(options.BaseVideoDir, videos, options.InputMaskDir);
            var shard = batch.Resolve(r);
            var runner = VosInference.OpenBatch(options, videos, shard);

            // No model is loaded when every video of the shard is already complete.
            using var sam = runner.Pending.Count > 0 ? model.Load(r, new Sam2ModelOptions { ApplyPostprocessing = r.GetValue(post) }) : null;
            var predictor = sam is null ? null : new Sam2VideoPredictor(sam, VosInference.PredictorOptions(options.Layout));
            if (!isQuiet)
            {
                Console.WriteLine(options.UseAllMasks
                    ? "Using all available masks in the input mask folder as prompts."
                    : "Using only the first frame's masks as prompts.");
                Console.WriteLine($"Running VOS prediction on {runner.Items.Count} videos{(shard.IsAll ? "" : $" (shard {shard} of {videos.Count})")}: {string.Join(", ", runner.Items)}");
            }
            var report = ProgressDisplay.Run("videos", isQuiet, progress => VosInference.Run(predictor, options, runner, progress, ct));
            if (report.Succeeded)
                Console.WriteLine($"Completed VOS prediction on {runner.Items.Count} videos; output masks saved to {options.OutputMaskDir}");
            return BatchOptions.Finish(report, "videos", options.OutputMaskDir, isQuiet);
        }, ct));
        return cmd;
    }
}
