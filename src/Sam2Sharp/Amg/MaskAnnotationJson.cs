using System.Text.Json;

namespace Sam2Sharp.Amg;

/// <summary>The automatic mask generator's annotations as JSON, with the reference's keys in its order.</summary>
public static class MaskAnnotationJson
{
    /// <summary>The annotations with the reference's keys, in its order (UTF-8 JSON).</summary>
    public static byte[] Serialize(IReadOnlyList<MaskAnnotation> anns)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartArray();
            foreach (var a in anns)
            {
                w.WriteStartObject();
                w.WritePropertyName("segmentation");
                WriteSegmentation(w, a.Segmentation);
                w.WriteNumber("area", a.Area);
                WriteArray(w, "bbox", a.Bbox);
                w.WritePropertyName("predicted_iou");
                WriteDouble(w, a.PredictedIou);
                w.WriteStartArray("point_coords");
                foreach (var p in a.PointCoords) WriteArray(w, null, p);
                w.WriteEndArray();
                w.WritePropertyName("stability_score");
                WriteDouble(w, a.StabilityScore);
                WriteArray(w, "crop_box", a.CropBox);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        return ms.ToArray();
    }

    static void WriteSegmentation(Utf8JsonWriter w, MaskSegmentation s)
    {
        switch (s.Mode)
        {
            case AmgOutputMode.BinaryMask:
                w.WriteStartArray();
                for (int y = 0; y < s.Height; y++)
                {
                    w.WriteStartArray();
                    for (int x = 0; x < s.Width; x++) w.WriteNumberValue(s.Mask![y * s.Width + x] ? 1 : 0);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                break;
            case AmgOutputMode.UncompressedRle:
                w.WriteStartObject();
                WriteSize(w, s);
                w.WriteStartArray("counts");
                foreach (var c in s.Rle!.Counts) w.WriteNumberValue(c);
                w.WriteEndArray();
                w.WriteEndObject();
                break;
            default:
                w.WriteStartObject();
                WriteSize(w, s);
                w.WriteString("counts", s.CocoRle!.Counts);
                w.WriteEndObject();
                break;
        }
    }

    // JSON has no NaN (a stability score of two empty masks): written as null.
    static void WriteDouble(Utf8JsonWriter w, double v)
    {
        if (double.IsFinite(v)) w.WriteNumberValue(v); else w.WriteNullValue();
    }

    static void WriteSize(Utf8JsonWriter w, MaskSegmentation s)
    {
        w.WriteStartArray("size");
        w.WriteNumberValue(s.Height);
        w.WriteNumberValue(s.Width);
        w.WriteEndArray();
    }

    static void WriteArray(Utf8JsonWriter w, string? name, double[] values)
    {
        if (name is null) w.WriteStartArray(); else w.WriteStartArray(name);
        foreach (var v in values) WriteDouble(w, v);
        w.WriteEndArray();
    }
}
