using Sam2Sharp.Benchmarking;
using Sam2Sharp.Imaging;
using Sam2Sharp.Modeling;
using Sam2Sharp.Modeling.Sam;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp;

/// <summary>Masks for one image: C×H×W masks (bool, or logits), C IoU estimates, C×S/4×S/4 low-res logits.
/// With several boxes at once each tensor has a leading batch dimension.</summary>
public sealed record ImagePrediction(Tensor Masks, Tensor IouPredictions, Tensor LowResLogits) : IDisposable
{
    /// <summary>Frees the three tensors.</summary>
    public void Dispose() { Masks.Dispose(); IouPredictions.Dispose(); LowResLogits.Dispose(); }
}

/// <summary>
/// Computes the image embedding once (<see cref="SetImage"/>), then predicts masks from points,
/// boxes and low-resolution mask inputs, as the reference's SAM2ImagePredictor.
/// </summary>
public sealed class Sam2ImagePredictor : IDisposable
{
    /// <summary>The model (shared: the predictor does not dispose it).</summary>
    public Sam2Base Model { get; }
    /// <summary>The options given at construction.</summary>
    public Sam2ImagePredictorOptions Options { get; }
    /// <summary>The prompt and mask transforms for the model's input size and these options.</summary>
    public Sam2Transforms Transforms { get; }
    /// <summary>A pixel is in the mask when its logit is above this (<see cref="Sam2ImagePredictorOptions.MaskThreshold"/>).</summary>
    public double MaskThreshold => Options.MaskThreshold;

    private Tensor? imageEmbed;           // B×C×S/16×S/16, no_mem_embed added
    private List<Tensor>? highResFeats;  // B×C/8×S/4×S/4, B×C/4×S/8×S/8
    private List<(int H, int W)> origHw = new();
    private PreparedImage?[] prepared = [];  // per image, made at its first single prompt (MaskDecoder.PrepareImage)

    /// <summary>Whether an image (or batch) is embedded.</summary>
    public bool IsImageSet => imageEmbed is not null;
    /// <summary>Whether a batch was set with <see cref="SetImageBatch"/>.</summary>
    public bool IsBatch { get; private set; }
    /// <summary>The image embedding, B×C×S/16×S/16, stored channels-last (owned by the predictor).</summary>
    public Tensor ImageEmbedding => imageEmbed ?? throw new InvalidOperationException("An image must be set with SetImage(...) first.");
    /// <summary>The decoder's high-resolution features, B×C/8×S/4×S/4 and B×C/4×S/8×S/8, stored channels-last (<see cref="Modeling.Sam.MaskDecoder.ChannelsLast"/>).</summary>
    public IReadOnlyList<Tensor> HighResFeatures => highResFeats ?? throw new InvalidOperationException("An image must be set with SetImage(...) first.");
    /// <summary>The sizes of the images set, in order.</summary>
    public IReadOnlyList<(int H, int W)> OriginalSizes => origHw;

    /// <summary>A predictor on <paramref name="model"/> (shared, not owned) with the given options (default: the reference's).</summary>
    public Sam2ImagePredictor(Sam2Base model, Sam2ImagePredictorOptions? options = null)
    {
        Model = model;
        Options = options ?? new Sam2ImagePredictorOptions();
        if (Options.MaxHoleArea < 0 || Options.MaxSprinkleArea < 0)
            throw new Sam2Exception($"image predictor options: max hole area ({Options.MaxHoleArea}) and max sprinkle area ({Options.MaxSprinkleArea}) must not be negative");
        Transforms = new Sam2Transforms(model.ImageSize, Options.MaskThreshold, Options.MaxHoleArea, Options.MaxSprinkleArea);
    }

    /// <summary>Embeds one image of any size; <paramref name="progress"/> hears of each encoder block.</summary>
    public void SetImage(RgbImage image, IProgress<Sam2Progress>? progress = null) => SetImages([image], batch: false, progress);

    /// <summary>Embeds several images at once, for <see cref="PredictBatch"/>.</summary>
    public void SetImageBatch(IReadOnlyList<RgbImage> images) => SetImages(images, batch: true, null);

    void SetImages(IReadOnlyList<RgbImage> images, bool batch, IProgress<Sam2Progress>? progress)
    {
        using (var input = Preprocess.ImageBatch(images, Model.ImageSize))
            SetPreprocessed(input, images.Select(i => (i.Height, i.Width)).ToList(), progress);
        IsBatch = batch;
    }

