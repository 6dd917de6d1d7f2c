using Microsoft.AspNetCore.Http;
using Sam2Sharp.Imaging;
using Sam2Sharp.IO;

namespace Sam2Sharp.Server;

/// <summary>What a new session opens: one image, or the frames of a video (shrunk to the cap).</summary>
public abstract record OpenedMedia(string? TempFolder)
{
    public sealed record Image(RgbImage Picture, string Name, string? TempFolder) : OpenedMedia(TempFolder);
    public sealed record Video(ScaledFrameSource Frames, string? TempFolder) : OpenedMedia(TempFolder);
}

/// <summary>
/// Turns an upload (an image, a video file, a zip of frames, or several frame files) or a path under the data
/// folder into <see cref="OpenedMedia"/>, within the server's caps. Uploads go to a session's own temporary folder.
/// </summary>
public sealed class MediaIntake(ServeOptions options)
{
    static readonly string[] ImageExtensions = { ".jpg", ".jpeg", ".png", ".webp" };
    static readonly string[] VideoExtensions = { ".mp4", ".mov", ".webm", ".mkv", ".avi" };

    long MaxBytes => (long)options.MaxUploadMb * 1024 * 1024;

    /// <summary>A new private temporary folder for one session's files.</summary>
    public static string NewTempFolder()
    {
        var d = Path.Combine(Path.GetTempPath(), "sam2serve-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    /// <summary>Opens the files of a multipart upload (field <c>file</c>, one or more).</summary>
    public async Task<OpenedMedia> FromUploadAsync(IFormFileCollection files, CancellationToken ct)
    {
        var parts = files.GetFiles("file");
        if (parts.Count == 0) throw ApiException.BadRequest("field 'file' is required (multipart upload)");
        string temp = NewTempFolder();
        try
        {
            if (parts.Count == 1)
            {
                var f = parts[0];
                string name = SafeName(f.FileName);
                string ext = Path.GetExtension(name).ToLowerInvariant();
                if (ImageExtensions.Contains(ext))
                {
                    using var ms = new MemoryStream();
                    await f.CopyToAsync(ms, ct);
                    return new OpenedMedia.Image(CheckImage(RgbImage.Decode(ms.ToArray(), name), name), Path.GetFileNameWithoutExtension(name), temp);
                }
                if (ext == ".zip")
                {
                    using var s = f.OpenReadStream();
                    var folder = Path.Combine(temp, "frames");
                    FrameArchive.Extract(s, folder, name, options.MaxFrames, MaxBytes); // over a cap: 413, by the error's kind
                    return Video(new FolderFrameSource(folder), temp);
                }
                if (VideoExtensions.Contains(ext))
                {
                    var path = Path.Combine(temp, "video" + ext);
                    await using (var dst = File.Create(path)) await f.CopyToAsync(dst, ct);
                    return Video(new VideoFileFrameSource(path), temp);
                }
                throw ApiException.BadRequest($"file '{name}': not an image ({string.Join(", ", ImageExtensions)}), a video ({string.Join(", ", VideoExtensions)}) or a .zip of frames");
            }
            // Several files: the frames of one video (a folder picked in the browser).
            if (parts.Count > options.MaxFrames) throw ApiException.TooLarge($"{parts.Count} frames uploaded; the limit is {options.MaxFrames}");
            var frames = Path.Combine(temp, "frames");
            Directory.CreateDirectory(frames);
            foreach (var f in parts)
            {
                string name = SafeName(f.FileName);
                if (!new[] { ".jpg", ".jpeg", ".png" }.Contains(Path.GetExtension(name).ToLowerInvariant()))
                    throw ApiException.BadRequest($"file '{name}': frames must be JPEG or PNG");
                var path = Path.Combine(frames, name);
                if (File.Exists(path)) throw ApiException.BadRequest($"two frames are named {name}");
                await using var dst = File.Create(path);
                await f.CopyToAsync(dst, ct);
            }
            return Video(new FolderFrameSource(frames), temp);
        }
        catch
        {
            Directory.Delete(temp, recursive: true);
            throw;
        }
    }

    /// <summary>Opens a file or frame folder named relative to the data folder.</summary>
    public OpenedMedia FromPath(string relative)
    {
        if (options.DataDir is null) throw ApiException.BadRequest("field 'path': the server was started without --data; upload a file instead");
        string full;
        try { full = ConfinedPath.Resolve(options.DataDir, relative); }
        catch (Sam2Exception e) { throw ApiException.From(e, "field 'path': "); }
        if (Directory.Exists(full)) return Video(new FolderFrameSource(full), null);
        string ext = Path.GetExtension(full).ToLowerInvariant();
        if (ImageExtensions.Contains(ext))
        {
            if (new FileInfo(full).Length > MaxBytes) throw ApiException.TooLarge($"'{relative}' is larger than {options.MaxUploadMb} MB");
            return new OpenedMedia.Image(CheckImage(RgbImage.Load(full), relative), Path.GetFileNameWithoutExtension(full), null);
        }
        if (VideoExtensions.Contains(ext)) return Video(new VideoFileFrameSource(full), null);
        if (ext == ".zip")
        {
            string temp = NewTempFolder();
            try
            {
                using var s = File.OpenRead(full);
                FrameArchive.Extract(s, Path.Combine(temp, "frames"), relative, options.MaxFrames, MaxBytes);
                return Video(new FolderFrameSource(Path.Combine(temp, "frames")), temp);
            }
            catch { Directory.Delete(temp, recursive: true); throw; }
        }
        throw ApiException.BadRequest($"field 'path': '{relative}' is not an image, a video, a .zip of frames or a folder of frames");
    }

    OpenedMedia.Video Video(IFrameSource frames, string? temp)
    {
        if (frames.Count > options.MaxFrames)
        {
            int n = frames.Count;
            frames.Dispose();
            throw ApiException.TooLarge($"the video has {n} frames; the limit is {options.MaxFrames} (--max-frames)");
        }
        return new OpenedMedia.Video(new ScaledFrameSource(frames, options.MaxLongSide, options.MaxShortSide), temp);
    }

    RgbImage CheckImage(RgbImage image, string name) =>
        Math.Max(image.Width, image.Height) <= options.MaxImageSide ? image
        : throw ApiException.TooLarge($"image {name} is {image.Width}×{image.Height}; the limit is {options.MaxImageSide} pixels a side");

    /// <summary>The file name alone: an upload's name never chooses a folder.</summary>
    static string SafeName(string fileName)
    {
        string name = Path.GetFileName(fileName.Replace('\\', '/'));
        if (name.Length == 0 || name.StartsWith('.')) throw ApiException.BadRequest($"file name '{fileName}' is not usable");
        return name;
    }
}
