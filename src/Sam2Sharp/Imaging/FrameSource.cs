using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Sam2Sharp.Imaging;

/// <summary>Frames of a video, decoded on demand. All frames have the same size.</summary>
public interface IFrameSource : IDisposable
{
    /// <summary>Number of frames.</summary>
    int Count { get; }
    /// <summary>Width of every frame in pixels.</summary>
    int Width { get; }
    /// <summary>Height of every frame in pixels.</summary>
    int Height { get; }

    /// <summary>The frame's name for outputs: the file stem for a folder, the zero-padded index for a video file.</summary>
    string Name(int index);

    /// <summary>Decodes frame <paramref name="index"/> (0-based).</summary>
    RgbImage Read(int index);
}

/// <summary>Opens a video given as a path.</summary>
public static class FrameSource
{
    /// <summary>A folder of frame images, or a video file decoded with ffmpeg.</summary>
    /// <exception cref="Sam2Exception">The path is neither a folder nor a file.</exception>
    public static IFrameSource Open(string path)
    {
        if (Directory.Exists(path)) return new FolderFrameSource(path);
        if (File.Exists(path)) return new VideoFileFrameSource(path);
        throw new Sam2Exception($"video not found (neither a folder of frames nor a file): {path}");
    }
}

/// <summary>
/// A folder of JPEG/PNG frames. Like the reference, frames are ordered by the integer value of the
/// file stem ("00012.jpg" is frame 12); if any stem is not an integer, by ordinal file name.
/// The size of every frame is checked from its header when the folder is opened.
/// </summary>
public sealed class FolderFrameSource : IFrameSource
{
    static readonly string[] Extensions = { ".jpg", ".jpeg", ".png" };

    readonly string[] _paths;
    readonly string[] _names;

    /// <summary>The folder the frames were read from.</summary>
    public string Folder { get; }
    /// <inheritdoc/>
    public int Count => _paths.Length;
    /// <inheritdoc/>
    public int Width { get; }
    /// <inheritdoc/>
    public int Height { get; }

    /// <summary>Lists and orders the folder's frames and checks that they all have one size.</summary>
    /// <param name="folder">The folder of frame images.</param>
    /// <param name="extensions">The frame file extensions to take (lower case, with the dot); default JPEG and PNG.</param>
    /// <exception cref="Sam2Exception">The folder is missing, holds no frames, or its frames differ in size.</exception>
    public FolderFrameSource(string folder, IReadOnlyCollection<string>? extensions = null)
    {
        extensions ??= Extensions;
        Folder = folder;
        if (!Directory.Exists(folder)) throw new Sam2Exception($"frame folder not found: {folder}");
        var files = Directory.GetFiles(folder)
            .Where(p => extensions.Contains(Path.GetExtension(p).ToLowerInvariant()))
            .ToArray();
        if (files.Length == 0) throw new Sam2Exception($"no {string.Join(" or ", extensions)} frames in {folder}");

        var stems = files.Select(Path.GetFileNameWithoutExtension).ToArray();
        bool numeric = stems.All(s => long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _));
        var order = Enumerable.Range(0, files.Length).ToArray();
        if (numeric)
            order = order.OrderBy(i => long.Parse(stems[i]!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture))
                         .ThenBy(i => Path.GetFileName(files[i]), StringComparer.Ordinal).ToArray();
        else
            order = order.OrderBy(i => Path.GetFileName(files[i]), StringComparer.Ordinal).ToArray();
        _paths = order.Select(i => files[i]).ToArray();
        _names = order.Select(i => stems[i]!).ToArray();