    /// <summary>Embeds an already preprocessed B×3×S×S batch whose originals had the given sizes;
    /// <paramref name="progress"/> hears of each encoder block.</summary>
    public void SetPreprocessed(Tensor input, IReadOnlyList<(int H, int W)> originalSizes, IProgress<Sam2Progress>? progress = null)
    {
        ResetPredictor();
        using var unit = InferenceScope.Start();
        var feats = Model.PrepareBackboneFeatures(Model.ForwardImage(input.to(Model.Device), progress));
        var vf = feats.VisionFeats.ToList();
        if (Model.Config.DirectlyAddNoMemEmbed) vf[^1] = vf[^1] + Model.NoMemEmbed;
        var maps = vf.Select((x, i) => Sam2Base.TokensToMap(x, feats.FeatSizes[i])).ToList();
        imageEmbed = MaskDecoder.ChannelsLast(maps[^1]).DetachFromDisposeScope();
        highResFeats = maps.Take(maps.Count - 1).Select(f => MaskDecoder.ChannelsLast(f).DetachFromDisposeScope()).ToList();
        origHw = originalSizes.ToList();
        prepared = new PreparedImage?[origHw.Count];
    }

    /// <summary>Writes the embedding of the image set with <see cref="SetImage"/> to a file (see <see cref="ImageEmbeddingFile"/>).</summary>
    public void SaveEmbedding(string path, RgbImage image) => ImageEmbeddingFile.Save(this, image, path);

    /// <summary>Uses an embedding saved by <see cref="SaveEmbedding"/> instead of running the encoder; with <paramref name="image"/>, checks it is the image embedded.</summary>
    /// <exception cref="Sam2Exception">the file was made by another model, precision or image, or is unreadable.</exception>
    public void LoadEmbedding(string path, RgbImage? image = null) => ImageEmbeddingFile.Load(this, path, image);

    /// <summary>Sets a saved embedding (1×C×S/16×S/16, no_mem_embed added) and high-resolution features of an image of the given size.</summary>
    internal void SetEmbedding(Tensor embedding, IReadOnlyList<Tensor> highResFeatures, (int H, int W) originalSize)
    {
        ResetPredictor();
        imageEmbed = MaskDecoder.ChannelsLast(OnModelDevice(embedding)).DetachFromDisposeScope();
        highResFeats = highResFeatures.Select(t => MaskDecoder.ChannelsLast(OnModelDevice(t)).DetachFromDisposeScope()).ToList();
        origHw = [originalSize];
        prepared = new PreparedImage?[1];
    }

    // A saved embedding is read on the CPU; the decoder needs it where the model is.
    Tensor OnModelDevice(Tensor t)
    {
        var moved = t.to(Model.Device);
        if (!ReferenceEquals(moved, t)) t.Dispose();
        return moved;
    }

    /// <summary>Frees the embedding; a new image must be set before predicting.</summary>
    public void ResetPredictor()
    {
        imageEmbed?.Dispose();
        highResFeats?.ForEach(t => t.Dispose());
        imageEmbed = null;
        highResFeats = null;
        foreach (var p in prepared) p?.Dispose();
        prepared = [];
        origHw = new();
        IsBatch = false;
    }

    /// <summary>
    /// Masks for the image set with <see cref="SetImage"/>. Points are N×2 (x, y) with N labels
    /// (1 foreground, 0 background); boxes are B×4 (x0, y0, x1, y1), several boxes predicting a batch;
    /// a mask input is 1×S/4×S/4 (or B×1×S/4×S/4) logits from an earlier prediction.
    /// </summary>
    public ImagePrediction Predict(float[,]? pointCoords = null, int[]? pointLabels = null, float[,]? boxes = null,
        Tensor? maskInput = null, bool multimaskOutput = true, bool returnLogits = false, bool normalizeCoords = true, int imgIdx = -1)
    {
        if (!IsImageSet) throw new InvalidOperationException("An image must be set with SetImage(...) before mask prediction.");
        using var unit = InferenceScope.Start();
        var (coords, labels, box, mask) = PrepPrompts(pointCoords, pointLabels, boxes, maskInput, normalizeCoords, imgIdx);
        var (masks, ious, lowRes) = PredictTorch(coords, labels, box, mask, multimaskOutput, returnLogits, imgIdx);
        // A single prompt set drops the batch dimension, as the reference's numpy output does.
        if (masks.shape[0] == 1) { masks = masks.squeeze(0); ious = ious.squeeze(0); lowRes = lowRes.squeeze(0); }
        var r = new ImagePrediction(masks.MoveToOuterDisposeScope(), ious.to_type(float32).MoveToOuterDisposeScope(), lowRes.to_type(float32).MoveToOuterDisposeScope());
        return r;
    }

