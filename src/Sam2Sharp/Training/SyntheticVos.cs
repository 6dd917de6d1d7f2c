using System.Globalization;
using System.Runtime.InteropServices;
using Sam2Sharp.IO;
using SkiaSharp;

namespace Sam2Sharp.Training;

/// <summary>Settings of <see cref="SyntheticVos.Generate"/>.</summary>
public sealed record SyntheticVosOptions
{
    /// <summary>Training videos (named synth_0000, …).</summary>
    public int Videos { get; init; } = 4;
    /// <summary>Frames per video.</summary>
    public int Frames { get; init; } = 8;
    /// <summary>Frame width in pixels.</summary>
    public int Width { get; init; } = 320;
    /// <summary>Frame height in pixels.</summary>
    public int Height { get; init; } = 240;
    /// <summary>Seed of every random draw: the same seed and options give the same files.</summary>
    public int Seed { get; init; }
    /// <summary>Objects per video (palette ids 1…K, drawn in that depth order, so higher ids occlude lower ones).</summary>
    public int Objects { get; init; } = 3;
    /// <summary>
    /// Image files or folders whose crops become the backgrounds. A folder whose image files are all numbered
    /// (00000.jpg, …) is a video: a clip of consecutive frames is used; any other folder is a set of stills, each
    /// seen through a slowly panning crop. Empty: procedural backgrounds.
    /// </summary>
    public IReadOnlyList<string> Backgrounds { get; init; } = [];
    /// <summary>Extra validation videos (synth_val_0000, …) listed in ImageSets/val.txt.</summary>
    public int ValVideos { get; init; }
    /// <summary>Quality (1–100) of the JPEG frames.</summary>
    public int JpegQuality { get; init; } = 95;
}

/// <summary>What <see cref="SyntheticVos.Generate"/> wrote.</summary>
public sealed record SyntheticVosResult(string Root, IReadOnlyList<string> TrainVideos, IReadOnlyList<string> ValVideos)
{
    /// <summary>The JPEG frames, one folder per video.</summary>
    public string ImageFolder => Path.Combine(Root, "JPEGImages");
    /// <summary>The palette PNG annotations, one folder per video.</summary>
    public string AnnotationFolder => Path.Combine(Root, "Annotations");
    /// <summary>The training videos, one name per line.</summary>
    public string TrainList => Path.Combine(Root, "ImageSets", "train.txt");
    /// <summary>The held-out videos, one name per line.</summary>
    public string ValList => Path.Combine(Root, "ImageSets", "val.txt");
}

/// <summary>
/// A synthetic VOS dataset in the DAVIS layout, for exercising training without a real dataset: textured ellipses
/// and random polygons moving at constant velocity with a slight spin over real (or procedural) backgrounds,
/// occluding one another and sometimes leaving the frame. Every object is visible on the first frame.
/// Output: <c>JPEGImages/&lt;video&gt;/00000.jpg</c> (JPEG), <c>Annotations/&lt;video&gt;/00000.png</c> (palette PNG with
/// the DAVIS palette, value = object id), and the split as <c>ImageSets/train.txt</c> and <c>ImageSets/val.txt</c>
/// (one video name per line, DAVIS's convention; pass one as <see cref="VosRawDatasetOptions.FileList"/>).
/// The same options and seed give the same files.
/// </summary>
public static class SyntheticVos
{
    /// <summary>Writes the dataset into <paramref name="outputDir"/> (which must be empty or absent).</summary>
    public static SyntheticVosResult Generate(string outputDir, SyntheticVosOptions o)
    {
        if (o.Videos < 1) throw new Sam2Exception($"SyntheticVosOptions.Videos must be at least 1, got {o.Videos}");
        if (o.ValVideos < 0) throw new Sam2Exception($"SyntheticVosOptions.ValVideos must not be negative, got {o.ValVideos}");
        if (o.Frames < 1) throw new Sam2Exception($"SyntheticVosOptions.Frames must be at least 1, got {o.Frames}");
        if (o.Width < 16 || o.Height < 16) throw new Sam2Exception($"SyntheticVosOptions.Width × Height must be at least 16x16, got {o.Width}x{o.Height}");
        if (o.Objects is < 1 or > 255) throw new Sam2Exception($"SyntheticVosOptions.Objects must be between 1 and 255, got {o.Objects}");
        if (o.JpegQuality is < 1 or > 100) throw new Sam2Exception($"JPEG quality must be between 1 and 100, got {o.JpegQuality}");
        if (Directory.Exists(outputDir) && Directory.EnumerateFileSystemEntries(outputDir).Any())
            throw new Sam2Exception($"output folder is not empty: {outputDir}");
        var sources = ExpandBackgrounds(o.Backgrounds);

        var train = Enumerable.Range(0, o.Videos).Select(i => $"synth_{i:D4}").ToList();
        var val = Enumerable.Range(0, o.ValVideos).Select(i => $"synth_val_{i:D4}").ToList();
        // Each video has its own generator, so adding validation videos leaves the training videos unchanged.
        for (int i = 0; i < train.Count; i++) WriteVideo(outputDir, train[i], new Random(VideoSeed(o.Seed, i, 0)), o, sources);
        for (int i = 0; i < val.Count; i++) WriteVideo(outputDir, val[i], new Random(VideoSeed(o.Seed, i, 1)), o, sources);

        var sets = Path.Combine(outputDir, "ImageSets");
        Directory.CreateDirectory(sets);
        File.WriteAllLines(Path.Combine(sets, "train.txt"), train);
        if (val.Count > 0) File.WriteAllLines(Path.Combine(sets, "val.txt"), val);
        return new SyntheticVosResult(outputDir, train, val);
    }

