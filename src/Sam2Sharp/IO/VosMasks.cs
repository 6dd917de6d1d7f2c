using System.Globalization;

namespace Sam2Sharp.IO;

/// <summary>How the masks of a VOS dataset are stored under each video's annotation folder.</summary>
public enum VosLayout
{
    /// <summary>DAVIS, MOSE: <c>&lt;video&gt;/&lt;frame&gt;.png</c>, one label map per frame (pixel value = object id).</summary>
    Palette,
    /// <summary>SA-V: <c>&lt;video&gt;/&lt;object&gt;/&lt;frame&gt;.png</c>, one binary mask per object and frame
    /// (anything &gt; 0 is on; a missing file means the object is absent there).</summary>
    PerObject,
}

/// <summary>
/// The one reader and writer of VOS mask folders, shared by evaluation, batch inference and training: the layout
/// detector, the object folders, and the masks of one frame in either layout.
/// </summary>
public static class VosMasks
{
    /// <summary>
    /// The layout of one video's annotation folder: PNG files → <see cref="VosLayout.Palette"/>, object
    /// sub-folders only → <see cref="VosLayout.PerObject"/>; both at once is refused.
    /// </summary>
    /// <exception cref="Sam2Exception">the folder is missing, unreadable, or mixes frame files and object folders.</exception>
    public static VosLayout Detect(string videoMaskDir)
    {
        if (!Directory.Exists(videoMaskDir)) throw new Sam2Exception($"annotation folder not found: {videoMaskDir}");
        try
        {
            bool pngs = Directory.EnumerateFiles(videoMaskDir, "*.png").Any(p => !IsHidden(p));
            bool dirs = Directory.EnumerateDirectories(videoMaskDir).Any(p => !IsHidden(p));
            if (pngs && dirs)
                throw new Sam2Exception($"{videoMaskDir} holds both frame PNGs and object folders (mixed layout)");
            return dirs ? VosLayout.PerObject : VosLayout.Palette;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Sam2Exception($"cannot list {videoMaskDir}: {e.Message}", e);
        }
    }

    /// <summary>
    /// The object folders of a per-object annotation folder in name order, with their ids: the folder's number plus
    /// <paramref name="idOffset"/> (the reference's training loader adds 1 so that 0 stays background; its VOS tool adds 0).
    /// </summary>
    public static IReadOnlyList<(int Id, string Path)> ObjectFolders(string videoMaskDir, int idOffset = 0)
    {
        var list = new List<(int, string)>();
        foreach (var d in Directory.GetDirectories(videoMaskDir).Where(d => !IsHidden(d)).Order(StringComparer.Ordinal))
        {
            var n = Path.GetFileName(d);
            if (!int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out int k))
                throw new Sam2Exception($"object folder {d}: the name must be the object id (a number, e.g. 001)");
            list.Add((k + idOffset, d));
        }
        return list;
    }

    /// <summary>Whether an entry is hidden (a name starting with '.': a batch's <c>.sam2-tasks</c>, a staged output), which no
    /// reader of VOS folders takes for a video, an object or a frame.</summary>
    public static bool IsHidden(string path) => Path.GetFileName(Path.TrimEndingDirectorySeparator(path)).StartsWith('.');

    /// <summary>Reads one mask PNG (see <see cref="PalettePng.ReadMask(string)"/>) and checks that it is
    /// <paramref name="width"/>×<paramref name="height"/>; <paramref name="where"/> starts the message (e.g. "video v frame 00003").</summary>
    public static MaskImage Read(string path, int width, int height, string where)
    {
        var m = PalettePng.ReadMask(path);
        if (m.Width != width || m.Height != height)
            throw new Sam2Exception($"{where}: mask {path} is {m.Width}x{m.Height}, but the frame is {width}x{height}");
        return m;
    }

    /// <summary>
    /// The masks of one frame per object id: from the label map (palette layout, ids = nonzero values, ascending) or
    /// from each object's folder (per-object layout, nonzero = on). <paramref name="palette"/> becomes the palette of
    /// the last file read, if any. With <paramref name="allowMissing"/>, a missing file means no mask; otherwise it
    /// throws <see cref="FileNotFoundException"/>.
    /// </summary>
    public static Dictionary<int, bool[]> ReadFrame(string videoMaskDir, string frameName, VosLayout layout, bool allowMissing,
        ref byte[]? palette, int width, int height)
    {
        var result = new Dictionary<int, bool[]>();
        if (layout == VosLayout.Palette)
        {
            var path = Path.Combine(videoMaskDir, frameName + ".png");
            if (!File.Exists(path))
            {
                if (allowMissing) return result;
                throw new FileNotFoundException($"mask not found: {path}", path);
            }
            var m = Read(path, width, height, $"frame {frameName}");
            palette = m.Palette;
            foreach (int id in m.Values.Where(v => v > 0).Distinct().Order())
                result[id] = m.Values.Select(v => v == id).ToArray();
            return result;
        }
        foreach (var (id, objDir) in ObjectFolders(videoMaskDir))
        {
            var path = Path.Combine(objDir, frameName + ".png");
            if (!File.Exists(path))
            {
                if (allowMissing) continue;
                throw new FileNotFoundException($"mask not found: {path}", path);
            }
            var m = Read(path, width, height, $"frame {frameName}");
            palette = m.Palette;
            result[id] = m.Values.Select(v => v > 0).ToArray();
        }
        return result;
    }

    /// <summary>
    /// Writes one frame under <paramref name="videoDir"/>: a label map (palette layout: where masks overlap the
    /// smaller id wins) or one 0/1 indexed PNG per object in <c>&lt;object id:000&gt;/</c> (per-object layout), always
    /// with <paramref name="palette"/> (its first 256 colours), as the reference's VOS tool does.
    /// </summary>
    public static void WriteFrame(string videoDir, string frameName, IReadOnlyDictionary<int, bool[]> perObj,
        int width, int height, VosLayout layout, byte[] palette)
    {
        Directory.CreateDirectory(videoDir);
        if (palette.Length > 768) palette = palette[..768];
        if (layout == VosLayout.Palette)
        {
            var map = LabelMap.Compose(perObj, width * height);
            PalettePng.WriteIndexed(Path.Combine(videoDir, frameName + ".png"), map, width, height, palette);
            return;
        }
        foreach (var (id, m) in perObj)
        {
            var objDir = Path.Combine(videoDir, id.ToString("D3", CultureInfo.InvariantCulture));
            Directory.CreateDirectory(objDir);
            var px = new byte[width * height];
            for (int p = 0; p < px.Length; p++) px[p] = m[p] ? (byte)1 : (byte)0;
            PalettePng.WriteIndexed(Path.Combine(objDir, frameName + ".png"), px, width, height, palette);
        }
    }
}
