using System.Runtime.InteropServices;
using System.Text;

namespace Sam2Sharp.IO;

/// <summary>
/// Opening what the user names as an input: a regular file only (a folder, a device or a FIFO is
/// refused by name before it is opened, so an endless device is never read and a FIFO never blocks),
/// and reading with a cap on the bytes.
/// </summary>
public static class InputFiles
{
    /// <summary>Opens <paramref name="path"/> for reading; <paramref name="what"/> ("checkpoint", "image", …) names it in messages.</summary>
    /// <exception cref="Sam2Exception">missing, a folder, not a regular file, or unreadable.</exception>
    public static FileStream OpenRegular(string path, string what)
    {
        CheckRegular(path, what);
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new Sam2Exception($"cannot read {what} file {path}: {e.Message}", e); }
    }

    /// <summary>Refuses a path that is missing, a folder or not a regular file.</summary>
    public static void CheckRegular(string path, string what)
    {
        if (Directory.Exists(path)) throw new Sam2Exception($"{what} {path} is a folder, not a file");
        if (!File.Exists(path)) throw new Sam2Exception($"{what} file not found: {path}");
        if (FileKind.Of(path, followLinks: true) is var kind && kind is not (FileKindType.Regular or FileKindType.Missing))
            throw new Sam2Exception($"{what} {path} is {FileKind.Describe(kind)}, not a regular file");
    }

    /// <summary>Reads a stream as UTF-8 text, refusing more than <paramref name="maxBytes"/>.</summary>
    public static string ReadText(Stream stream, int maxBytes, string what) =>
        Encoding.UTF8.GetString(ReadCapped(stream, maxBytes, what));

    /// <summary>Reads a whole stream, refusing more than <paramref name="maxBytes"/> without reading past it.</summary>
    public static byte[] ReadCapped(Stream stream, long maxBytes, string what)
    {
        var ms = new MemoryStream();
        var buffer = new byte[81920];
        int n;
        try
        {
            while ((n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, maxBytes + 1 - ms.Length))) > 0)
            {
                ms.Write(buffer, 0, n);
                if (ms.Length > maxBytes) throw new Sam2Exception($"{what} is larger than {maxBytes / (1 << 20)} MB; refusing to read it");
            }
        }
        catch (IOException e) { throw new Sam2Exception($"cannot read {what}: {e.Message}", e); }
        return ms.ToArray();
    }
}
