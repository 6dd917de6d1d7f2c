using System.Text.Json;
using Sam2Sharp.Amg;
using Sam2Sharp.IO;

namespace Sam2Sharp.Cluster;

/// <summary>
/// The automatic mask generator's per-image annotation files (the JSON <c>sam2 amg</c> writes) merged into one COCO
/// JSON: images numbered 1… in the ordinal order of their names, annotations numbered 1… image by image in file order,
/// so the same inputs give the same file whatever the tasks and their order. Masks are COCO compressed RLE. Every image
/// records its height and width: those of its masks, or, for an image without any, those in its file's header.
/// </summary>
public static class CocoMerge
{
    const int MaxFileBytes = 1 << 30;

    /// <summary>One image: its name (the COCO <c>file_name</c>), its annotation file, and the image file itself.</summary>
    /// <param name="Name">The image's name.</param>
    /// <param name="AnnotationFile">The JSON list of annotations of it.</param>
    /// <param name="ImageFile">The image, whose header gives its size when it has no annotation (only then is it read).</param>
    public sealed record Image(string Name, string AnnotationFile, string? ImageFile = null);

    /// <summary>The merged COCO JSON (UTF-8) and the counts.</summary>
    /// <exception cref="Sam2Exception">an annotation file is missing or not of the generator's form (file, annotation, field), or an
    /// image without annotations has no readable image file to take its size from.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked per image).</exception>
    public static (byte[] Json, int Images, int Annotations) Merge(IEnumerable<Image> images, CancellationToken cancellationToken = default)
    {
        var sorted = images.OrderBy(i => i.Name, StringComparer.Ordinal).ToList();
        if (sorted.Select(i => i.Name).Distinct(StringComparer.Ordinal).Count() != sorted.Count)
            throw new Sam2Exception("two images of the same name: their annotations cannot be told apart in one COCO file");
        using var ms = new MemoryStream();
        int annotationId = 0;
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = false }))
        {
            w.WriteStartObject();
            var parsed = sorted.Select(i => { cancellationToken.ThrowIfCancellationRequested(); return (i, Read(i.AnnotationFile)); }).ToList();
            w.WriteStartArray("images");
            for (int k = 0; k < parsed.Count; k++)
            {
                var (image, anns) = parsed[k];
                w.WriteStartObject();
                w.WriteNumber("id", k + 1);
                w.WriteString("file_name", image.Name);
                var (height, width) = anns.Count > 0 ? (anns[0].Rle.Height, anns[0].Rle.Width) : HeaderSize(image);
                w.WriteNumber("height", height);
                w.WriteNumber("width", width);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("annotations");
            for (int k = 0; k < parsed.Count; k++)
                foreach (var a in parsed[k].Item2)
                {
                    w.WriteStartObject();
                    w.WriteNumber("id", ++annotationId);
                    w.WriteNumber("image_id", k + 1);
                    w.WriteNumber("category_id", 1);
                    w.WriteStartObject("segmentation");
                    w.WriteStartArray("size"); w.WriteNumberValue(a.Rle.Height); w.WriteNumberValue(a.Rle.Width); w.WriteEndArray();
                    w.WriteString("counts", a.Rle.Counts);
                    w.WriteEndObject();
                    foreach (var (name, value) in a.Rest) { w.WritePropertyName(name); value.WriteTo(w); }
                    w.WriteNumber("iscrowd", 0);
                    w.WriteEndObject();
                }
            w.WriteEndArray();
            w.WriteStartArray("categories");
            w.WriteStartObject(); w.WriteNumber("id", 1); w.WriteString("name", "object"); w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return (ms.ToArray(), sorted.Count, annotationId);
    }

    sealed record Annotation(CocoRle Rle, IReadOnlyList<(string Name, JsonElement Value)> Rest);

    // An image without masks has no size in its annotation file: its own header has it (nothing is decoded).
    static (int Height, int Width) HeaderSize(Image image)
    {
        if (image.ImageFile is not { } file)
            throw new Sam2Exception($"image {image.Name} has no annotation and no image file is known to read its size from (its task report names none: re-run that task with this sam2)");
        try
        {
            var (width, height) = Imaging.RgbImage.ReadSize(file);
            return (height, width);
        }
        catch (Sam2Exception e) { throw new Sam2Exception($"image {image.Name} has no annotation, and its size cannot be read from {file}: {e.Message}"); }
    }

    // Keeps every field of an annotation but the segmentation (area, bbox, scores, point and crop box) as written.
    static List<Annotation> Read(string path)
    {
        using var stream = InputFiles.OpenRegular(path, "annotation file");
        var text = InputFiles.ReadText(stream, MaxFileBytes, $"annotation file {path}");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text); }
        catch (JsonException e) { throw new Sam2Exception($"annotation file {path}: not JSON ({e.Message.Split('\n')[0]})"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new Sam2Exception($"annotation file {path}: expected a list of annotations");
            var list = new List<Annotation>();
            int n = 0;
            foreach (var a in doc.RootElement.EnumerateArray())
            {
                string where = $"annotation file {path}, annotation {n++}";
                if (a.ValueKind != JsonValueKind.Object || !a.TryGetProperty("segmentation", out var seg))
                    throw new Sam2Exception($"{where}: no segmentation");
                var rest = a.EnumerateObject().Where(p => p.Name != "segmentation").Select(p => (p.Name, p.Value.Clone())).ToList();
                list.Add(new Annotation(Segmentation(seg, where), rest));
            }
            return list;
        }
    }

    static CocoRle Segmentation(JsonElement seg, string where)
    {
        if (seg.ValueKind != JsonValueKind.Object || !seg.TryGetProperty("size", out var size) || !seg.TryGetProperty("counts", out var counts)
            || size.ValueKind != JsonValueKind.Array || size.GetArrayLength() != 2)
            throw new Sam2Exception($"{where}: segmentation is not an RLE {{size, counts}} (run sam2 amg with --output-mode coco_rle or uncompressed_rle)");
        int h = size[0].GetInt32(), w = size[1].GetInt32();
        return counts.ValueKind switch
        {
            JsonValueKind.String => new CocoRle(h, w, counts.GetString()!),
            JsonValueKind.Array => CocoRleCodec.Encode(new Rle(h, w, counts.EnumerateArray().Select(c => c.GetInt32()).ToArray())),
            _ => throw new Sam2Exception($"{where}: segmentation.counts is neither a string nor a list of numbers"),
        };
    }
}