    /// <summary>
    /// Masks for the image set with <see cref="SetImage"/> from typed prompts: clicks (pixels of the image, each with
    /// its <see cref="PointLabel"/>), boxes (several boxes predict a batch) and a low-resolution mask input.
    /// </summary>
    public ImagePrediction Predict(IReadOnlyList<PromptPoint>? points, IReadOnlyList<PromptBox>? boxes = null, Tensor? maskInput = null,
        bool multimaskOutput = true, bool returnLogits = false, bool normalizeCoords = true, int imgIdx = -1)
    {
        var (coords, labels) = PromptArrays.Points(points);
        return Predict(coords, labels, boxes is { Count: > 0 } ? PromptBox.ToArray(boxes) : null, maskInput, multimaskOutput, returnLogits, normalizeCoords, imgIdx);
    }

    /// <summary>Prompts for each image of the batch set with <see cref="SetImageBatch"/>.</summary>
    public IReadOnlyList<ImagePrediction> PredictBatch(IReadOnlyList<float[,]?>? pointCoords, IReadOnlyList<int[]?>? pointLabels,
        IReadOnlyList<float[,]?>? boxes, IReadOnlyList<Tensor?>? maskInputs, bool multimaskOutput = true, bool returnLogits = false, bool normalizeCoords = true)
    {
        if (!IsBatch) throw new InvalidOperationException("PredictBatch needs images set with SetImageBatch(...).");
        return Enumerable.Range(0, origHw.Count).Select(i => Predict(pointCoords?[i], pointLabels?[i], boxes?[i], maskInputs?[i],
            multimaskOutput, returnLogits, normalizeCoords, i)).ToList();
    }

    (Tensor? coords, Tensor? labels, Tensor? box, Tensor? mask) PrepPrompts(float[,]? pointCoords, int[]? pointLabels,
        float[,]? boxes, Tensor? maskInput, bool normalize, int imgIdx)
    {
        var hw = origHw[imgIdx < 0 ? origHw.Count + imgIdx : imgIdx];
        Tensor? coords = null, labels = null, box = null, mask = null;
        if (pointCoords is not null)
        {
            if (pointLabels is null || pointLabels.Length != pointCoords.GetLength(0))
                throw new ArgumentException("point_labels must be supplied with point_coords, one per point.");
            coords = Transforms.TransformCoords(tensor(pointCoords, device: Model.Device), normalize, (hw.H, hw.W)).unsqueeze(0);
            labels = tensor(pointLabels, ScalarType.Int32, Model.Device).unsqueeze(0);
        }
        if (boxes is not null) box = Transforms.TransformBoxes(tensor(boxes, device: Model.Device), normalize, (hw.H, hw.W));
        if (maskInput is not null) mask = maskInput.to(float32, Model.Device) is var m && m.dim() == 3 ? m.unsqueeze(0) : m;
        return (coords, labels, box, mask);
    }