    static int VideoSeed(int seed, int index, int subset) => unchecked(seed * 1_000_003 + index * 7919 + subset * 104_729);

    // ------------------------------------------------------------------ backgrounds

    abstract record Background;
    sealed record Still(string Path) : Background;
    sealed record Sequence(string[] Paths) : Background;

    static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".bmp", ".webp"];

    static List<Background> ExpandBackgrounds(IEnumerable<string> items)
    {
        var list = new List<Background>();
        foreach (var item in items)
        {
            if (File.Exists(item)) { list.Add(new Still(item)); continue; }
            if (!Directory.Exists(item)) throw new Sam2Exception($"background not found: {item}");
            var files = Directory.GetFiles(item).Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal).ToArray();
            if (files.Length == 0) throw new Sam2Exception($"no images in background folder {item}");
            bool numbered = files.All(f => int.TryParse(Path.GetFileNameWithoutExtension(f), NumberStyles.None, CultureInfo.InvariantCulture, out _));
            if (numbered) list.Add(new Sequence(files));
            else list.AddRange(files.Select(f => new Still(f)));
        }
        return list;
    }

    /// <summary>Decoded up front: a lazily decoded image may be decoded at a reduced scale on first draw.</summary>
    static SKImage LoadImage(string path)
    {
        using var bitmap = SKBitmap.Decode(path) ?? throw new Sam2Exception($"not a readable background image: {path}");
        return SKImage.FromBitmap(bitmap);
    }

    /// <summary>Per frame, the background picture and the source rectangle shown (a crop with the output's aspect).</summary>
    sealed class Camera : IDisposable
    {
        readonly List<SKImage> _images = new();
        readonly int[] _imageOfFrame;
        readonly SKRect[] _rects;

        public Camera(Random rng, SyntheticVosOptions o, List<Background> sources)
        {
            int T = o.Frames;
            _imageOfFrame = new int[T];
            _rects = new SKRect[T];
            var src = sources.Count > 0 ? sources[rng.Next(sources.Count)] : null;
            bool pan;
            if (src is Sequence seq)
            {
                // Consecutive frames of the real video (back and forth if it is shorter than the clip).
                int n = seq.Paths.Length, start = n > T ? rng.Next(n - T + 1) : 0;
                for (int t = 0; t < T; t++)
                {
                    int k = n == 1 ? 0 : (start + t) % (2 * n - 2);
                    if (k >= n) k = 2 * n - 2 - k;
                    _images.Add(LoadImage(seq.Paths[k]));
                    _imageOfFrame[t] = t;
                }
                pan = false;
            }
            else
            {
                _images.Add(src is Still s ? LoadImage(s.Path) : Procedural(rng, o.Width * 2, o.Height * 2));
                pan = true;
            }
            float iw = _images[0].Width, ih = _images[0].Height, aspect = (float)o.Width / o.Height;
            float maxW = Math.Min(iw, ih * aspect);
            float cw = maxW * (float)(0.5 + 0.5 * rng.NextDouble()), ch = cw / aspect;
            float x0 = (float)rng.NextDouble() * (iw - cw), y0 = (float)rng.NextDouble() * (ih - ch);
            float x1 = x0, y1 = y0;
            if (pan)
            {
                x1 = Math.Clamp(x0 + (float)(rng.NextDouble() * 2 - 1) * 0.2f * cw, 0, iw - cw);
                y1 = Math.Clamp(y0 + (float)(rng.NextDouble() * 2 - 1) * 0.2f * ch, 0, ih - ch);
            }
            for (int t = 0; t < T; t++)
            {
                float a = T == 1 ? 0 : (float)t / (T - 1);
                float x = x0 + a * (x1 - x0), y = y0 + a * (y1 - y0);
                _rects[t] = new SKRect(x, y, x + cw, y + ch);
            }
        }

        public void Draw(SKCanvas canvas, int t, SKRect dest)
        {
            using var paint = new SKPaint();
            canvas.DrawImage(_images[_imageOfFrame[t]], _rects[t], dest, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear), paint);
        }

        public void Dispose() { foreach (var i in _images) i.Dispose(); }
    }

    /// <summary>A soft background when no real pictures are given: a gradient with blurred blobs.</summary>
    static SKImage Procedural(Random rng, int w, int h)
    {
        using var surface = SKSurface.Create(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        using (var shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(w, h), [RandomColor(rng, 0.4f), RandomColor(rng, 0.4f)], SKShaderTileMode.Clamp))
        using (var paint = new SKPaint { Shader = shader })
            canvas.DrawRect(0, 0, w, h, paint);
        using var blur = SKImageFilter.CreateBlur(w / 30f, w / 30f);
        for (int i = 0; i < 12; i++)
        {
            using var paint = new SKPaint { Color = RandomColor(rng, 0.5f).WithAlpha(140), IsAntialias = true, ImageFilter = blur };
            canvas.DrawCircle((float)rng.NextDouble() * w, (float)rng.NextDouble() * h, (float)(0.05 + 0.15 * rng.NextDouble()) * Math.Min(w, h), paint);
        }
        return surface.Snapshot();
    }

    static SKColor RandomColor(Random rng, float saturation = 0.8f) =>
        SKColor.FromHsv((float)(rng.NextDouble() * 360), saturation * 100 * (float)(0.6 + 0.4 * rng.NextDouble()), (float)(40 + 60 * rng.NextDouble()));

    // ------------------------------------------------------------------ objects

    sealed class Shape : IDisposable
    {
        public required SKPath Path { get; init; }
        public required SKShader Texture { get; init; }
        public required float X0, Y0, Vx, Vy, Angle0, Spin;

        public void Place(SKCanvas canvas, int t)
        {
            canvas.Translate(X0 + Vx * t, Y0 + Vy * t);
            canvas.RotateDegrees(Angle0 + Spin * t);
        }

        public void Dispose() { Path.Dispose(); Texture.Dispose(); }
    }

    static Shape RandomShape(Random rng, SyntheticVosOptions o)
    {
        float m = Math.Min(o.Width, o.Height), r = m * (float)(0.08 + 0.14 * rng.NextDouble());
        var path = new SKPath();
        if (rng.NextDouble() < 0.4)
        {
            float ry = r * (float)(0.4 + 0.6 * rng.NextDouble());
            path.AddOval(new SKRect(-r, -ry, r, ry));
        }
        else
        {
            int n = 3 + rng.Next(6);
            var angles = Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 2 * Math.PI).Order().ToArray();
            for (int i = 0; i < n; i++)
            {
                float rr = r * (float)(0.5 + 0.5 * rng.NextDouble());
                var p = new SKPoint(rr * (float)Math.Cos(angles[i]), rr * (float)Math.Sin(angles[i]));
                if (i == 0) path.MoveTo(p); else path.LineTo(p);
            }
            path.Close();
        }

        float x0 = r + (float)rng.NextDouble() * Math.Max(1, o.Width - 2 * r);
        float y0 = r + (float)rng.NextDouble() * Math.Max(1, o.Height - 2 * r);
        double dir = rng.NextDouble() * 2 * Math.PI;
        // Over the whole video a shape travels up to 0.6 of the short side; one in four travels far enough to leave.
        double travel = rng.NextDouble() < 0.25 ? Math.Max(o.Width, o.Height) * (0.6 + 0.6 * rng.NextDouble()) : m * 0.6 * rng.NextDouble();
        float steps = Math.Max(1, o.Frames - 1);
        return new Shape
        {
            Path = path,
            Texture = RandomTexture(rng, r),
            X0 = x0, Y0 = y0,
            Vx = (float)(travel * Math.Cos(dir) / steps), Vy = (float)(travel * Math.Sin(dir) / steps),
            Angle0 = (float)(rng.NextDouble() * 360), Spin = (float)(rng.NextDouble() * 6 - 3),
        };
    }

    /// <summary>A texture in the shape's own coordinates (so it moves and turns with it): gradients, stripes, checks.</summary>
    static SKShader RandomTexture(Random rng, float r)
    {
        var a = RandomColor(rng); var b = RandomColor(rng); var c = RandomColor(rng);
        switch (rng.Next(4))
        {
            case 0:
                return SKShader.CreateLinearGradient(new SKPoint(-r, -r), new SKPoint(r, r), [a, b, c], SKShaderTileMode.Clamp);
            case 1:
                return SKShader.CreateRadialGradient(new SKPoint((float)(rng.NextDouble() - 0.5) * r, 0), r, [a, b, c], SKShaderTileMode.Mirror);
            case 2:
            {
                float period = r * (float)(0.15 + 0.3 * rng.NextDouble());
                return SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(period, period * (float)rng.NextDouble()),
                    [a, a, b, b], [0f, 0.5f, 0.5f, 1f], SKShaderTileMode.Repeat);
            }
            default:
            {
                int cell = Math.Max(2, (int)(r * (0.1 + 0.25 * rng.NextDouble())));
                using var bmp = new SKBitmap(2 * cell, 2 * cell, SKColorType.Rgba8888, SKAlphaType.Premul);
                using (var cv = new SKCanvas(bmp))
                {
                    cv.Clear(a);
                    using var p = new SKPaint { Color = b };
                    cv.DrawRect(0, 0, cell, cell, p);
                    cv.DrawRect(cell, cell, cell, cell, p);
                }
                return SKShader.CreateBitmap(bmp, SKShaderTileMode.Repeat, SKShaderTileMode.Repeat);
            }
        }
    }

    // ------------------------------------------------------------------ rendering

    static void WriteVideo(string root, string name, Random rng, SyntheticVosOptions o, List<Background> sources)
    {
        int w = o.Width, h = o.Height;
        var jpgDir = Path.Combine(root, "JPEGImages", name);
        var pngDir = Path.Combine(root, "Annotations", name);
        Directory.CreateDirectory(jpgDir);
        Directory.CreateDirectory(pngDir);
        using var camera = new Camera(rng, o, sources);

        // Draw layouts until every object shows a fair part of itself on the first frame.
        List<Shape> shapes = [];
        for (int attempt = 0; ; attempt++)
        {
            shapes = Enumerable.Range(0, o.Objects).Select(_ => RandomShape(rng, o)).ToList();
            var labels = Labels(shapes, 0, w, h, out var full);
            var shown = new int[shapes.Count + 1];
            foreach (var l in labels) shown[l]++;
            bool ok = Enumerable.Range(1, shapes.Count).All(k => shown[k] >= Math.Max(16, full[k - 1] / 4));
            if (ok || attempt >= 200) break;
            foreach (var s in shapes) s.Dispose();
        }
        try
        {
            var palette = PalettePng.DavisPalette;
            using var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul));
            for (int t = 0; t < o.Frames; t++)
            {
                using (var canvas = new SKCanvas(bitmap))
                {
                    canvas.Clear(SKColors.Black);
                    camera.Draw(canvas, t, new SKRect(0, 0, w, h));
                    foreach (var s in shapes)
                    {
                        canvas.Save();
                        s.Place(canvas, t);
                        using var paint = new SKPaint { Shader = s.Texture, IsAntialias = true };
                        canvas.DrawPath(s.Path, paint);
                        canvas.Restore();
                    }
                }
                string frame = t.ToString("D5", CultureInfo.InvariantCulture);
                using (var image = SKImage.FromBitmap(bitmap))
                using (var data = image.Encode(SKEncodedImageFormat.Jpeg, o.JpegQuality))
                    File.WriteAllBytes(Path.Combine(jpgDir, frame + ".jpg"), data.ToArray());
                PalettePng.WriteIndexed(Path.Combine(pngDir, frame + ".png"), Labels(shapes, t, w, h, out _), w, h, palette);
            }
        }
        finally { foreach (var s in shapes) s.Dispose(); }
    }

    /// <summary>
    /// The palette mask of frame t: each shape rasterised without antialiasing (a pixel is in when its centre is),
    /// in depth order, so a later shape takes the pixels it covers; <paramref name="fullArea"/> is each shape's own
    /// in-frame area before occlusion.
    /// </summary>
    static byte[] Labels(List<Shape> shapes, int t, int w, int h, out int[] fullArea)
    {
        var labels = new byte[w * h];
        fullArea = new int[shapes.Count];
        var info = new SKImageInfo(w, h, SKColorType.Alpha8, SKAlphaType.Premul);
        var alpha = new byte[w * h];
        using var bmp = new SKBitmap(info);
        for (int k = 0; k < shapes.Count; k++)
        {
            using (var canvas = new SKCanvas(bmp))
            {
                canvas.Clear(SKColors.Transparent);
                shapes[k].Place(canvas, t);
                using var paint = new SKPaint { Color = SKColors.White, IsAntialias = false };
                canvas.DrawPath(shapes[k].Path, paint);
            }
            for (int y = 0; y < h; y++) Marshal.Copy(bmp.GetPixels() + y * bmp.RowBytes, alpha, y * w, w);
            for (int i = 0; i < alpha.Length; i++)
                if (alpha[i] >= 128) { labels[i] = (byte)(k + 1); fullArea[k]++; }
        }
        return labels;
    }
}
