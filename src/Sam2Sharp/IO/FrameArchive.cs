using System.IO.Compression;

namespace Sam2Sharp.IO;

/// <summary>Frames that arrive as a zip archive (e.g. an upload), unpacked into a folder with caps on what it may hold.</summary>
public static class FrameArchive
{
    static readonly string[] FrameExtensions = { ".jpg", ".jpeg", ".png" };

    /// <summary>
    /// Writes the archive's JPEG/PNG entries (any folder inside, by file name) into <paramref name="folder"/>;
    /// other entries are skipped. Entry names never choose where a file goes beyond its own name, so nothing
    /// lands outside the folder.
    /// </summary>
    /// <returns>How many frames were written.</returns>
    /// <exception cref="Sam2Exception">not a zip, no frames, two frames with one name, or a cap exceeded.</exception>
    public static int Extract(Stream zip, string folder, string name, int maxFrames, long maxBytes)
    {
        ZipArchive archive;
        try { archive = new ZipArchive(zip, ZipArchiveMode.Read, leaveOpen: true); }
        catch (InvalidDataException) { throw new Sam2Exception($"{name} is not a zip archive"); }
        using (archive)
        {
            Directory.CreateDirectory(folder);
            long total = 0;
            int count = 0;
            var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var entry in archive.Entries)
            {
                string file = Path.GetFileName(entry.FullName.Replace('\\', '/'));
                if (file.Length == 0 || file.StartsWith('.') || !FrameExtensions.Contains(Path.GetExtension(file).ToLowerInvariant())) continue;
                if (!names.Add(file)) throw new Sam2Exception($"{name}: two frames are named {file}");
                if (++count > maxFrames) throw Sam2Exception.LimitExceeded($"{name} has more than {maxFrames} frames (the limit)");
                using var src = entry.Open();
                using var dst = File.Create(Path.Combine(folder, file));
                var buffer = new byte[81920];
                int n;
                // Counted while copying: an entry's declared size cannot be trusted.
                while ((n = src.Read(buffer)) > 0)
                {
                    total += n;
                    if (total > maxBytes) throw Sam2Exception.LimitExceeded($"{name} unpacks to more than {maxBytes / (1024 * 1024)} MB (the limit)");
                    dst.Write(buffer, 0, n);
                }
            }
            if (count == 0) throw new Sam2Exception($"{name} holds no JPEG or PNG frames");
            return count;
        }
    }
}
