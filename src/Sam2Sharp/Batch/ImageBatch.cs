using Sam2Sharp.IO;

namespace Sam2Sharp.Batch;

/// <summary>One image of a batch: its item name (the file name), its path, and the stem its outputs are named after.</summary>
public sealed record BatchImage(string Name, string Path)
{
    /// <summary>The file name without its extension: outputs are <c>&lt;stem&gt;.json</c>, <c>&lt;stem&gt;.png</c>, ….</summary>
    public string Stem => System.IO.Path.GetFileNameWithoutExtension(Name);
}

/// <summary>The images of a batch command: every image file of a folder, or the paths listed in a file.</summary>
public static class ImageBatch
{
    static readonly HashSet<string> Extensions = new(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif" };

    /// <summary>
    /// The images of <paramref name="inputDir"/> (regular files with an image extension, hidden ones left out) or of
    /// <paramref name="inputList"/> (one path per line, relative to the list's folder; blank lines and <c>#</c> comments
    /// skipped), exactly one of the two. Names must be unique by stem, since the outputs are named after it.
    /// </summary>
    /// <exception cref="Sam2Exception">neither or both given, a folder or listed file missing, no image, or two images of one stem.</exception>
    public static IReadOnlyList<BatchImage> List(string? inputDir, string? inputList)
    {
        if ((inputDir is null) == (inputList is null)) throw new Sam2Exception("give exactly one of --input-dir and --input-list");
        var images = new List<(BatchImage Image, string Where)>();
        if (inputDir is not null)
        {
            if (FileKind.Of(inputDir, followLinks: true) is not FileKindType.Directory) throw new Sam2Exception($"input folder not found: {inputDir}");
            foreach (var f in Directory.EnumerateFiles(inputDir).Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileName(f);
                if (name.StartsWith('.') || !Extensions.Contains(Path.GetExtension(name))) continue;
                if (FileKind.Of(f, followLinks: true) is not FileKindType.Regular) continue;
                images.Add((new BatchImage(name, f), name));
            }
            if (images.Count == 0) throw new Sam2Exception($"input folder {inputDir} holds no image ({string.Join(", ", Extensions.Order())})");
        }
        else
        {
            using var stream = InputFiles.OpenRegular(inputList!, "image list");
            var lines = InputFiles.ReadText(stream, 16 << 20, $"image list {inputList}").Split('\n');
            string baseDir = Path.GetDirectoryName(Path.GetFullPath(inputList!))!;
            for (int i = 0; i < lines.Length; i++)
            {
                string line = lines[i].Trim();
                if (line.Length == 0 || line.StartsWith('#')) continue;
                string path = Path.GetFullPath(Path.Combine(baseDir, line));
                string where = $"image list {inputList} line {i + 1}";
                if (FileKind.Of(path, followLinks: true) is not FileKindType.Regular) throw new Sam2Exception($"{where}: {line} is not an image file");
                string name = Path.GetFileName(path);
                if (name.StartsWith('.')) throw new Sam2Exception($"{where}: {line}: a hidden file name (starting with '.') cannot name outputs");
                images.Add((new BatchImage(name, path), where));
            }
            if (images.Count == 0) throw new Sam2Exception($"image list {inputList} names no image");
        }
        foreach (var g in images.GroupBy(i => i.Image.Stem, StringComparer.Ordinal).Where(g => g.Count() > 1))
            throw new Sam2Exception($"{string.Join(" and ", g.Select(i => i.Where))} share the name {g.Key}, and outputs are named after it; rename one");
        return images.Select(i => i.Image).ToList();
    }
}