        (Width, Height) = RgbImage.ReadSize(_paths[0]);
        for (int i = 1; i < _paths.Length; i++)
        {
            var (w, h) = RgbImage.ReadSize(_paths[i]);
            if (w != Width || h != Height)
                throw new Sam2Exception($"frame {_paths[i]} is {w}×{h}, but {_paths[0]} is {Width}×{Height}: all frames must have the same size");
        }
    }

    /// <inheritdoc/>
    public string Name(int index) => _names[CheckIndex(index)];

    /// <summary>The file of frame <paramref name="index"/>.</summary>
    public string PathOf(int index) => _paths[CheckIndex(index)];

    /// <inheritdoc/>
    public RgbImage Read(int index)
    {
        var img = RgbImage.Load(_paths[CheckIndex(index)]);
        if (img.Width != Width || img.Height != Height)
            throw new Sam2Exception($"frame {_paths[index]} is {img.Width}×{img.Height}, expected {Width}×{Height}");
        return img;
    }

    int CheckIndex(int index) =>
        index >= 0 && index < _paths.Length ? index
        : throw new ArgumentOutOfRangeException(nameof(index), $"frame {index} is outside 0..{_paths.Length - 1}");

    /// <inheritdoc/>
    public void Dispose() { }
}

/// <summary>
/// A video file decoded by the <c>ffmpeg</c> program into raw RGB24 through a pipe (frame count and
/// size from <c>ffprobe</c>). Frames are decoded in order by one running decoder and the last few
/// are cached, so reading frames forward, or re-reading recent ones, decodes each frame once and
/// uses bounded memory. Reading a frame before the decoder's position (outside the cache) restarts
/// the decoder from the beginning of the file and decodes up to that frame; skipping forward
/// decodes and drops the frames in between. Frames come out with the container's display rotation
/// applied (ffmpeg's default) and one output frame per decoded frame (no frame-rate conversion).
/// Reads are serialised by a lock. A cached frame is returned as the same object each time: do not
/// modify its pixels.
/// </summary>
public sealed class VideoFileFrameSource : IFrameSource
{
    const string VideoFilesNeed = "reading a video file (or pass a folder of JPEG/PNG frames)";

    readonly object _lock = new();
    readonly int _cacheSize;
    readonly LinkedList<(int Index, RgbImage Image)> _cache = new();
    Process? _decoder;
    Stream? _pipe;
    StringBuilder? _stderr;
    int _next; // index of the frame the running decoder yields next
    bool _disposed;

    /// <summary>The video file.</summary>
    public string File { get; }
    /// <inheritdoc/>
    public int Count { get; }
    /// <inheritdoc/>
    public int Width { get; }
    /// <inheritdoc/>
    public int Height { get; }

    /// <summary>How many times a decoder process was started (for diagnostics and tests).</summary>
    public int DecoderStarts { get; private set; }

    /// <summary>Probes the file's frame count and size with ffprobe; decoding starts at the first read.</summary>
    /// <param name="file">the video file.</param>
    /// <param name="cacheSize">number of most recently read frames kept in memory.</param>
    public VideoFileFrameSource(string file, int cacheSize = 4)
    {
        if (!System.IO.File.Exists(file)) throw new Sam2Exception($"video file not found: {file}");
        if (cacheSize < 1) throw new ArgumentOutOfRangeException(nameof(cacheSize));
        File = file;
        _cacheSize = cacheSize;
        (Width, Height, Count) = Probe(file);
    }

    /// <inheritdoc/>
    public string Name(int index) => CheckIndex(index).ToString("D5", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public RgbImage Read(int index)
    {
        CheckIndex(index);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            for (var node = _cache.First; node != null; node = node.Next)
                if (node.Value.Index == index)
                {
                    _cache.Remove(node);
                    _cache.AddFirst(node);
                    return node.Value.Image;
                }

            if (_decoder == null || index < _next) StartDecoder();
            RgbImage? frame = null;
            while (_next <= index)
            {
                frame = ReadNextFrame();
                if (_next > index - _cacheSize) Remember(_next, frame);
                _next++;
            }
            return frame!;
        }
    }

    void Remember(int index, RgbImage image)
    {
        _cache.AddFirst((index, image));
        while (_cache.Count > _cacheSize) _cache.RemoveLast();
    }

