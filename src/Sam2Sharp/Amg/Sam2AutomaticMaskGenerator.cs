using Sam2Sharp.Benchmarking;
using Sam2Sharp.Imaging;
using Sam2Sharp.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Amg;

/// <summary>
/// Masks for a whole image without prompts, as the reference's SAM2AutomaticMaskGenerator: a grid
/// of point prompts over the image (and optionally over overlapping crops), each decoded into
/// masks, filtered by predicted IoU and stability, de-duplicated by box NMS within and then
/// across crops.
/// </summary>
public sealed class Sam2AutomaticMaskGenerator : IDisposable
{
    /// <summary>The generator's settings (validated).</summary>
    public AmgOptions Options { get; }
    /// <summary>The image predictor that decodes the point prompts.</summary>
    public Sam2ImagePredictor Predictor { get; }

    readonly IReadOnlyList<double[,]> pointGrids;

    /// <summary>
    /// Crops of one layer encoded together at most (the image encoder's activations grow with the batch); 1 encodes
    /// the crops one at a time. The masks are the same either way, to float rounding.
    /// </summary>
    /// <exception cref="Sam2Exception">set below 1.</exception>
    public int MaxCropsPerEncoderBatch
    {
        get => maxCropsPerEncoderBatch;
        init => maxCropsPerEncoderBatch = value >= 1 ? value
            : throw new Sam2Exception($"automatic mask generator: crops per encoder batch must be at least 1, not {value}");
    }
    readonly int maxCropsPerEncoderBatch = 4;

    /// <summary>Crops encoded per image: the image, then 4^l crops on layer l.</summary>
    public int CropCount => Enumerable.Range(0, Options.CropNLayers + 1).Sum(l => 1 << (2 * l));

    /// <summary>Point prompts decoded per image: each crop's grid (without M2M refinement).</summary>
    public int PointCount => Enumerable.Range(0, Options.CropNLayers + 1).Sum(l => pointGrids[l].GetLength(0) * (1 << (2 * l)));

    /// <exception cref="Sam2Exception">an option is invalid.</exception>
    public Sam2AutomaticMaskGenerator(Sam2Base model, AmgOptions? options = null)
    {
        Options = options ?? new AmgOptions();
        Options.Validate();
        pointGrids = Options.PointsPerSide is { } n
            ? AmgUtils.BuildAllLayerPointGrids(n, Options.CropNLayers, Options.CropNPointsDownscaleFactor)
            : Options.PointGrids!;
        // The reference hands min_mask_region_area to the predictor as both hole and sprinkle area;
        // it does not run postprocess_small_regions in generate.
        Predictor = new Sam2ImagePredictor(model, new Sam2ImagePredictorOptions { MaxHoleArea = Options.MinMaskRegionArea, MaxSprinkleArea = Options.MinMaskRegionArea });
    }

    /// <summary>The annotations of every mask found, in the reference's order; empty when none passes the filters.</summary>
    /// <param name="image">The image, any size.</param>
    /// <param name="progress">Told after each batch of point prompts (<see cref="AmgOptions.PointsPerBatch"/>).</param>
    /// <param name="cancellationToken">Checked before each batch.</param>
    public List<MaskAnnotation> Generate(RgbImage image, IProgress<Sam2Progress>? progress = null, CancellationToken cancellationToken = default)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var data = GenerateMasks(image, progress, cancellationToken);
        var rles = data.Rles ?? new List<Rle>();
        var anns = new List<MaskAnnotation>(rles.Count);
        if (rles.Count == 0) return anns;

