using Sam2Sharp.IO;
using Sam2Sharp.Imaging;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace Sam2Sharp.Cli.Commands;

/// <summary>
/// Outputs written under hidden temporary names beside their targets (<c>.NAME.partial-XXXXXXXX</c>) and moved
/// into place only by <see cref="Commit"/>; disposing without a commit deletes them, so a failed run never
/// leaves a partial output under the name the user asked for.
/// </summary>
public sealed class StagedOutputs : IDisposable
{
    readonly List<(string Temp, string Target, bool IsFolder)> staged = new();
    readonly List<string> scratch = new();

    /// <summary>Refuses a target that cannot be produced: a missing parent folder, a file where a folder is wanted
    /// (or the reverse), or a folder that is not empty.</summary>
    public static string CheckTarget(string option, string path, bool folder)
    {
        string full = Path.GetFullPath(path);
        string? parent = Path.GetDirectoryName(full);
        if (parent is null || !Directory.Exists(parent)) throw new Sam2Exception($"{option} {path}: the folder {parent} does not exist");
        if (folder)
        {
            if (System.IO.File.Exists(full)) throw new Sam2Exception($"{option} {path} is a file, not a folder");
            if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
                throw new Sam2Exception($"{option} {path} exists and is not empty; give a new or empty folder");
        }
        else if (Directory.Exists(full)) throw new Sam2Exception($"{option} {path} is a folder, not a file");
        return full;
    }

    static string Beside(string target, string tag)
    {
        string dir = Path.GetDirectoryName(target)!;
        string name = Path.GetFileNameWithoutExtension(target);
        // The extension stays last so tools that pick the format from it (ffmpeg) see the right one.
        return Path.Combine(dir, $".{name}.{tag}-{Guid.NewGuid().ToString("N")[..8]}{Path.GetExtension(target)}");
    }

    /// <summary>A temporary file to write instead of <paramref name="target"/>.</summary>
    public string File(string target)
    {
        var t = Beside(target, "partial");
        staged.Add((t, target, false));
        return t;
    }

    /// <summary>A temporary (created, empty) folder to fill instead of <paramref name="target"/>.</summary>
    public string Folder(string target)
    {
        var t = Beside(target, "partial");
        Directory.CreateDirectory(t);
        staged.Add((t, target, true));
        return t;
    }

    /// <summary>A working file beside <paramref name="near"/> that is deleted when this is disposed, committed or not.</summary>
    public string Scratch(string near)
    {
        var t = Beside(near, "scratch");
        scratch.Add(t);
        return t;
    }

    public void Commit()
    {
        foreach (var (temp, target, isFolder) in staged)
        {
            try
            {
                if (isFolder)
                {
                    if (Directory.Exists(target)) Directory.Delete(target); // checked empty before the run
                    Directory.Move(temp, target);
                }
                else System.IO.File.Move(temp, target, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new Sam2Exception($"cannot move {temp} to {target}: {e.Message}", e);
            }
        }
        staged.Clear();
    }

    public void Dispose()
    {
        foreach (var (temp, _, isFolder) in staged) Delete(temp, isFolder);
        foreach (var s in scratch) Delete(s, false);
        staged.Clear();
        scratch.Clear();
    }

    static void Delete(string path, bool folder)
    {
        try
        {
            if (folder) { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
            else if (System.IO.File.Exists(path)) System.IO.File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}

/// <summary>
/// Writes float32 tensors to a safetensors file without holding them all in memory: their bytes go to a
/// scratch file as they come, and <see cref="Finish"/> writes the header (which needs every shape) then the data.
/// </summary>
public sealed class SafetensorsStreamWriter(string scratchPath) : IDisposable
{
    readonly FileStream data = new(scratchPath, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
    readonly List<(string Name, long[] Shape, long Begin, long End)> entries = new();

    public void Add(string name, Tensor t)
    {
        using var scope = NewDisposeScope();
        var c = t.to_type(ScalarType.Float32).contiguous().cpu();
        var values = c.data<float>().ToArray();
        long begin = data.Position;
        data.Write(MemoryMarshal.AsBytes(values.AsSpan()));
        entries.Add((name, c.shape.ToArray(), begin, data.Position));
    }

    public void Finish(string path)
    {
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        SafetensorsFormat.WriteHeader(f, entries);
        data.Flush();
        data.Position = 0;
        data.CopyTo(f);
    }

    public void Dispose() => data.Dispose();
}

/// <summary>
/// Encodes RGB frames into a video file with the <c>ffmpeg</c> program, fed raw RGB24 through its standard
/// input; libx264 when this ffmpeg has it, else mpeg4. Odd sizes are padded by one pixel (yuv420p needs even).
/// </summary>
public sealed class OverlayVideoWriter : IDisposable
{
    const string OverlayNeeds = "--overlay-video";

    public static readonly string[] Extensions = [".mp4", ".mkv", ".mov", ".avi"];

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
        throw new Sam2Exception("this ffmpeg has neither the libx264 nor the mpeg4 encoder; --overlay-video cannot be written");
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

    public void Write(Imaging.RgbImage frame)
    {
        if (frame.Width != width || frame.Height != height)
            throw new ArgumentException($"frame is {frame.Width}×{frame.Height}, the video {width}×{height}");
        try { input.Write(frame.Data); }
        catch (IOException) { throw Failure(); }
    }

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

    public void Dispose()
    {
        if (!finished)
        {
            try { if (!process.HasExited) process.Kill(); process.WaitForExit(2000); } catch (InvalidOperationException) { }
        }
        process.Dispose();
    }
}