    /// <summary>
    /// The reference's <c>_predict</c> on prompts already in the S×S model frame: B×N×2 points,
    /// B×N labels, B×2×2 boxes, B×1×S/4×S/4 mask inputs. Returns B×C×H×W masks (or logits),
    /// B×C IoU estimates and B×C×S/4×S/4 low-resolution logits.
    /// </summary>
    public (Tensor Masks, Tensor Ious, Tensor LowResLogits) PredictTorch(Tensor? pointCoords, Tensor? pointLabels,
        Tensor? boxes = null, Tensor? maskInput = null, bool multimaskOutput = true, bool returnLogits = false, int imgIdx = -1)
    {
        using var unit = InferenceScope.Start();
        var (lowResMasks, ious) = DecodeTorch(pointCoords, pointLabels, boxes, maskInput, multimaskOutput, imgIdx);
        var masks = UpscaleMasks(lowResMasks, imgIdx, returnLogits ? null : MaskThreshold);
        var lowRes = lowResMasks.clamp(-32.0, 32.0);
        return (masks.MoveToOuterDisposeScope(), ious.MoveToOuterDisposeScope(), lowRes.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The prompt encoder and mask decoder only (prompts as for <see cref="PredictTorch"/>): B×C×S/4×S/4
    /// low-resolution logits (not clamped) and B×C IoU estimates. <see cref="UpscaleMasks"/> takes the
    /// logits to the image, so a caller can drop masks before paying for their upscaling.
    /// </summary>
    public (Tensor LowResMasks, Tensor Ious) DecodeTorch(Tensor? pointCoords, Tensor? pointLabels,
        Tensor? boxes = null, Tensor? maskInput = null, bool multimaskOutput = true, int imgIdx = -1)
    {
        if (!IsImageSet) throw new InvalidOperationException("An image must be set with SetImage(...) before mask prediction.");
        using var unit = InferenceScope.Start();
        (Tensor, Tensor)? points = pointCoords is not null ? (pointCoords, pointLabels!) : null;
        if (boxes is not null)
        {
            // A box is two points labelled 2 (top-left) and 3 (bottom-right), before any clicks.
            var boxCoords = boxes.reshape(-1, 2, 2);
            var boxLabels = tensor(new[] { 2, 3 }, ScalarType.Int32, boxes.device).reshape(1, 2).repeat(boxes.shape[0], 1);
            // As in the reference, clicks join boxes prompt by prompt: one set of points per box.
            if (points is { } pb && pb.Item1.shape[0] != boxCoords.shape[0])
                throw new Sam2Exception($"{boxCoords.shape[0]} boxes with {pb.Item1.shape[0]} set(s) of points: points join boxes one set per box, "
                    + "so give one box with points, boxes without points, or one set of points for each box");
            points = points is { } p
                ? (cat(new[] { boxCoords, p.Item1 }, 1), cat(new[] { boxLabels, p.Item2 }, 1))
                : (boxCoords, boxLabels);
        }
        using var section = Profiler.Time("decoder");
        var (sparse, dense) = Model.PromptEncoder.forward(points, null, maskInput);
        bool batched = points is { } q && q.Item1.shape[0] > 1;
        int i = ImageIndex(imgIdx);
        var embed = imageEmbed![TensorIndex.Slice(i, i + 1)];
        var highRes = highResFeats!.Select(f => f[TensorIndex.Slice(i, i + 1)]).ToList();
        var densePe = Model.PromptEncoder.GetDensePe();
        // The decoder's first steps on the image alone, made at its first single prompt without a mask input.
        if (!batched && maskInput is null && prepared[i] is null)
            prepared[i] = Model.MaskDecoder.PrepareImage(embed, densePe, dense);
        var dec = Model.MaskDecoder.forward(embed, densePe, sparse, dense, multimaskOutput,
            repeatImage: batched, highResFeatures: highRes, image: prepared[i]);
        return (dec.Masks.MoveToOuterDisposeScope(), dec.IouPred.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// B×C×S/4×S/4 logits → B×C×H×W logits at the size of image <paramref name="imgIdx"/> (holes and sprinkles first, if
    /// set); with <paramref name="threshold"/>, the bool masks of the logits above it.
    /// </summary>
    public Tensor UpscaleMasks(Tensor lowResMasks, int imgIdx = -1, double? threshold = null)
    {
        var (h, w) = origHw[ImageIndex(imgIdx)];
        using var section = Profiler.Time("mask_upscaling");
        return Transforms.PostprocessMasks(lowResMasks, (h, w), threshold);
    }

    /// <summary><see cref="UpscaleMasks"/> to bool masks, with the counts of the stability score (<see cref="Sam2Transforms.PostprocessMasksCounting"/>).</summary>
    internal (Tensor Masks, Tensor AboveHigh, Tensor AboveLow) UpscaleMasksCounting(Tensor lowResMasks, int imgIdx, double threshold, double high, double low)
    {
        var (h, w) = origHw[ImageIndex(imgIdx)];
        using var section = Profiler.Time("mask_upscaling");
        return Transforms.PostprocessMasksCounting(lowResMasks, (h, w), threshold, high, low);
    }

    /// <summary>Whether the decoder's first steps on image <paramref name="imgIdx"/> are kept (<see cref="PreparedImage"/>).</summary>
    internal bool IsPrepared(int imgIdx) => prepared.ElementAtOrDefault(ImageIndex(imgIdx)) is not null;

    int ImageIndex(int imgIdx) => imgIdx < 0 ? origHw.Count + imgIdx : imgIdx;

    /// <summary>Frees the embedding (not the model).</summary>
    public void Dispose() => ResetPredictor();
}