        var boxes = Floats(data.Boxes!);
        var ious = Floats(data.IouPreds!);
        var points = Floats(data.Points!);
        var stability = Floats(data.StabilityScore!);
        var crops = Floats(data.CropBoxes!);
        for (int i = 0; i < rles.Count; i++)
        {
            anns.Add(new MaskAnnotation(
                MaskSegmentation.From(rles[i], Options.OutputMode),
                AmgUtils.AreaFromRle(rles[i]),
                Xywh(boxes, i),
                ious[i],
                new[] { new double[] { points[2 * i], points[2 * i + 1] } },
                stability[i],
                Xywh(crops, i)));
        }
        return anns;
    }

    static float[] Floats(Tensor t)
    {
        using var c = t.to_type(ScalarType.Float32).cpu().contiguous();
        return c.data<float>().ToArray();
    }

    // Box i of a flat N×4 float32 XYXY array, as XYWH (subtracted in float32 like the reference).
    static double[] Xywh(float[] b, int i) =>
        new double[] { b[4 * i], b[4 * i + 1], b[4 * i + 2] - b[4 * i], b[4 * i + 3] - b[4 * i + 1] };

    /// <summary>
    /// The reference's <c>_generate_masks</c>: every crop's masks, de-duplicated across crops, as
    /// float32 CPU tensors and RLEs. The tensors belong to the caller's dispose scope.
    /// </summary>
    public MaskData GenerateMasks(RgbImage image, IProgress<Sam2Progress>? progress = null, CancellationToken cancellationToken = default)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        int origH = image.Height, origW = image.Width;
        var (cropBoxes, layerIdxs) = AmgUtils.GenerateCropBoxes(origH, origW, Options.CropNLayers, Options.CropOverlapRatio);

        var data = new MaskData();
        var batches = new BatchCounter(layerIdxs.Sum(l => (pointGrids[l].GetLength(0) + Options.PointsPerBatch - 1) / Options.PointsPerBatch),
            progress, cancellationToken);
        // The crops of a layer have one size (to the pixel), and every crop is resized to the model's input: they go
        // through the image encoder as one batch (at most MaxCropsPerEncoderBatch), then are decoded one by one in order.
        for (int first = 0; first < cropBoxes.Count;)
        {
            int n = 1;
            while (n < MaxCropsPerEncoderBatch && first + n < cropBoxes.Count && layerIdxs[first + n] == layerIdxs[first]) n++;
            batches.Token.ThrowIfCancellationRequested();
            var crops = Enumerable.Range(first, n).Select(c => Crop(image, cropBoxes[c])).ToList();
            Predictor.SetImageBatch(crops);
            for (int k = 0; k < n; k++)
                data.Cat(ProcessCrop(k, (crops[k].Height, crops[k].Width), cropBoxes[first + k], layerIdxs[first + k], (origH, origW), batches));
            Predictor.ResetPredictor();
            first += n;
        }

        if (cropBoxes.Count > 1 && data.Count > 0)
        {
            // Prefer masks from smaller crops.
            var scores = 1.0 / Nms.BoxArea(data.CropBoxes!);
            var keep = Nms.BatchedNms(data.Boxes!.to_type(ScalarType.Float32), scores,
                zeros(data.Count, dtype: ScalarType.Int64, device: data.Boxes.device), Options.CropNmsThresh);
            data.Filter(keep);
        }
        data.ToCpuFloat();
        return data.MoveToOuterDisposeScope();
    }

    /// <summary>The masks of one crop, image <paramref name="imgIdx"/> of the batch the predictor holds.</summary>
    MaskData ProcessCrop(int imgIdx, (int H, int W) cropSize, int[] cropBox, int layerIdx, (int H, int W) origSize, BatchCounter batchCounter)
    {
        using var scope = NewDisposeScope();

        // Grid points in the crop's pixels, scaled in float64 then stored as float32 like the reference.
        var grid = pointGrids[layerIdx];
        var scaled = new float[grid.GetLength(0) * 2];
        for (int i = 0; i < grid.GetLength(0); i++)
        {
            scaled[2 * i] = (float)(grid[i, 0] * cropSize.W);
            scaled[2 * i + 1] = (float)(grid[i, 1] * cropSize.H);
        }
        var pointsForImage = tensor(scaled, new long[] { grid.GetLength(0), 2 }, device: Predictor.Model.Device);

        var batches = new List<MaskData>();
        foreach (var batch in AmgUtils.BatchIterator(Options.PointsPerBatch, pointsForImage))
        {
            batchCounter.Token.ThrowIfCancellationRequested();
            using var batchScope = NewDisposeScope();
            using var section = Profiler.Time("amg.batch");
            batches.Add(ProcessBatch(batch[0], imgIdx, cropSize, cropBox, origSize).MoveToOuterDisposeScope());
            batchCounter.Done();
        }

        var data = new MaskData();
        foreach (var b in batches) data.Cat(b);

        // Duplicates within this crop.
        if (data.Count > 0)
        {
            using var nms = Profiler.Time("amg.nms");
            var keep = Nms.BatchedNms(data.Boxes!.to_type(ScalarType.Float32), data.IouPreds!,
                zeros(data.Count, dtype: ScalarType.Int64, device: data.Boxes.device), Options.BoxNmsThresh);
            data.Filter(keep);
        }

        // Back to the original image's frame.
        if (data.Boxes is not null) data.Boxes = AmgUtils.UncropBoxesXyxy(data.Boxes, cropBox);
        if (data.Points is not null) data.Points = AmgUtils.UncropPoints(data.Points, cropBox);
        data.CropBoxes = tensor(cropBox.Select(v => (long)v).ToArray(), new long[] { 1, 4 }, device: Predictor.Model.Device).repeat(data.Count, 1);
        return data.MoveToOuterDisposeScope();
    }

    MaskData ProcessBatch(Tensor points, int imgIdx, (int H, int W) imSize, int[] cropBox, (int H, int W) origSize)
    {
        var (origH, origW) = origSize;
        var inPoints = Predictor.Transforms.TransformCoords(points, normalize: true, imSize);
        var inLabels = ones(inPoints.shape[0], dtype: ScalarType.Int32, device: inPoints.device);
        var (lowRes, iouPreds) = Predictor.DecodeTorch(inPoints.unsqueeze(1), inLabels.unsqueeze(1), multimaskOutput: Options.MultimaskOutput, imgIdx: imgIdx);

        var data = new MaskData
        {
            IouPreds = iouPreds.flatten(0, 1),
            Points = points.repeat_interleave(lowRes.shape[1], 0),
            LowResMasks = lowRes.flatten(0, 1),
        };

        if (Options.UseM2m)
        {
            // One refinement step: each mask's own low-resolution logits (clamped as the predictor returns them) as a mask prompt.
            var refPoints = Predictor.Transforms.TransformCoords(data.Points, normalize: true, imSize);
            var labels = ones(refPoints.shape[0], dtype: ScalarType.Int32, device: refPoints.device);
            var (refined, ious) = RefineWithM2mLowRes(refPoints, labels, data.LowResMasks.clamp(-32.0, 32.0), Options.PointsPerBatch, imgIdx);
            data.LowResMasks = refined.squeeze(1);
            data.IouPreds = ious.squeeze(1);
        }

        // The predicted IoU does not depend on the upscaling: filter first, then upscale only the masks kept.
        if (Options.PredIouThresh > 0.0) data.Filter(data.IouPreds! > Options.PredIouThresh);
        // Upscaled straight to bool masks: the stability score's counts (pixels above threshold ± offset) are taken
        // in the same pass, so the float masks at image size are never stored.
        double t = Options.MaskThreshold, offset = Options.StabilityScoreOffset;
        if (data.Count == 0)
        {
            data.Masks = zeros(0, imSize.H, imSize.W, dtype: ScalarType.Bool, device: data.IouPreds!.device);
            data.StabilityScore = zeros(0, device: data.IouPreds!.device);
        }
        else
        {
            var (masks, intersections, unions) = Predictor.UpscaleMasksCounting(data.LowResMasks!.unsqueeze(1), imgIdx, t, t + offset, t - offset);
            data.Masks = masks.squeeze(1);
            data.StabilityScore = (intersections / unions).squeeze(1);
        }
        data.LowResMasks = null;
        var stability = Profiler.Time("amg.stability");
        if (Options.StabilityScoreThresh > 0.0) FilterMasks(data, data.StabilityScore >= Options.StabilityScoreThresh);
        stability.Dispose();

        using var boxes = Profiler.Time("amg.boxes_uncrop_rle");
        data.Boxes = AmgUtils.BatchedMaskToBox(data.Masks!);

        // Drop masks touching a crop border that is not the image's border.
        var keep = AmgUtils.IsBoxNearCropEdge(data.Boxes, cropBox, new[] { 0, 0, origW, origH }).logical_not();
        if (!keep.all().item<bool>()) FilterMasks(data, keep);

        ReplaceMasks(data, AmgUtils.UncropMasks(data.Masks!, cropBox, origH, origW));
        data.Rles = data.Count == 0 ? new List<Rle>() : AmgUtils.MaskToRle(data.Masks!);
        ReplaceMasks(data, null);
        return data;
    }

    // The full-size masks are the big tensors of a batch: free each one as soon as it is replaced.
    static void FilterMasks(MaskData data, Tensor keep)
    {
        var old = data.Masks;
        data.Filter(keep);
        if (old is not null && !ReferenceEquals(old, data.Masks)) old.Dispose();
    }

    static void ReplaceMasks(MaskData data, Tensor? masks)
    {
        var old = data.Masks;
        data.Masks = masks;
        if (old is not null && !ReferenceEquals(old, masks)) old.Dispose();
    }

    /// <summary>
    /// The reference's <c>refine_with_m2m</c>: single-mask predictions for the points (B×2, model
    /// frame) with their low-resolution logits (B×h×w) as mask prompts, in batches. Returns B×1×H×W
    /// logits and B×1 IoU estimates.
    /// </summary>
    public (Tensor Masks, Tensor IouPreds) RefineWithM2m(Tensor points, Tensor pointLabels, Tensor lowResMasks, int pointsPerBatch)
    {
        using var scope = NewDisposeScope();
        var (lowRes, ious) = RefineWithM2mLowRes(points, pointLabels, lowResMasks, pointsPerBatch);
        return (Predictor.UpscaleMasks(lowRes).MoveToOuterDisposeScope(), ious.MoveToOuterDisposeScope());
    }

    /// <summary>As <see cref="RefineWithM2m"/>, with the refined masks as B×1×S/4×S/4 low-resolution logits (not upscaled).</summary>
    (Tensor LowResMasks, Tensor IouPreds) RefineWithM2mLowRes(Tensor points, Tensor pointLabels, Tensor lowResMasks, int pointsPerBatch, int imgIdx = -1)
    {
        using var scope = NewDisposeScope();
        var newMasks = new List<Tensor>();
        var newIous = new List<Tensor>();
        foreach (var b in AmgUtils.BatchIterator(pointsPerBatch, points, pointLabels, lowResMasks))
        {
            var (m, iou) = Predictor.DecodeTorch(b[0].unsqueeze(1), b[1].unsqueeze(1), maskInput: b[2].unsqueeze(1), multimaskOutput: false, imgIdx: imgIdx);
            newMasks.Add(m);
            newIous.Add(iou);
        }
        return (cat(newMasks, 0).MoveToOuterDisposeScope(), cat(newIous, 0).MoveToOuterDisposeScope());
    }

    /// <summary>The pixels of <paramref name="box"/> ([x0, y0, x1, y1]) of an image.</summary>
    internal static RgbImage Crop(RgbImage image, int[] box)
    {
        int x0 = box[0], y0 = box[1], w = box[2] - box[0], h = box[3] - box[1];
        if (x0 == 0 && y0 == 0 && w == image.Width && h == image.Height) return image;
        var data = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            Array.Copy(image.Data, ((y0 + y) * image.Width + x0) * 3, data, y * w * 3, w * 3);
        return new RgbImage(w, h, data);
    }

    /// <summary>Frees the predictor's image features.</summary>
    public void Dispose() => Predictor.Dispose();

    /// <summary>Counts the prompt batches of one generation for its progress and cancellation.</summary>
    sealed class BatchCounter(int total, IProgress<Sam2Progress>? progress, CancellationToken token)
    {
        int done;
        public CancellationToken Token => token;
        public void Done() => progress?.Report(new Sam2Progress(++done, total, "prompt batches"));
    }
}
