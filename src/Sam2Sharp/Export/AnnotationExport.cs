using System.IO.Compression;
using System.Text.Json;
using Sam2Sharp.Amg;
using Sam2Sharp.Imaging;
using Sam2Sharp.IO;

namespace Sam2Sharp.Export;

/// <summary>How COCO annotations give their <c>segmentation</c>.</summary>
public enum CocoSegmentation
{
    /// <summary>Compressed RLE <c>{"size": [h, w], "counts": "…"}</c>, as the reference's <c>coco_encode_rle</c> writes it.</summary>
    Rle,
    /// <summary>Polygons <c>[[x0, y0, x1, y1, …], …]</c> along pixel edges, outer boundaries only (COCO polygons have no holes).</summary>
    Polygons,
}

/// <summary>Writes <see cref="AnnotatedFrames"/> in the formats annotation tools read.</summary>
public static class AnnotationExport
{
    /// <summary>A zip of indexed PNGs in the DAVIS layout: one per annotated frame, named like the frame, pixel = object id.</summary>
    public static void WriteDavisZip(AnnotatedFrames a, Stream output)
    {
        using var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true);
        foreach (int f in a.Frames)
        {
            var label = a.LabelMap(f);
            using var s = zip.CreateEntry(a.FrameNames[f] + ".png", CompressionLevel.Fastest).Open();
            PalettePng.WriteIndexed(s, label, a.Width, a.Height, PalettePng.DavisPalette);
        }
    }

    /// <summary>A zip with one folder per object (<c>{id}/</c>) of 0/255 grayscale PNGs, one per frame where it has a mask (the SA-V layout).</summary>
    public static void WriteObjectMasksZip(AnnotatedFrames a, Stream output)
    {
        using var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true);
        foreach (int id in a.ObjIds)
            foreach (int f in a.Frames)
            {
                if (!a.On(f).ContainsKey(id)) continue;
                var m = a.Mask(f, id);
                for (int i = 0; i < m.Length; i++) m[i] = m[i] != 0 ? (byte)255 : (byte)0;
                using var s = zip.CreateEntry($"{id:D3}/{a.FrameNames[f]}.png", CompressionLevel.Fastest).Open();
                PalettePng.WriteGray(s, m, a.Width, a.Height);
            }
    }

    /// <summary>
    /// A COCO JSON: one image per frame (<c>file_name</c> the frame name + <paramref name="imageExtension"/>), one category
    /// per object (its name), one annotation per object and annotated frame with <c>track_id</c> = the object id,
    /// its area and XYWH box, and its segmentation as RLE or polygons.
    /// </summary>
    public static void WriteCoco(AnnotatedFrames a, Stream output, CocoSegmentation segmentation, string imageExtension = ".jpg")
    {
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartObject();
        w.WriteStartObject("info");
        w.WriteString("description", "Sam2Sharp annotations");
        w.WriteEndObject();
        w.WriteStartArray("images");
        for (int f = 0; f < a.FrameNames.Count; f++)
        {
            w.WriteStartObject();
            w.WriteNumber("id", f + 1);
            w.WriteString("file_name", a.FrameNames[f] + imageExtension);
            w.WriteNumber("width", a.Width);
            w.WriteNumber("height", a.Height);
            w.WriteNumber("frame_index", f);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("categories");
        foreach (int id in a.ObjIds)
        {
            w.WriteStartObject();
            w.WriteNumber("id", id);
            w.WriteString("name", a.NameOf(id));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("annotations");
        int annId = 0;
        foreach (int f in a.Frames)
            foreach (var (id, rle) in a.On(f))
            {
                var mask = AmgUtils.RleToMaskArray(rle);
                var box = AmgUtils.MaskToBox(mask, a.Height, a.Width);
                w.WriteStartObject();
                w.WriteNumber("id", ++annId);
                w.WriteNumber("image_id", f + 1);
                w.WriteNumber("category_id", id);
                w.WriteNumber("track_id", id);
                w.WriteNumber("area", AmgUtils.AreaFromRle(rle));
                w.WriteStartArray("bbox");
                foreach (var v in new[] { box[0], box[1], box[2] - box[0] + 1, box[3] - box[1] + 1 }) w.WriteNumberValue(v);
                w.WriteEndArray();
                w.WriteNumber("iscrowd", 0);
                w.WritePropertyName("segmentation");
                if (segmentation == CocoSegmentation.Rle)
                {
                    var coco = CocoRleCodec.Encode(rle);
                    w.WriteStartObject();
                    w.WriteStartArray("size");
                    w.WriteNumberValue(coco.Height);
                    w.WriteNumberValue(coco.Width);
                    w.WriteEndArray();
                    w.WriteString("counts", coco.Counts);
                    w.WriteEndObject();
                }
                else
                {
                    var bytes = new byte[mask.Length];
                    for (int i = 0; i < mask.Length; i++) bytes[i] = mask[i] ? (byte)1 : (byte)0;
                    w.WriteStartArray();
                    foreach (var poly in MaskPolygons.OuterBoundaries(bytes, a.Width, a.Height))
                    {
                        w.WriteStartArray();
                        foreach (var v in poly) w.WriteNumberValue(v);
                        w.WriteEndArray();
                    }
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>
    /// An overlay video (mp4 through ffmpeg) of every frame with each object's mask tinted and outlined in its colour
    /// (objects keep one colour throughout, in id order); frames without masks are shown as they are.
    /// </summary>
    public static void WriteOverlayVideo(AnnotatedFrames a, IFrameSource frames, string path, string frameRate = "24")
    {
        if (frames.Width != a.Width || frames.Height != a.Height || frames.Count != a.FrameNames.Count)
            throw new ArgumentException("the frames are not those of the annotation");
        var ids = a.ObjIds;
        using var writer = new OverlayVideoWriter(path, a.Width, a.Height, frameRate, OverlayVideoWriter.ChooseEncoder());
        for (int f = 0; f < frames.Count; f++)
            writer.Write(MaskImages.Overlay(frames.Read(f), ids.Select(id => a.Mask(f, id)).ToList()));
        writer.Finish();
    }
}
