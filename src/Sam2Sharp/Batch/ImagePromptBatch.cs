using System.Text.Json;
using System.Text.Json.Serialization;
using Sam2Sharp.Imaging;
using Sam2Sharp.IO;
using static TorchSharp.torch;

namespace Sam2Sharp.Batch;

/// <summary>The prompts of one image: clicks and boxes in the image's pixels (several boxes predict a batch, one mask each).</summary>
public sealed record ImagePrompts(IReadOnlyList<PromptPoint> Points, IReadOnlyList<PromptBox> Boxes)
{
    /// <summary>The masks these prompts give: one per box (or one), three each with multimask output.</summary>
    public int MaskCount(bool multimask) => Math.Max(1, Boxes.Count) * (multimask ? 3 : 1);

    /// <summary>Refuses a click or box corner outside a <paramref name="width"/>×<paramref name="height"/> image.</summary>
    public void CheckInside(string where, int width, int height)
    {
        for (int i = 0; i < Points.Count; i++) ImageBounds.CheckInside($"{where} point {i + 1}", Points[i].X, Points[i].Y, width, height);
        for (int i = 0; i < Boxes.Count; i++)
        {
            ImageBounds.CheckInside($"{where} box {i + 1} corner", Boxes[i].X0, Boxes[i].Y0, width, height);
            ImageBounds.CheckInside($"{where} box {i + 1} corner", Boxes[i].X1, Boxes[i].Y1, width, height);
        }
    }
}

/// <summary>
/// A batch's prompts file, as an annotation tool exports them: one JSON object from image file name to its prompts,
/// <c>{"truck.jpg": {"points": [[500, 375], [1125, 625, 0]], "boxes": [[425, 600, 700, 875]]}}</c>; a point is
/// <c>[x, y]</c> or <c>[x, y, label]</c> (1 foreground, the default; 0 background), a box <c>[x0, y0, x1, y1]</c>, in pixels.
/// </summary>
public static class ImagePromptsFile
{
    sealed record Entry(float[][]? Points, float[][]? Boxes);

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        AllowDuplicateProperties = false,
    };

    /// <summary>Reads and checks the file.</summary>
    /// <exception cref="Sam2Exception">unreadable, not such an object, or a prompt of the wrong shape (naming the image and prompt).</exception>
    public static IReadOnlyDictionary<string, ImagePrompts> Read(string path)
    {
        using var stream = InputFiles.OpenRegular(path, "prompts file");
        string text = InputFiles.ReadText(stream, 64 << 20, $"prompts file {path}");
        Dictionary<string, Entry>? entries;
        try { entries = JsonSerializer.Deserialize<Dictionary<string, Entry>>(text, Json); }
        catch (JsonException e) { throw new Sam2Exception($"prompts file {path}: {e.Message.Split('\n')[0]}"); }
        if (entries is null) throw new Sam2Exception($"prompts file {path}: expected an object from image names to prompts");
        var result = new Dictionary<string, ImagePrompts>(StringComparer.Ordinal);
        foreach (var (image, e) in entries)
        {
            string where = $"prompts file {path}, image {image}";
            var points = (e?.Points ?? []).Select((p, i) => p is { Length: 2 or 3 } && p.All(float.IsFinite) && (p.Length == 2 || p[2] is 0 or 1)
                ? new PromptPoint(p[0], p[1], p.Length == 3 && p[2] == 0 ? PointLabel.Background : PointLabel.Foreground)
                : throw new Sam2Exception($"{where}, point {i + 1}: expected [x, y] or [x, y, label] with label 1 or 0")).ToList();
            var boxes = (e?.Boxes ?? []).Select((b, i) => b is { Length: 4 } && b.All(float.IsFinite) && b[2] >= b[0] && b[3] >= b[1]
                ? new PromptBox(b[0], b[1], b[2], b[3])
                : throw new Sam2Exception($"{where}, box {i + 1}: expected [x0, y0, x1, y1] with x1 ≥ x0 and y1 ≥ y0")).ToList();
            if (points.Count == 0 && boxes.Count == 0) throw new Sam2Exception($"{where}: no point and no box");
            result[image] = new ImagePrompts(points, boxes);
        }
        return result;
    }
}

