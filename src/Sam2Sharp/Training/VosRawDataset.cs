using System.Globalization;
using Sam2Sharp.Imaging;
using Sam2Sharp.IO;

namespace Sam2Sharp.Training;

/// <summary>Which videos and frames of a VOS folder pair are used (the reference's PNGRawDataset arguments).</summary>
public sealed record VosRawDatasetOptions
{
    /// <summary>A text file with one video name per line (the reference's <c>file_list_txt</c>, e.g. an ImageSets
    /// list); an extension on a line is dropped. Null: every sub-folder of the image folder.</summary>
    public string? FileList { get; init; }

    /// <summary>The annotation layout; null (default): detected from the first video's annotation folder
    /// (<see cref="VosMasks.Detect"/>).</summary>
    public VosLayout? Layout { get; init; }

    /// <summary>
    /// False (default): a frame without an annotation is an error, because the reference's palette loader fails on
    /// such a frame as soon as it is sampled (and in training silently retries another video). True: such frames are
    /// dropped before sampling, as the reference's SA-V JSON dataset does with <c>rm_unannotated</c> (e.g. masks
    /// given every 4th frame, or only a first-frame prompt); clips are then consecutive annotated frames.
    /// </summary>
    public bool SkipUnannotatedFrames { get; init; }

    /// <summary>Keep every n-th frame (the reference's <c>sample_rate</c>).</summary>
    public int SampleRate { get; init; } = 1;
}

/// <summary>
/// A VOS dataset on disk: <c>JPEGImages/&lt;video&gt;/&lt;frame&gt;.jpg</c> with annotations in one of the
/// <see cref="VosLayout"/>s. Everything is checked when it is opened (every annotation is read once), so a broken
/// dataset is refused with a one-line <see cref="Sam2Exception"/> naming the video and frame before training starts.
/// </summary>
public sealed class VosRawDataset
{
    public string ImageFolder { get; }
    public string AnnotationFolder { get; }
    public VosLayout Layout { get; }
    public IReadOnlyList<VosVideo> Videos { get; }

    VosRawDataset(string img, string gt, VosLayout layout, IReadOnlyList<VosVideo> videos)
    {
        ImageFolder = img; AnnotationFolder = gt; Layout = layout; Videos = videos;
    }

    /// <summary>A dataset root holding <c>JPEGImages</c> and <c>Annotations</c>.</summary>
    public static VosRawDataset OpenRoot(string root, VosRawDatasetOptions? options = null) =>
        Open(Path.Combine(root, "JPEGImages"), Path.Combine(root, "Annotations"), options);

