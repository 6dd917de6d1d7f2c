using System.Diagnostics;
using System.Globalization;
using System.Text;
using Sam2Sharp.Imaging;

namespace Sam2Sharp.IO;

/// <summary>
/// Encodes RGB frames into a video file with the <c>ffmpeg</c> program, fed raw RGB24 through its standard
/// input; libx264 when this ffmpeg has it, else mpeg4. Odd sizes are padded by one pixel (yuv420p needs even).
/// </summary>
public sealed class OverlayVideoWriter : IDisposable
{
    const string OverlayNeeds = "writing an overlay video";

    /// <summary>The file name endings an overlay video may have.</summary>
    public static readonly string[] Extensions = [".mp4", ".mkv", ".mov", ".avi"];

    /// <summary>The highest frame rate accepted (ffmpeg's encoders refuse absurd rates only after every frame is computed).</summary>
    public const double MaxFrameRate = 1000;

    /// <summary>A frame rate as ffmpeg reads it, refusing zero, negative, non-finite and absurd values.</summary>
    public static string FormatFrameRate(double fps, string label) =>
        fps > 0 && fps <= MaxFrameRate ? fps.ToString("R", CultureInfo.InvariantCulture)
        : throw new Sam2Exception($"{label} must be a number above 0 and at most {MaxFrameRate.ToString(CultureInfo.InvariantCulture)}, got {fps.ToString(CultureInfo.InvariantCulture)}");

    readonly Process process;
    readonly Stream input;
    readonly StringBuilder stderr = new();
    readonly string path;
    readonly int width, height;
    bool finished;

    /// <summary>libx264 or mpeg4, whichever this ffmpeg can encode (libx264 first).</summary>
    public static string ChooseEncoder()
    {
        var (code, output, err) = Ffmpeg.Run("ffmpeg", ["-hide_banner", "-encoders"], OverlayNeeds);
        if (code != 0) throw new Sam2Exception($"ffmpeg -encoders failed: {Ffmpeg.FirstLine(err)}");
        var names = output.Split('\n').Select(l => l.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(p => p.Length >= 2 && p[0].StartsWith('V')).Select(p => p[1]).ToHashSet();
        if (names.Contains("libx264")) return "libx264";
        if (names.Contains("mpeg4")) return "mpeg4";
        throw new Sam2Exception("this ffmpeg has neither the libx264 nor the mpeg4 encoder; an overlay video cannot be written");
    }

    /// <summary>The frame rate of a video file as ffprobe reports it (e.g. "30000/1001"), or null if unknown.</summary>
    public static string? FrameRateOf(string videoFile)
    {
        var (code, output, _) = Ffmpeg.Run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=avg_frame_rate",
            "-of", "default=noprint_wrappers=1:nokey=1", videoFile], OverlayNeeds);
        var rate = output.Trim();
        if (code != 0 || rate.Length == 0) return null;
        var p = rate.Split('/');
        bool ok = p.Length is 1 or 2 && p.All(x => double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0);
        return ok ? rate : null;
    }

    /// <summary>Starts ffmpeg writing <paramref name="path"/> (its format from the extension).</summary>
    public OverlayVideoWriter(string path, int width, int height, string frameRate, string encoder)
    {
        this.path = path; this.width = width; this.height = height;
        var psi = new ProcessStartInfo("ffmpeg") { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "-hide_banner", "-loglevel", "error", "-y",
                     "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", $"{width}x{height}", "-framerate", frameRate, "-i", "-",
                     "-an", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", encoder, "-pix_fmt", "yuv420p" })
            psi.ArgumentList.Add(a);
        foreach (var a in encoder == "libx264" ? new[] { "-crf", "18" } : new[] { "-q:v", "2" }) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add(path);
        process = Ffmpeg.Start(psi, OverlayNeeds);
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginErrorReadLine();
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        input = process.StandardInput.BaseStream;
    }

    /// <summary>Appends a frame of the video's size.</summary>
    public void Write(RgbImage frame)
    {
        if (frame.Width != width || frame.Height != height)
            throw new ArgumentException($"frame is {frame.Width}×{frame.Height}, the video {width}×{height}");
        try { input.Write(frame.Data); }
        catch (IOException) { throw Failure(); }
    }

    /// <summary>Ends the stream and waits for ffmpeg to finish the file.</summary>
    public void Finish()
    {
        try { input.Close(); }
        catch (IOException) { throw Failure(); }
        process.WaitForExit();
        finished = true;
        if (process.ExitCode != 0) throw Failure();
    }

    Sam2Exception Failure()
    {
        process.WaitForExit(5000);
        string err; lock (stderr) err = stderr.ToString();
        return new Sam2Exception($"ffmpeg failed writing {path}: {Ffmpeg.FirstLine(err)}");
    }

    /// <summary>Ends ffmpeg: killed (leaving an incomplete file for the caller to discard) unless the video was finished.</summary>
    public void Dispose()
    {
        if (!finished)
        {
            try { if (!process.HasExited) process.Kill(); process.WaitForExit(2000); } catch (InvalidOperationException) { }
        }
        process.Dispose();
    }
}
