using Sam2Sharp.Amg;
using Sam2Sharp.Export;
using Sam2Sharp.Imaging;
using Sam2Sharp.Modeling;
using static TorchSharp.torch;

namespace Sam2Sharp.Server;

/// <summary>
/// An image session: the image is embedded once by the library's <see cref="Sam2ImagePredictor"/>; each object keeps
/// its clicks and box, and a prompt predicts its mask from all of them (one click alone: the best of three masks,
/// as the reference's demo).
/// </summary>
public sealed class ImageAnnotation : AnnotationSession
{
    readonly RgbImage image;
    readonly Sam2Base model;
    readonly Sam2ImagePredictor predictor;
    readonly Dictionary<int, (List<(float X, float Y, int Label)> Points, float[]? Box)> prompts = new();
    readonly System.Collections.Concurrent.ConcurrentDictionary<int, double> scores = new(); // read by viewers outside the session lock

    /// <summary>A session on <paramref name="image"/>; <see cref="AnnotationSession.BeginEmbedding"/> embeds it.</summary>
    public ImageAnnotation(Sam2Base model, RgbImage image, string name, string? tempFolder) : base(tempFolder)
    {
        this.model = model;
        this.image = image;
        predictor = new Sam2ImagePredictor(model);
        Annotations = new AnnotatedFrames(image.Width, image.Height, [name]);
        SourceWidth = image.Width;
        SourceHeight = image.Height;
    }

    protected override void Embed(IProgress<Sam2Progress> progress) => predictor.SetImage(image, progress);
    public override int EmbeddedFrames => IsReady ? 1 : 0;

    public override string Kind => "image";
    public override int NumFrames => 1;
    public override int Width => image.Width;
    public override int Height => image.Height;
    public override AnnotatedFrames Annotations { get; }

    public override RgbImage ReadFrame(int frame)
    {
        CheckFrame(frame);
        return image;
    }

    public override FrameMasks Prompt(int frame, int objId, float[,]? points, int[]? labels, float[]? box, bool clearOldPoints)
    {
        CheckFrame(frame);
        if (!clearOldPoints && box is not null) throw ApiException.BadRequest("a box replaces the object's prompts: send it with clear_old_points true");
        var p = clearOldPoints || !prompts.TryGetValue(objId, out var old) ? (Points: new List<(float X, float Y, int Label)>(), Box: (float[]?)null) : old;
        if (box is not null) p.Box = box;
        for (int i = 0; i < (points?.GetLength(0) ?? 0); i++) p.Points.Add((points![i, 0], points[i, 1], labels![i]));
        prompts[objId] = p;

        float[,]? coords = p.Points.Count == 0 ? null : new float[p.Points.Count, 2];
        for (int i = 0; i < p.Points.Count; i++) { coords![i, 0] = p.Points[i].X; coords[i, 1] = p.Points[i].Y; }
        int[]? lbl = p.Points.Count == 0 ? null : p.Points.Select(q => q.Label).ToArray();
        float[,]? boxes = p.Box is null ? null : new float[,] { { p.Box[0], p.Box[1], p.Box[2], p.Box[3] } };
        // One click is ambiguous (part, object, group): take the best of the three masks.
        bool multimask = p.Points.Count == 1 && p.Box is null;
        using (var scope = NewDisposeScope())
        using (var r = predictor.Predict(coords, lbl, boxes, multimaskOutput: multimask))
        {
            int best = (int)r.IouPredictions.argmax().item<long>();
            Annotations.Set(0, objId, AmgUtils.MaskToRle(r.Masks[best].unsqueeze(0))[0]);
            scores[objId] = r.IouPredictions[best].item<float>();
        }
        return MasksOn(0, scores);
    }

    public override FrameMasks CurrentMasks(int frame)
    {
        CheckFrame(frame);
        return MasksOn(0, scores);
    }

    public override FrameMasks ClearPrompts(int frame, int objId)
    {
        CheckFrame(frame);
        if (!prompts.Remove(objId)) throw ApiException.NotFound($"object {objId} has no prompts on frame {frame}");
        Annotations.Remove(0, objId);
        scores.TryRemove(objId, out _);
        return MasksOn(0, scores);
    }

    public override IReadOnlyList<FrameMasks> RemoveObject(int objId)
    {
        if (!prompts.Remove(objId) && !Annotations.On(0).ContainsKey(objId)) throw ApiException.NotFound($"object {objId} does not exist");
        Annotations.RemoveObject(objId);
        scores.TryRemove(objId, out _);
        return [MasksOn(0, scores)];
    }

    /// <summary>
    /// "Segment everything": the library's automatic mask generator on the image; each mask becomes a new object
    /// (ids after the existing ones, largest mask first). Returns the frame's masks.
    /// </summary>
    public FrameMasks SegmentEverything(AmgOptions options)
    {
        List<MaskAnnotation> found;
        using (var amg = new Sam2AutomaticMaskGenerator(model, options with { OutputMode = AmgOutputMode.UncompressedRle }))
            found = amg.Generate(image);
        int next = Annotations.ObjIds.Concat(prompts.Keys).DefaultIfEmpty(0).Max() + 1;
        foreach (var m in found.OrderByDescending(m => m.Area))
        {
            Annotations.Set(0, next, m.Segmentation.Rle!);
            scores[next] = m.PredictedIou;
            next++;
        }
        return MasksOn(0, scores);
    }

    protected override void DisposeState() => predictor.Dispose();
}
