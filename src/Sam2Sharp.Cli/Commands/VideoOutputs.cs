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
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            foreach (var (name, shape, begin, end) in entries)
            {
                w.WriteStartObject(name);
                w.WriteString("dtype", "F32");
                w.WriteStartArray("shape");
                foreach (var s in shape) w.WriteNumberValue(s);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(begin);
                w.WriteNumberValue(end);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        // The format pads the header with spaces so the data starts 8-byte aligned.
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        f.Write(BitConverter.GetBytes((ulong)ms.Length)); // little-endian on every .NET platform we run on
        ms.Position = 0;
        ms.CopyTo(f);
        data.Flush();
        data.Position = 0;
        data.CopyTo(f);
    }

    public void Dispose() => data.Dispose();
}