/// <summary>
/// <c>sam2 image</c> over a batch of images, one image committed at a time (see <see cref="BatchRunner"/>): for each
/// image its prompts' masks as 0/255 PNGs, <c>&lt;stem&gt;.png</c> (<c>&lt;stem&gt;-1.png</c>, … for several), and with
/// overlays <c>&lt;stem&gt;.overlay.png</c>.
/// </summary>
public static class ImagePromptBatch
{
    /// <summary>The mask files for <paramref name="count"/> masks: the path itself for one, else -1, -2 … before the extension.</summary>
    public static IReadOnlyList<string> MaskPaths(string path, int count) => count == 1 ? [path]
        : Enumerable.Range(1, count).Select(i => Path.Combine(Path.GetDirectoryName(path) ?? "", $"{Path.GetFileNameWithoutExtension(path)}-{i}{Path.GetExtension(path)}")).ToList();

    static IReadOnlyList<OutputTarget> Targets(string outputRoot, BatchImage image, ImagePrompts prompts, bool multimask, bool overlays)
    {
        var targets = MaskPaths(Path.Combine(outputRoot, image.Stem + ".png"), prompts.MaskCount(multimask))
            .Select(p => new OutputTarget($"image {image.Name}: mask", p)).ToList();
        if (overlays) targets.Add(new OutputTarget($"image {image.Name}: overlay", Path.Combine(outputRoot, image.Stem + ".overlay.png")));
        return targets;
    }

    /// <summary>The shard of <paramref name="images"/> as a resumable batch under <paramref name="outputRoot"/>.</summary>
    public static BatchRunner Open(IReadOnlyList<BatchImage> images, string outputRoot, Shard shard, Func<BatchImage, ImagePrompts> promptsOf,
        bool multimask, bool overlays)
    {
        var byName = images.ToDictionary(i => i.Name, StringComparer.Ordinal);
        return BatchRunner.Open("image", outputRoot, shard, byName.Keys,
            n => Targets(outputRoot, byName[n], promptsOf(byName[n]), multimask, overlays), n => byName[n].Path);
    }

    /// <summary>Predicts and writes every pending image of the batch; an image that fails is reported and the others go on.</summary>
    /// <param name="images">Every image of the batch (the runner's items are their names).</param>
    /// <param name="batch">The runner from <see cref="Open"/>.</param>
    /// <param name="promptsOf">The prompts of an image.</param>
    /// <param name="multimask">Three masks per prompt.</param>
    /// <param name="overlays">Also write each image's overlay.</param>
    /// <param name="progress">Hears each image as it starts and ends.</param>
    /// <param name="cancellationToken">Checked between images; a cancelled image leaves nothing visible.</param>
    /// <param name="predictor">The predictor; may be null only when no image is pending.</param>
    public static TaskReport Run(Sam2ImagePredictor? predictor, IReadOnlyList<BatchImage> images, BatchRunner batch,
        Func<BatchImage, ImagePrompts> promptsOf, bool multimask, bool overlays,
        IProgress<Sam2Progress>? progress = null, CancellationToken cancellationToken = default)
    {
        var byName = images.ToDictionary(i => i.Name, StringComparer.Ordinal);
        return batch.Run((name, staged, _) =>
        {
            ArgumentNullException.ThrowIfNull(predictor);
            var image = byName[name];
            var prompts = promptsOf(image);
            var img = RgbImage.Load(image.Path);
            prompts.CheckInside($"image {name}:", img.Width, img.Height);
            using var scope = NewDisposeScope();
            predictor.SetImage(img);
            using var pred = predictor.Predict(prompts.Points, prompts.Boxes, multimaskOutput: multimask);
            var masks = pred.Masks.reshape(-1, img.Height, img.Width);
            var list = Enumerable.Range(0, (int)masks.shape[0]).Select(i => masks[i]).ToList();
            var targets = Targets(batch.OutputRoot, image, prompts, multimask, overlays);
            for (int i = 0; i < list.Count; i++) MaskImages.WritePng(staged.File(targets[i].Path), list[i]);
            if (overlays) MaskImages.WriteOverlay(staged.File(targets[^1].Path), img, list);
        }, "images", progress, cancellationToken);
    }
}