    public static VosRawDataset Open(string imageFolder, string annotationFolder, VosRawDatasetOptions? options = null)
    {
        options ??= new VosRawDatasetOptions();
        if (options.SampleRate < 1) throw new Sam2Exception($"sample rate must be at least 1, got {options.SampleRate}");
        if (!Directory.Exists(imageFolder)) throw new Sam2Exception($"image folder not found: {imageFolder}");
        if (!Directory.Exists(annotationFolder)) throw new Sam2Exception($"annotation folder not found: {annotationFolder}");

        List<string> names;
        if (options.FileList != null)
        {
            if (!File.Exists(options.FileList)) throw new Sam2Exception($"video list not found: {options.FileList}");
            names = File.ReadAllLines(options.FileList).Select(l => l.Trim()).Where(l => l.Length > 0)
                .Select(Path.GetFileNameWithoutExtension).Select(n => n!).Distinct().Order(StringComparer.Ordinal).ToList();
            if (names.Count == 0) throw new Sam2Exception($"empty dataset: the video list {options.FileList} names no video");
        }
        else
        {
            names = Directory.GetDirectories(imageFolder).Select(Path.GetFileName).Select(n => n!).Order(StringComparer.Ordinal).ToList();
            if (names.Count == 0) throw new Sam2Exception($"empty dataset: no video folders in {imageFolder}");
        }

        var firstDir = Path.Combine(annotationFolder, names[0]);
        if (options.Layout is null && !Directory.Exists(firstDir)) throw new Sam2Exception($"video {names[0]}: annotation folder not found: {firstDir}");
        var layout = options.Layout ?? VosMasks.Detect(firstDir);

        // Every annotation is decoded once here; videos are independent, so they are read in parallel, and the
        // error reported is the one of the first broken video in name order, whatever finished first.
        var videos = new VosVideo[names.Count];
        var errors = new Exception?[names.Count];
        Parallel.For(0, names.Count, i =>
        {
            try { videos[i] = ReadVideo(imageFolder, annotationFolder, names[i], i, layout, options); }
            catch (Exception e) { errors[i] = e; }
        });
        var first = errors.FirstOrDefault(e => e != null);
        if (first != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
        return new VosRawDataset(imageFolder, annotationFolder, layout, videos);
    }

    static VosVideo ReadVideo(string imageFolder, string annotationFolder, string name, int index, VosLayout layout, VosRawDatasetOptions options)
    {
        var frameDir = Path.Combine(imageFolder, name);
        if (!Directory.Exists(frameDir)) throw new Sam2Exception($"video {name}: frame folder not found: {frameDir}");
        var maskDir = Path.Combine(annotationFolder, name);
        if (!Directory.Exists(maskDir)) throw new Sam2Exception($"video {name}: annotation folder not found: {maskDir}");

        var jpegs = Directory.GetFiles(frameDir)
            .Where(p => p.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || p.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal).Where((_, i) => i % options.SampleRate == 0).ToList();
        if (jpegs.Count == 0) throw new Sam2Exception($"video {name}: no JPEG frames in {frameDir}");

        Dictionary<int, string>? palettePngs = null;
        List<(int Id, Dictionary<int, string> Pngs)>? objects = null;
        if (layout == VosLayout.Palette)
        {
            palettePngs = PngsById(maskDir);
            if (palettePngs.Count == 0)
                throw new Sam2Exception(Directory.GetDirectories(maskDir).Length > 0
                    ? $"video {name}: {maskDir} holds per-object folders, but the dataset uses the palette layout (one PNG per frame)"
                    : $"video {name}: no annotation PNGs in {maskDir}");
        }
        else
        {
            // As the reference's training loader: id = folder number + 1, 0 being the background.
            objects = VosMasks.ObjectFolders(maskDir, idOffset: 1).Select(o => (o.Id, PngsById(o.Path))).ToList();
            if (objects.Count == 0) throw new Sam2Exception($"video {name}: no object folders in {maskDir} (per-object layout)");
        }

        int width = 0, height = 0;
        string? sizeFrom = null;
        var frames = new List<VosFrame>(jpegs.Count);
        foreach (var jpg in jpegs)
        {
            int frameId = ParseFrameId(jpg, $"video {name}");
            string frameName = VosVideo.FrameName(frameId);
            var (w, h) = RgbImage.ReadSize(jpg);
            if (sizeFrom == null) { width = w; height = h; sizeFrom = frameName; }
            else if (w != width || h != height)
                throw new Sam2Exception($"video {name} frame {frameName}: image is {w}x{h}, but frame {sizeFrom} is {width}x{height}");

            var visible = new List<int>();
            if (palettePngs != null)
            {
                if (!palettePngs.TryGetValue(frameId, out var png))
                {
                    if (options.SkipUnannotatedFrames) continue;
                    throw new Sam2Exception($"video {name} frame {frameName}: no annotation ({Path.Combine(maskDir, frameName + ".png")} is missing)");
                }
                var m = ReadMask(png, name, frameId, width, height);
                var seen = new bool[256];
                foreach (var v in m.Values) if (v > 0 && v < 256) seen[v] = true;
                for (int v = 1; v < 256; v++) if (seen[v]) visible.Add(v);
                if (m.Values.Any(v => v >= 256)) visible.AddRange(m.Values.Where(v => v >= 256).Distinct().Order());
                frames.Add(new VosFrame(frameId, jpg, png, null, visible));
            }
            else
            {
                var paths = new Dictionary<int, string>();
                foreach (var (id, pngs) in objects!)
                {
                    if (!pngs.TryGetValue(frameId, out var png)) continue;
                    paths[id] = png;
                    if (ReadMask(png, name, frameId, width, height).Values.Any(v => v > 0)) visible.Add(id);
                }
                if (paths.Count == 0)
                {
                    if (options.SkipUnannotatedFrames) continue;
                    throw new Sam2Exception($"video {name} frame {frameName}: no annotation (no object folder of {maskDir} has {frameName}.png)");
                }
                frames.Add(new VosFrame(frameId, jpg, null, paths, visible));
            }
        }
        if (frames.Count == 0) throw new Sam2Exception($"video {name}: none of its {jpegs.Count} frames has an annotation in {maskDir}");
        if (frames.All(f => f.VisibleObjectIds.Count == 0))
            throw new Sam2Exception($"video {name}: no objects (all {frames.Count} annotations are empty)");
        return new VosVideo(name, index, width, height, layout, frames);
    }

    /// <summary>PNG files of a folder by the number in their name (DAVIS uses 00000.png, some sets more digits).</summary>
    internal static Dictionary<int, string> PngsById(string dir)
    {
        var map = new Dictionary<int, string>();
        foreach (var p in Directory.GetFiles(dir, "*.png").Order(StringComparer.Ordinal))
            map.TryAdd(ParseFrameId(p, $"annotation folder {dir}"), p);
        return map;
    }

    static int ParseFrameId(string path, string where)
    {
        var stem = Path.GetFileNameWithoutExtension(path);
        if (!int.TryParse(stem, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
            throw new Sam2Exception($"{where}: file name {Path.GetFileName(path)} is not a frame number");
        return id;
    }

    internal static MaskImage ReadMask(string path, string video, int frameId, int width, int height) =>
        VosMasks.Read(path, width, height, $"video {video} frame {VosVideo.FrameName(frameId)}");
}
