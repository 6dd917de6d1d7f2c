using Sam2Sharp.Batch;
using Sam2Sharp.Imaging;
using Sam2Sharp.IO;

namespace Sam2Sharp.Amg;

/// <summary>
/// Where the automatic masks of one image go, any of: the annotations' JSON (<see cref="MaskAnnotationJson"/>), a
/// folder of one 0/255 PNG per mask (<c>mask_000.png</c>, …), an overlay PNG.
/// </summary>
public sealed record AmgOutputs(string? Json = null, string? MaskFolder = null, string? Overlay = null)
{
    /// <summary>The outputs as targets to stage, labelled for messages.</summary>
    public IReadOnlyList<OutputTarget> Targets(string jsonLabel, string folderLabel, string overlayLabel)
    {
        var targets = new List<OutputTarget>();
        if (Json is not null) targets.Add(new OutputTarget(jsonLabel, Json));
        if (MaskFolder is not null) targets.Add(new OutputTarget(folderLabel, MaskFolder, IsFolder: true));
        if (Overlay is not null) targets.Add(new OutputTarget(overlayLabel, Overlay));
        return targets;
    }

    /// <summary>Writes the annotations of <paramref name="image"/> to the temporary paths <paramref name="staged"/> gives.</summary>
    /// <exception cref="Sam2Exception">a write failed.</exception>
    public void Write(StagedOutputs staged, RgbImage image, IReadOnlyList<MaskAnnotation> anns)
    {
        var masks = MaskFolder is null && Overlay is null ? null
            : anns.Select(a => a.Segmentation.ToMaskArray().Select(v => v ? (byte)1 : (byte)0).ToArray()).ToList();
        try
        {
            if (Json is not null) File.WriteAllBytes(staged.File(Json), MaskAnnotationJson.Serialize(anns));
            if (MaskFolder is not null)
            {
                var dir = staged.Folder(MaskFolder);
                for (int i = 0; i < masks!.Count; i++)
                    MaskImages.WritePng(Path.Combine(dir, $"mask_{i:D3}.png"), masks[i], image.Width, image.Height);
            }
            // Largest first, so that small masks stay visible on top.
            if (Overlay is not null)
                MaskImages.WriteOverlay(staged.File(Overlay), image, masks!.Select((m, i) => (m, i)).OrderByDescending(t => anns[t.i].Area).Select(t => t.m).ToList());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Sam2Exception($"cannot write output: {e.Message}", e);
        }
    }

    /// <summary>The outputs of one image of a batch under <paramref name="outputRoot"/>: <c>&lt;stem&gt;.json</c>, and the mask
    /// folder <c>&lt;stem&gt;/</c> and overlay <c>&lt;stem&gt;.overlay.png</c> when asked for.</summary>
    public static AmgOutputs ForBatch(string outputRoot, BatchImage image, bool json, bool masks, bool overlay) => new(
        json ? Path.Combine(outputRoot, image.Stem + ".json") : null,
        masks ? Path.Combine(outputRoot, image.Stem) : null,
        overlay ? Path.Combine(outputRoot, image.Stem + ".overlay.png") : null);
}

/// <summary>The automatic mask generator over a batch of images, one image committed at a time (see <see cref="BatchRunner"/>).</summary>
public static class AmgBatch
{
    /// <summary>The shard of <paramref name="images"/> as a resumable batch under <paramref name="outputRoot"/>.</summary>
    public static BatchRunner Open(IReadOnlyList<BatchImage> images, string outputRoot, Shard shard, Func<BatchImage, AmgOutputs> outputsOf)
    {
        var byName = images.ToDictionary(i => i.Name, StringComparer.Ordinal);
        return BatchRunner.Open("amg", outputRoot, shard, byName.Keys,
            n => outputsOf(byName[n]).Targets($"image {n}: annotations", $"image {n}: masks", $"image {n}: overlay"),
            n => byName[n].Path); // the report names each image, whose header gives a merged COCO file its size
    }

    /// <summary>Generates and writes every pending image of the batch; an image that fails is reported and the others go on.</summary>
    /// <param name="images">Every image of the batch (the runner's items are their names).</param>
    /// <param name="batch">The runner from <see cref="Open"/>.</param>
    /// <param name="outputsOf">The outputs of an image, as given to <see cref="Open"/>.</param>
    /// <param name="progress">Hears each image as it starts and ends.</param>
    /// <param name="cancellationToken">Checked between images and between point batches of an image; a cancelled image leaves nothing visible.</param>
    /// <param name="generator">The generator; may be null only when no image is pending.</param>
    public static TaskReport Run(Sam2AutomaticMaskGenerator? generator, IReadOnlyList<BatchImage> images, BatchRunner batch,
        Func<BatchImage, AmgOutputs> outputsOf, IProgress<Sam2Progress>? progress = null, CancellationToken cancellationToken = default)
    {
        var byName = images.ToDictionary(i => i.Name, StringComparer.Ordinal);
        return batch.Run((name, staged, ct) =>
        {
            ArgumentNullException.ThrowIfNull(generator);
            var image = RgbImage.Load(byName[name].Path);
            var anns = generator.Generate(image, cancellationToken: ct);
            outputsOf(byName[name]).Write(staged, image, anns);
        }, "images", progress, cancellationToken);
    }
}
