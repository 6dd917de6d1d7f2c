using System.CommandLine;
using System.Globalization;
using Sam2Sharp.Evaluation;
using Sam2Sharp.Video;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 clicks</c>: interactive segmentation with simulated clicks (mean IoU per click, NoC@85, NoC@90).</summary>
public static class ClicksCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var images = new Option<string?>("--images") { Description = "Folder of images (JPEG/PNG) to click on" };
        var masks = new Option<string?>("--masks") { Description = "Ground truth for --images: <image stem>.png, a palette PNG (each object id is a target) or a 0/255 PNG (one target)" };
        var video = new Option<string?>("--video") { Description = "A video (folder of frames or video file) to click on, frame by frame" };
        var videoMasks = new Option<string?>("--video-masks") { Description = "Ground truth for --video: <frame name>.png palette PNGs (DAVIS layout)" };
        var frames = new Option<string?>("--frames") { Description = "Frames of --video to click on, e.g. 0,10,20" };
        var maxClicks = new Option<int>("--max-clicks") { Description = "Clicks per target (default 20)", DefaultValueFactory = _ => ClickEvaluation.DefaultMaxClicks };
        var outputDir = new Option<string?>("--output-dir") { Description = "Write results.json and curve.png (mean IoU per click) here" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only the figures" };

        var cmd = new Command("clicks", "Interactive segmentation benchmark: a simulated user clicks the centre of the largest error, up to --max-clicks times per object");
        model.AddTo(cmd);
        foreach (var o in new Option[] { images, masks, video, videoMasks, frames, maxClicks, outputDir, quiet }) cmd.Options.Add(o);
        cmd.SetAction((r, ct) => Cli.Run(() =>
        {
            int budget = r.GetValue(maxClicks);
            if (budget < 1) throw new Sam2Exception("--max-clicks must be at least 1");
            bool isQuiet = r.GetValue(quiet);
            Action<string>? log = isQuiet ? null : Console.WriteLine;
            var imagesDir = r.GetValue(images);
            var videoPath = r.GetValue(video);
            if ((imagesDir is null) == (videoPath is null)) throw new Sam2Exception("give either --images with --masks, or --video with --video-masks and --frames");

            ClickEvaluationResult result;
            if (imagesDir is not null)
            {
                var masksDir = r.GetValue(masks) ?? throw new Sam2Exception("--images needs --masks");
                ClickEvaluation.ImagePairs(imagesDir, masksDir); // fail on a missing mask before loading the model
                using var sam = model.Load(r);
                using var predictor = new Sam2ImagePredictor(sam);
                result = ClickEvaluation.EvaluateImages(predictor, imagesDir, masksDir, budget, log, ct);
            }
            else
            {
                var masksDir = r.GetValue(videoMasks) ?? throw new Sam2Exception("--video needs --video-masks");
                var frameList = ParseFrames(r.GetValue(frames) ?? throw new Sam2Exception("--video needs --frames, e.g. --frames 0,10,20"));
                if (!Directory.Exists(masksDir)) throw new Sam2Exception($"video mask folder not found: {masksDir}");
                if (!Directory.Exists(videoPath) && !File.Exists(videoPath)) throw new Sam2Exception($"video not found: {videoPath}");
                using var sam = model.Load(r);
                var predictor = new Sam2VideoPredictor(sam);
                result = ClickEvaluation.EvaluateVideo(predictor, videoPath!, masksDir, frameList, budget, log, ct);
            }

            Console.Write(result.ToText());
            if (r.GetValue(outputDir) is { } dir)
            {
                result.WriteOutputs(dir);
                Console.WriteLine($"Saved {Path.Combine(dir, "results.json")} and {Path.Combine(dir, "curve.png")}");
            }
            return 0;
        }, ct, () => "nothing was written"));
        return cmd;
    }

    static List<int> ParseFrames(string s)
    {
        var list = new List<int>();
        foreach (var part in s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int f))
                throw new Sam2Exception($"--frames: '{part}' is not a frame index (give e.g. 0,10,20)");
            list.Add(f);
        }
        if (list.Count == 0) throw new Sam2Exception("--frames: no frame given");
        return list;
    }
}
