using System.CommandLine;
using Sam2Sharp.Batch;
using Sam2Sharp.Imaging;
using Sam2Sharp.IO;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 image</c>: masks for one image from points, boxes and/or a mask input.</summary>
public static class ImageCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var batch = new BatchOptions();
        var image = new Option<string?>("--image") { Description = "The image (PNG, JPEG, …); or a batch with --input-dir or --input-list." };
        var inputDir = new Option<string?>("--input-dir") { Description = "Batch: every image of this folder (sorted, hidden files left out); masks go to --output-dir." };
        var inputList = new Option<string?>("--input-list") { Description = "Batch: the images listed in this file, one path per line (relative to the file's folder)." };
        var outputDir = new Option<string?>("--output-dir") { Description = "Batch: the folder of every image's <stem>.png (<stem>-1.png, … for several masks)." };
        var promptsFile = new Option<string?>("--prompts") { Description = "Batch: a JSON file of each image's prompts, {\"IMAGE.jpg\": {\"points\": [[x, y], [x, y, 0]], \"boxes\": [[x0, y0, x1, y1]]}, …}; without it the --point/--box prompts apply to every image." };
        var overlays = new Option<bool>("--overlays") { Description = "Batch: also write <stem>.overlay.png per image." };
        var points = new Option<string[]>("--point") { Description = "A click X,Y[,LABEL] in image pixels; label 1 (default) foreground, 0 background. Repeatable.", AllowMultipleArgumentsPerToken = false };
        var boxes = new Option<string[]>("--box") { Description = "A box X0,Y0,X1,Y1 in image pixels. Several boxes are predicted as one batch." };
        var maskInput = new Option<string?>("--mask-input") { Description = "A safetensors file with `mask_input` (1×S/4×S/4 logits)." };
        var multimask = new Option<bool>("--multimask") { Description = "Output three masks per prompt instead of one." };
        var output = new Option<string?>("--output") { Description = "Mask PNG (0/255); with several masks, -1, -2 … are added before the extension." };
        var overlay = new Option<string?>("--overlay") { Description = "The image with each mask tinted and outlined (PNG)." };
        var saveTensors = new Option<string?>("--save-tensors") { Description = "Safetensors file with masks, iou_predictions, low_res_logits and logits." };
        var force = new Option<bool>("--force") { Description = "Replace output files that exist (never a symbolic link, FIFO or device)." };
        var embedding = new Option<string?>("--embedding") { Description = "Use the image's embedding saved by `sam2 embed` (same model, precision and image) instead of running the encoder." };
        var cmd = new Command("image", "Segment an image from points, boxes or a mask. Outputs are written under hidden temporary names and moved into place together at the end, all or none; an existing output is refused unless --force. " +
            "A batch (--input-dir or --input-list, --output-dir, prompts from --prompts or --point/--box for all) commits each image with a marker under <output-dir>/.sam2-tasks: " +
            "a re-run skips complete images and redoes the rest; --shard K/N (or a Slurm/Kubernetes array task) takes one shard of the sorted images.");
        model.AddTo(cmd);
        batch.AddTo(cmd);
        foreach (var o in new Option[] { image, inputDir, inputList, outputDir, promptsFile, overlays, points, boxes, maskInput, multimask, output, overlay, saveTensors, force, embedding }) cmd.Options.Add(o);
        cmd.SetAction((r, ct) => Cli.Run(() =>
        {
            if (r.GetValue(inputDir) is not null || r.GetValue(inputList) is not null)
            {
                if (new[] { r.GetValue(image), r.GetValue(output), r.GetValue(overlay), r.GetValue(saveTensors), r.GetValue(maskInput), r.GetValue(embedding) }.Any(v => v is not null))
                    throw new Sam2Exception("a batch (--input-dir or --input-list) takes --output-dir, and not --image, --output, --overlay, --save-tensors, --mask-input or --embedding");
                return RunBatch(r, model, batch, r.GetValue(inputDir), r.GetValue(inputList), r.GetValue(outputDir), r.GetValue(promptsFile),
                    r.GetValue(points) ?? [], r.GetValue(boxes) ?? [], r.GetValue(multimask), r.GetValue(overlays), ct);
            }
            if (r.GetValue(image) is null) throw new Sam2Exception("give --image, or --input-dir or --input-list for a batch");
            if (new[] { r.GetValue(outputDir), r.GetValue(promptsFile) }.Any(v => v is not null) || r.GetValue(overlays))
                throw new Sam2Exception("--output-dir, --prompts and --overlays are for a batch (--input-dir or --input-list)");
            var outputs = new[] { r.GetValue(output), r.GetValue(overlay), r.GetValue(saveTensors) }.Where(p => p is not null).Cast<string>().ToList();
            if (outputs.Count == 0) throw new Sam2Exception("nothing to write: give --output, --overlay or --save-tensors");
            // Everything the user gave is checked before the model is loaded, and nothing is written until all is computed.
            var img = RgbImage.Load(r.GetValue(image)!);
            var pts = (r.GetValue(points) ?? []).Select(PromptParsing.Point).ToList();
            foreach (var (p, i) in pts.Select((p, i) => (p, i))) PromptParsing.CheckInside($"--point {i + 1}", p.X, p.Y, img.Width, img.Height);
            var bxs = (r.GetValue(boxes) ?? []).Select(PromptParsing.Box).ToList();
            foreach (var (b, i) in bxs.Select((b, i) => (b, i)))
            {
                PromptParsing.CheckInside($"--box {i + 1} corner", b[0], b[1], img.Width, img.Height);
                PromptParsing.CheckInside($"--box {i + 1} corner", b[2], b[3], img.Width, img.Height);
            }
            Tensor? mask = null;
            if (r.GetValue(maskInput) is { } mf) mask = ReadMaskInput(mf);
            if (pts.Count == 0 && bxs.Count == 0 && mask is null) throw new Sam2Exception("no prompt: give --point, --box or --mask-input");

            // The outputs are checked and locked before the model is loaded (a mask per box, three with --multimask).
            int maskCount = Math.Max(1, bxs.Count) * (r.GetValue(multimask) ? 3 : 1);
            var maskPaths = r.GetValue(output) is { } outPath
                ? ImagePromptBatch.MaskPaths(outPath, maskCount) : [];
            bool overwrite = r.GetValue(force);
            var targets = maskPaths.Select(p => new OutputTarget("--output", p, Overwrite: overwrite)).ToList();
            if (r.GetValue(overlay) is { } ovPath) targets.Add(new OutputTarget("--overlay", ovPath, Overwrite: overwrite));
            if (r.GetValue(saveTensors) is { } stPath) targets.Add(new OutputTarget("--save-tensors", stPath, Overwrite: overwrite));
            using var staged = StagedOutputs.Open(targets);

            using var sam = model.Load(r);
            if (mask is not null && (mask.shape[^1] != sam.ImageSize / 4 || mask.shape[^2] != sam.ImageSize / 4))
                throw new Sam2Exception($"--mask-input {r.GetValue(maskInput)}: mask_input is [{string.Join(",", mask.shape)}], expected 1×{sam.ImageSize / 4}×{sam.ImageSize / 4}");
            using var predictor = new Sam2ImagePredictor(sam);
            if (r.GetValue(embedding) is { } embeddingPath) predictor.LoadEmbedding(embeddingPath, img);
            else predictor.SetImage(img);
            float[,]? coords = pts.Count > 0 ? To2d(pts.Select(p => new[] { p.X, p.Y }).ToList()) : null;
            int[]? labels = pts.Count > 0 ? pts.Select(p => p.Label).ToArray() : null;
            float[,]? boxArr = bxs.Count > 0 ? To2d(bxs) : null;
            using var pred = predictor.Predict(coords, labels, boxArr, mask, r.GetValue(multimask), returnLogits: true);
            using var logits = pred.Masks;
            using var masks = (logits > predictor.MaskThreshold).to_type(ScalarType.Byte);
            var flat = masks.reshape(-1, img.Height, img.Width);
            var maskList = Enumerable.Range(0, (int)flat.shape[0]).Select(i => flat[i]).ToList();
            if (maskList.Count != maskCount) throw new InvalidOperationException($"{maskList.Count} masks predicted, {maskCount} expected");

            try
            {
                for (int i = 0; i < maskPaths.Count; i++) MaskImages.WritePng(staged.File(maskPaths[i]), maskList[i]);
                if (r.GetValue(overlay) is { } ov) MaskImages.WriteOverlay(staged.File(ov), img, maskList);
                if (r.GetValue(saveTensors) is { } st)
                {
                    Safetensors.SaveStateDict(staged.File(st), new Dictionary<string, Tensor>
                    {
                        ["masks"] = masks,
                        ["iou_predictions"] = pred.IouPredictions,
                        ["low_res_logits"] = pred.LowResLogits,
                        ["logits"] = logits.to_type(ScalarType.Float32),
                    });
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new Sam2Exception($"writing the outputs failed: {e.Message}", e);
            }
            staged.Commit();
            Console.WriteLine($"{maskList.Count} mask(s); IoU predictions: {string.Join(" ", pred.IouPredictions.flatten().data<float>().ToArray().Select(v => v.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))}");
            return 0;
        }, ct));
        return cmd;
    }

    static Tensor ReadMaskInput(string path)
    {
        using var reader = IO.CheckpointReader.Open(path, "--mask-input");
        if (!reader.Tensors.ContainsKey("mask_input")) throw new Sam2Exception($"--mask-input {path} has no tensor named mask_input");
        var m = reader.Read("mask_input");
        if (m.dim() == 2) m = m.unsqueeze(0);
        if (m.dim() != 3 || m.shape[0] != 1) throw new Sam2Exception($"--mask-input {path}: mask_input is [{string.Join(",", m.shape)}], expected 1×H×W");
        return m.to_type(ScalarType.Float32);
    }

    static float[,] To2d(IReadOnlyList<float[]> rows)
    {
        var a = new float[rows.Count, rows[0].Length];
        for (int i = 0; i < rows.Count; i++) for (int j = 0; j < rows[0].Length; j++) a[i, j] = rows[i][j];
        return a;
    }

    static int RunBatch(ParseResult r, ModelOptions model, BatchOptions batch, string? inputDir, string? inputList, string? outputDir,
        string? promptsFile, string[] points, string[] boxes, bool multimask, bool overlays, CancellationToken cancellationToken)
    {
        if (outputDir is null) throw new Sam2Exception("a batch needs --output-dir");
        var images = ImageBatch.List(inputDir, inputList);
        Func<BatchImage, ImagePrompts> promptsOf;
        if (promptsFile is not null)
        {
            if (points.Length > 0 || boxes.Length > 0) throw new Sam2Exception("give either --prompts or --point/--box, not both");
            var byImage = ImagePromptsFile.Read(promptsFile);
            if (images.FirstOrDefault(i => !byImage.ContainsKey(i.Name)) is { } missing)
                throw new Sam2Exception($"prompts file {promptsFile} has no prompts for image {missing.Name}");
            promptsOf = i => byImage[i.Name];
        }
        else
        {
            var all = new ImagePrompts(points.Select(PromptParsing.Point).Select(p => new PromptPoint(p.X, p.Y, p.Label == 0 ? PointLabel.Background : PointLabel.Foreground)).ToList(),
                boxes.Select(PromptParsing.Box).Select(b => new PromptBox(b[0], b[1], b[2], b[3])).ToList());
            if (all.Points.Count == 0 && all.Boxes.Count == 0) throw new Sam2Exception("no prompt: give --prompts, or --point or --box for every image");
            promptsOf = _ => all;
        }
        var runner = ImagePromptBatch.Open(images, outputDir, batch.Resolve(r), promptsOf, multimask, overlays);
        // No model is loaded when every image of the shard is already complete.
        using var sam = runner.Pending.Count > 0 ? model.Load(r) : null;
        using var predictor = sam is null ? null : new Sam2ImagePredictor(sam);
        var report = ProgressDisplay.Run("images", false, progress => ImagePromptBatch.Run(predictor, images, runner, promptsOf, multimask, overlays, progress, cancellationToken));
        return BatchOptions.Finish(report, "images", outputDir, quiet: false);
    }
}