    int CheckIndex(int index) =>
        index >= 0 && index < Count ? index
        : throw new ArgumentOutOfRangeException(nameof(index), $"frame {index} is outside 0..{Count - 1}");

    static (int Width, int Height, int Count) Probe(string file)
    {
        var (code, stdout, stderr) = Ffmpeg.Run("ffprobe", new[]
        {
            "-v", "error", "-select_streams", "v:0", "-count_packets",
            "-show_entries", "stream=width,height,nb_read_packets:stream_side_data=rotation",
            "-of", "json", file,
        }, VideoFilesNeed);
        if (code != 0) throw new Sam2Exception($"ffprobe cannot read {file}: {Ffmpeg.FirstLine(stderr)}");
        try
        {
            using var doc = JsonDocument.Parse(stdout);
            var streams = doc.RootElement.GetProperty("streams");
            if (streams.GetArrayLength() == 0) throw new Sam2Exception($"no video stream in {file}");
            var s = streams[0];
            int w = s.GetProperty("width").GetInt32(), h = s.GetProperty("height").GetInt32();
            int n = int.Parse(s.GetProperty("nb_read_packets").GetString()!, CultureInfo.InvariantCulture);
            // ffmpeg applies the display rotation when decoding; a quarter turn swaps the axes.
            if (s.TryGetProperty("side_data_list", out var sides))
                foreach (var sd in sides.EnumerateArray())
                    if (sd.TryGetProperty("rotation", out var r) && Math.Abs(r.GetDouble()) % 180 == 90)
                        (w, h) = (h, w);
            if (w <= 0 || h <= 0 || n <= 0) throw new Sam2Exception($"video {file} has no frames ({w}×{h}, {n} packets)");
            return (w, h, n);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or FormatException or InvalidOperationException)
        {
            throw new Sam2Exception($"unexpected ffprobe output for {file}: {e.Message}", e);
        }
    }

    void StartDecoder()
    {
        StopDecoder();
        var psi = new ProcessStartInfo("ffmpeg")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-nostdin", "-v", "error", "-i", File, "-map", "0:v:0", "-fps_mode", "passthrough",
                     "-f", "rawvideo", "-pix_fmt", "rgb24", "-" })
            psi.ArgumentList.Add(a);
        var p = Ffmpeg.Start(psi, VideoFilesNeed);
        var err = new StringBuilder();
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (err) err.AppendLine(e.Data); };
        p.BeginErrorReadLine();
        _decoder = p; _pipe = p.StandardOutput.BaseStream; _stderr = err; _next = 0;
        DecoderStarts++;
    }

    RgbImage ReadNextFrame()
    {
        var buf = new byte[checked(Width * Height * 3)];
        int got = 0;
        while (got < buf.Length)
        {
            int n = _pipe!.Read(buf, got, buf.Length - got);
            if (n == 0) break;
            got += n;
        }
        if (got < buf.Length)
        {
            _decoder!.WaitForExit(5000);
            string err; lock (_stderr!) err = _stderr.ToString();
            StopDecoder();
            throw new Sam2Exception(got == 0 && err.Length == 0
                ? $"video {File} ended at frame {_next}, but ffprobe counted {Count} frames"
                : $"ffmpeg failed decoding {File} at frame {_next}: {Ffmpeg.FirstLine(err)}");
        }
        return new RgbImage(Width, Height, buf);
    }

    void StopDecoder()
    {
        if (_decoder == null) return;
        try { if (!_decoder.HasExited) _decoder.Kill(); } catch (InvalidOperationException) { }
        try { _decoder.WaitForExit(2000); } catch (InvalidOperationException) { }
        _decoder.Dispose();
        _decoder = null; _pipe = null;
    }

    /// <summary>Stops the decoder process and drops the cached frames.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            StopDecoder();
            _cache.Clear();
        }
    }

}
