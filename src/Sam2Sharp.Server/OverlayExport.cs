using Sam2Sharp.Export;

namespace Sam2Sharp.Server;

/// <summary>The overlay video of a video session, encoded into a temporary file (removed after) and sent.</summary>
static class OverlayExport
{
    public static void Write(AnnotationSession s, Stream output)
    {
        var v = s as VideoAnnotation ?? throw ApiException.BadRequest("the overlay video is for video sessions");
        string file = Path.Combine(Path.GetTempPath(), $"sam2serve-overlay-{Guid.NewGuid():N}.mp4");
        try
        {
            AnnotationExport.WriteOverlayVideo(v.Annotations, v.Frames, file);
            using var f = File.OpenRead(file);
            f.CopyTo(output);
        }
        finally { if (File.Exists(file)) File.Delete(file); }
    }
}
