using System.CommandLine;
using Sam2Sharp.Amg;
using Sam2Sharp.Batch;
using Sam2Sharp.IO;
using Sam2Sharp.Imaging;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 amg</c>: every mask of an image from a grid of point prompts (the automatic mask generator).</summary>
public static class AmgCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var d = new AmgOptions();
        var batch = new BatchOptions();
        var image = new Option<string?>("--image") { Description = "The image (PNG, JPEG, …); or a batch with --input-dir or --input-list." };
        var inputDir = new Option<string?>("--input-dir") { Description = "Batch: every image of this folder (sorted, hidden files left out); outputs go to --output-dir." };
        var inputList = new Option<string?>("--input-list") { Description = "Batch: the images listed in this file, one path per line (relative to the file's folder)." };
        var pngMasks = new Option<bool>("--png-masks") { Description = "Batch: also write <stem>/mask_000.png, … (0/255) per image." };
        var overlays = new Option<bool>("--overlays") { Description = "Batch: also write <stem>.overlay.png per image." };
        var outputJson = new Option<string?>("--output-json") { Description = "The annotations as JSON: a list of {segmentation, area, bbox, predicted_iou, point_coords, stability_score, crop_box}." };
        var outputDir = new Option<string?>("--output-dir") { Description = "A directory for one mask PNG (0/255) per annotation: mask_000.png, …; in a batch, the folder of every image's <stem>.json (the same annotations JSON)." };
        var overlay = new Option<string?>("--overlay") { Description = "The image with every mask tinted and outlined (PNG)." };

        // One option per argument of the reference SAM2AutomaticMaskGenerator, with its defaults.
        var pointsPerSide = new Option<int?>("--points-per-side") { Description = "Points along each side of the grid (default 32; not with --point-grids)." };
        var pointGrids = new Option<string?>("--point-grids") { Description = "A JSON file with explicit grids in [0,1]², one per crop layer: [[[x, y], …], …] (not with --points-per-side)." };
        var pointsPerBatch = new Option<int>("--points-per-batch") { Description = "Points decoded at once.", DefaultValueFactory = _ => d.PointsPerBatch };
        var predIouThresh = new Option<double>("--pred-iou-thresh") { Description = "Drop masks whose predicted IoU is not above this.", DefaultValueFactory = _ => d.PredIouThresh };
        var stabilityThresh = new Option<double>("--stability-score-thresh") { Description = "Drop masks whose stability score is below this.", DefaultValueFactory = _ => d.StabilityScoreThresh };
        var stabilityOffset = new Option<double>("--stability-score-offset") { Description = "Cutoff shift for the stability score.", DefaultValueFactory = _ => d.StabilityScoreOffset };
        var maskThreshold = new Option<double>("--mask-threshold") { Description = "Logit threshold of a mask.", DefaultValueFactory = _ => d.MaskThreshold };
        var boxNms = new Option<double>("--box-nms-thresh") { Description = "Box IoU cutoff of NMS within a crop.", DefaultValueFactory = _ => d.BoxNmsThresh };
        var cropLayers = new Option<int>("--crop-n-layers") { Description = "Crop layers after the whole image (layer i has 2^i × 2^i crops).", DefaultValueFactory = _ => d.CropNLayers };
        var cropNms = new Option<double>("--crop-nms-thresh") { Description = "Box IoU cutoff of NMS between crops.", DefaultValueFactory = _ => d.CropNmsThresh };
        var cropOverlap = new Option<double>("--crop-overlap-ratio") { Description = "Crop overlap as a fraction of the short side.", DefaultValueFactory = _ => d.CropOverlapRatio };
        var cropDownscale = new Option<int>("--crop-n-points-downscale-factor") { Description = "Points per side in layer n are divided by this to the power n.", DefaultValueFactory = _ => d.CropNPointsDownscaleFactor };
        var minRegion = new Option<int>("--min-mask-region-area") { Description = "Remove holes and islands up to this area in the low-resolution masks.", DefaultValueFactory = _ => d.MinMaskRegionArea };
        var outputMode = new Option<string>("--output-mode") { Description = "binary_mask, uncompressed_rle or coco_rle.", DefaultValueFactory = _ => AmgOptions.OutputModeName(d.OutputMode) };
        var useM2m = new Option<bool>("--use-m2m") { Description = "Refine each mask once with its own logits as a mask prompt (true/false).", DefaultValueFactory = _ => d.UseM2m };
        var multimask = new Option<bool>("--multimask-output") { Description = "Three masks per point (true/false).", DefaultValueFactory = _ => d.MultimaskOutput };

        var cmd = new Command("amg", "Segment everything in an image with the automatic mask generator. A batch (--input-dir or --input-list) " +
            "writes one <stem>.json per image into --output-dir, each image committed with a marker under <output-dir>/.sam2-tasks: a re-run " +
            "skips complete images and redoes the rest; --shard K/N (or a Slurm/Kubernetes array task) takes one shard of the sorted images.");
        model.AddTo(cmd);
        batch.AddTo(cmd);
        foreach (var o in new Option[] { image, inputDir, inputList, pngMasks, overlays, outputJson, outputDir, overlay, pointsPerSide, pointGrids, pointsPerBatch, predIouThresh,
                     stabilityThresh, stabilityOffset, maskThreshold, boxNms, cropLayers, cropNms, cropOverlap, cropDownscale, minRegion,
                     outputMode, useM2m, multimask })
            cmd.Options.Add(o);

        cmd.SetAction((r, ct) => Cli.Run(() =>
        {
            // Everything the user gave is checked before the model is loaded; nothing is written until all is computed.
            string? jsonPath = r.GetValue(outputJson), dirPath = r.GetValue(outputDir), overlayPath = r.GetValue(overlay);
            bool isBatch = r.GetValue(inputDir) is not null || r.GetValue(inputList) is not null;
            if (isBatch && (r.GetValue(image) is not null || jsonPath is not null || overlayPath is not null || dirPath is null))
                throw new Sam2Exception("a batch (--input-dir or --input-list) takes --output-dir, and not --image, --output-json or --overlay");
            if (!isBatch && r.GetValue(image) is null) throw new Sam2Exception("give --image, or --input-dir or --input-list for a batch");
            if (!isBatch && (r.GetValue(pngMasks) || r.GetValue(overlays)))
                throw new Sam2Exception("--png-masks and --overlays are for a batch (--input-dir or --input-list)");
            if (jsonPath is null && dirPath is null && overlayPath is null)
                throw new Sam2Exception("nothing to write: give --output-json, --output-dir or --overlay");
            var grids = r.GetValue(pointGrids) is { } gridFile ? PointGridsFile.Read(gridFile) : null;
            var options = new AmgOptions
            {
                PointsPerSide = r.GetValue(pointsPerSide) ?? (grids is null ? d.PointsPerSide : null),
                PointGrids = grids,
                PointsPerBatch = r.GetValue(pointsPerBatch),
                PredIouThresh = r.GetValue(predIouThresh),
                StabilityScoreThresh = r.GetValue(stabilityThresh),
                StabilityScoreOffset = r.GetValue(stabilityOffset),
                MaskThreshold = r.GetValue(maskThreshold),
                BoxNmsThresh = r.GetValue(boxNms),
                CropNLayers = r.GetValue(cropLayers),
                CropNmsThresh = r.GetValue(cropNms),
                CropOverlapRatio = r.GetValue(cropOverlap),
                CropNPointsDownscaleFactor = r.GetValue(cropDownscale),
                MinMaskRegionArea = r.GetValue(minRegion),
                OutputMode = AmgOptions.ParseOutputMode(r.GetValue(outputMode)),
                UseM2m = r.GetValue(useM2m),
                MultimaskOutput = r.GetValue(multimask),
            };
            options.Validate();
            if (isBatch) return RunBatch(r, model, batch, options, r.GetValue(inputDir), r.GetValue(inputList), dirPath!, r.GetValue(pngMasks), r.GetValue(overlays), ct);
            var img = RgbImage.Load(r.GetValue(image)!);
            // The outputs are checked and locked before the model is loaded, and committed together at the end.
            var outputs = new AmgOutputs(jsonPath, dirPath, overlayPath);
            using var staged = StagedOutputs.Open(outputs.Targets("--output-json", "--output-dir", "--overlay"));

            List<MaskAnnotation> anns;
            using (var sam = model.Load(r))
            using (var generator = new Sam2AutomaticMaskGenerator(sam, options))
                anns = ProgressDisplay.Run("masks", quiet: !ProgressDisplay.IsInteractive(false), progress => generator.Generate(img, progress, ct));
            outputs.Write(staged, img, anns);
            staged.Commit();
            Console.WriteLine($"{anns.Count} mask(s)");
            return 0;
        }, ct));
        return cmd;
    }

    static int RunBatch(ParseResult r, ModelOptions model, BatchOptions batch, AmgOptions options, string? inputDir, string? inputList,
        string outputDir, bool masks, bool overlays, CancellationToken cancellationToken)
    {
        var images = ImageBatch.List(inputDir, inputList);
        AmgOutputs OutputsOf(BatchImage i) => AmgOutputs.ForBatch(outputDir, i, json: true, masks, overlays);
        var runner = AmgBatch.Open(images, outputDir, batch.Resolve(r), OutputsOf);
        // No model is loaded when every image of the shard is already complete.
        using var sam = runner.Pending.Count > 0 ? model.Load(r) : null;
        using var generator = sam is null ? null : new Sam2AutomaticMaskGenerator(sam, options);
        var report = ProgressDisplay.Run("images", false, progress => AmgBatch.Run(generator, images, runner, OutputsOf, progress, cancellationToken));
        return BatchOptions.Finish(report, "images", outputDir, quiet: false);
    }
}
