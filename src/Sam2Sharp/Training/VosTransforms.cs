using Sam2Sharp.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Training;

/// <summary>
/// A clip on its way through the transforms (the reference's VideoDatapoint): per frame, the picture as a 3×H×W
/// float32 tensor holding whole 0–255 values (the reference keeps PIL 8-bit images until ToTensor, so every step
/// rounds to 8 bits) and then, after <see cref="VosTransforms.Normalize"/>, the normalised input; and per frame
/// the O×H×W uint8 0/1 masks of the sampled objects, in the same object order on every frame.
/// </summary>
public sealed class VosClip : IDisposable
{
    /// <summary>The source video's name.</summary>
    public string VideoName { get; }
    /// <summary>The source video's index in its dataset.</summary>
    public int VideoIndex { get; }
    /// <summary>The sampled frames' ids in the video, in clip order.</summary>
    public IReadOnlyList<int> FrameIds { get; }
    /// <summary>The sampled objects' ids, in the order of each mask stack.</summary>
    public IReadOnlyList<int> ObjectIds { get; }
    /// <summary>Per frame, the 3×H×W picture (8-bit values, or normalised once <see cref="IsNormalized"/>); owned by the clip.</summary>
    public List<Tensor> Frames { get; }
    /// <summary>Per frame, the O×H×W uint8 0/1 masks; owned by the clip.</summary>
    public List<Tensor> Masks { get; }
    /// <summary>Whether <see cref="VosTransforms.Normalize"/> has run (it runs once, last).</summary>
    public bool IsNormalized { get; internal set; }

    /// <summary>A clip from its parts, which it then owns; see the properties for each.</summary>
    /// <exception cref="ArgumentException">The clip is empty, or frames, masks and frame ids differ in count.</exception>
    public VosClip(string videoName, int videoIndex, IReadOnlyList<int> frameIds, IReadOnlyList<int> objectIds, List<Tensor> frames, List<Tensor> masks)
    {
        if (frames.Count == 0 || frames.Count != masks.Count || frames.Count != frameIds.Count)
            throw new ArgumentException("a clip needs one picture, one mask stack and one frame id per frame");
        VideoName = videoName; VideoIndex = videoIndex; FrameIds = frameIds; ObjectIds = objectIds; Frames = frames; Masks = masks;
    }

    /// <summary>Loads a sampled clip: the 8-bit frames and the masks of its objects (empty where an object is absent).</summary>
    public static VosClip Load(SampledClip s)
    {
        var frames = new List<Tensor>(); var masks = new List<Tensor>();
        foreach (var i in s.FrameIndices)
        {
            using (var scope = torch.NewDisposeScope())
                frames.Add(s.Video.LoadImage(i).ToByteTensor().permute(2, 0, 1).to_type(ScalarType.Float32).contiguous().MoveToOuterDisposeScope());
            masks.Add(s.Video.LoadMasks(i, s.ObjectIds));
        }
        return new VosClip(s.Video.Name, s.Video.Index, s.FrameIndices.Select(i => s.Video.Frames[i].FrameId).ToArray(), s.ObjectIds, frames, masks);
    }

    /// <summary>Height of the frames in pixels.</summary>
    public int Height => (int)Frames[0].shape[1];
    /// <summary>Width of the frames in pixels.</summary>
    public int Width => (int)Frames[0].shape[2];

    internal void Replace(List<Tensor> list, int i, Tensor t) { list[i].Dispose(); list[i] = t; }

    /// <summary>Disposes every frame and mask tensor.</summary>
    public void Dispose()
    {
        foreach (var t in Frames) t.Dispose();
        foreach (var t in Masks) t.Dispose();
    }
}

/// <summary>Colour jitter ranges as the reference's ColorJitter: each factor is drawn in [1 − x, 1 + x] (floored at 0);
/// hue is not supported (the training configs leave it null). <paramref name="Consistent"/>: one draw for the whole clip.</summary>
public sealed record ColorJitterOptions(double Brightness, double Contrast, double Saturation, bool Consistent);

/// <summary>The augmentations of the reference's training configs; defaults are those of the MOSE fine-tune config.</summary>
public sealed record VosTransformOptions
{
    /// <summary>Probability of a horizontal flip.</summary>
    public double FlipProb { get; init; } = 0.5;
    /// <summary>Whether one flip decision covers the whole clip (else one per frame).</summary>
    public bool FlipConsistent { get; init; } = true;
    /// <summary>Rotation drawn in [−Degrees, Degrees].</summary>
    public double Degrees { get; init; } = 25;
    /// <summary>Horizontal shear drawn in [−Shear, Shear] degrees; 0 for none.</summary>
    public double Shear { get; init; } = 20;
    /// <summary>Scale range, null for none (as the config).</summary>
    public (double Min, double Max)? Scale { get; init; }
    /// <summary>Largest translation as fractions of width and height, null for none (as the config).</summary>
    public (double X, double Y)? Translate { get; init; }
    /// <summary>Whether one affine draw covers the whole clip (else one per frame).</summary>
    public bool AffineConsistent { get; init; } = true;
    /// <summary>Picture fill outside the warped frame (the reference's image_mean); masks are filled with 0.</summary>
    public (byte R, byte G, byte B) AffineFill { get; init; } = (123, 116, 103);
    /// <summary>The colour jitter after the resize (<see langword="null"/>: none).</summary>
    public ColorJitterOptions? ColorJitter1 { get; init; } = new(0.1, 0.03, 0.03, Consistent: true);
    /// <summary>Probability of converting to grayscale (after the first jitter).</summary>
    public double GrayscaleProb { get; init; } = 0.05;
    /// <summary>Whether one grayscale decision covers the whole clip (else one per frame).</summary>
    public bool GrayscaleConsistent { get; init; } = true;
    /// <summary>The colour jitter after grayscale (<see langword="null"/>: none).</summary>
    public ColorJitterOptions? ColorJitter2 { get; init; } = new(0.1, 0.05, 0.05, Consistent: false);
}

/// <summary>One random affine map as torchvision's RandomAffine.get_params returns it (degrees, pixels).</summary>
public readonly record struct AffineParams(double Angle, double Tx, double Ty, double Scale, double ShearX, double ShearY);

/// <summary>
/// The reference's training pipeline on a <see cref="VosClip"/>: horizontal flip, random affine (bilinear picture,
/// nearest masks), square resize to the model size, colour jitter, random grayscale, colour jitter per frame, then
/// ToTensor and ImageNet normalisation. Geometric steps move pictures and masks alike. The random draws come from
/// the given <see cref="Random"/> (the reference uses Python's and torch's generators), so a seed fixes the result.
/// </summary>
public sealed class VosTransforms
{
    /// <summary>The square side frames are resized to (the model's image size).</summary>
    public int Resolution { get; }
    /// <summary>Null: no augmentation (resize and normalise only, as for validation).</summary>
    public VosTransformOptions? Augment { get; }

    /// <summary>The pipeline at <paramref name="resolution"/>, with <paramref name="augment"/>ations or none.</summary>
    /// <exception cref="Sam2Exception"><paramref name="resolution"/> is not positive.</exception>
    public VosTransforms(int resolution, VosTransformOptions? augment)
    {
        if (resolution < 1) throw new Sam2Exception($"the training resolution must be positive, got {resolution}");
        Resolution = resolution; Augment = augment;
    }

    /// <summary>The MOSE fine-tune augmentations (or <paramref name="options"/>) at the given model size.</summary>
    public static VosTransforms Train(int resolution, VosTransformOptions? options = null) => new(resolution, options ?? new VosTransformOptions());

    /// <summary>No augmentation at the given model size: resize and normalise only, as for validation.</summary>
    public static VosTransforms Eval(int resolution) => new(resolution, null);

    /// <summary>Runs the pipeline on <paramref name="clip"/> in place, drawing from <paramref name="rng"/>.</summary>
    public void Apply(VosClip clip, Random rng)
    {
        var o = Augment;
        if (o != null)
        {
            HorizontalFlip(clip, rng, o.FlipProb, o.FlipConsistent);
            RandomAffine(clip, rng, o);
        }
        Resize(clip, Resolution);
        if (o != null)
        {
            if (o.ColorJitter1 != null) ColorJitter(clip, rng, o.ColorJitter1);
            RandomGrayscale(clip, rng, o.GrayscaleProb, o.GrayscaleConsistent);
            if (o.ColorJitter2 != null) ColorJitter(clip, rng, o.ColorJitter2);
        }
        Normalize(clip);
    }

    // ------------------------------------------------------------------ geometry

    /// <summary>Flips pictures and masks left to right with probability <paramref name="p"/>, once for the clip or per frame.</summary>
    public static void HorizontalFlip(VosClip clip, Random rng, double p = 0.5, bool consistent = true)
    {
        bool all = consistent && rng.NextDouble() < p;
        for (int i = 0; i < clip.Frames.Count; i++)
        {
            if (consistent ? !all : !(rng.NextDouble() < p)) continue;
            clip.Replace(clip.Frames, i, clip.Frames[i].flip(-1));
            clip.Replace(clip.Masks, i, clip.Masks[i].flip(-1));
        }
    }

    /// <summary>
    /// RandomAffine with one tentative: when the warp would leave an object of the first frame without pixels, the
    /// clip is left unchanged (the reference then skips the transform). Returns whether the warp was applied.
    /// </summary>
    public static bool RandomAffine(VosClip clip, Random rng, VosTransformOptions o)
    {
        var parameters = new AffineParams[clip.Frames.Count];
        for (int i = 0; i < parameters.Length; i++)
            parameters[i] = i == 0 || !o.AffineConsistent ? DrawAffine(rng, o, clip.Width, clip.Height) : parameters[0];
        using (var scope = torch.NewDisposeScope())
        {
            using var warp = new Warp(clip.Width, clip.Height, parameters[0]);
            var first = warp.Masks(clip.Masks[0]);
            if (first.shape[0] > 0 && first.flatten(1).amax(1).eq(0).any().item<bool>()) return false;
        }
        for (int i = 0; i < clip.Frames.Count; i++) Affine(clip, i, parameters[i], o.AffineFill);
        return true;
    }

    /// <summary>torchvision's RandomAffine.get_params, in its order of draws.</summary>
    public static AffineParams DrawAffine(Random rng, VosTransformOptions o, int width, int height)
    {
        double angle = Uniform(rng, -o.Degrees, o.Degrees);
        double tx = 0, ty = 0;
        if (o.Translate is { } t)
        {
            double mx = t.X * width, my = t.Y * height;
            tx = Math.Round(Uniform(rng, -mx, mx));
            ty = Math.Round(Uniform(rng, -my, my));
        }
        double scale = o.Scale is { } s ? Uniform(rng, s.Min, s.Max) : 1.0;
        double shearX = o.Shear != 0 ? Uniform(rng, -o.Shear, o.Shear) : 0.0;
        return new AffineParams(angle, tx, ty, scale, shearX, 0.0);
    }

    /// <summary>Warps frame <paramref name="index"/> of the clip: picture bilinear (fill outside), masks nearest (0 outside).</summary>
    public static void Affine(VosClip clip, int index, AffineParams a, (byte R, byte G, byte B) fill)
    {
        using var warp = new Warp(clip.Width, clip.Height, a);
        clip.Replace(clip.Masks, index, warp.Masks(clip.Masks[index]));
        clip.Replace(clip.Frames, index, warp.Picture(clip.Frames[index], fill));
    }

    /// <summary>
    /// torchvision's inverse affine matrix (output pixel → input pixel) about the image centre: rotation, then
    /// shear, scale and translation as <c>_get_inverse_affine_matrix</c> composes them.
    /// </summary>
    public static double[] InverseAffineMatrix(double cx, double cy, AffineParams a)
    {
        double rot = a.Angle * Math.PI / 180, sx = a.ShearX * Math.PI / 180, sy = a.ShearY * Math.PI / 180;
        double ma = Math.Cos(rot - sy) / Math.Cos(sy);
        double mb = -Math.Cos(rot - sy) * Math.Tan(sx) / Math.Cos(sy) - Math.Sin(rot);
        double mc = Math.Sin(rot - sy) / Math.Cos(sy);
        double md = -Math.Sin(rot - sy) * Math.Tan(sx) / Math.Cos(sy) + Math.Cos(rot);
        var m = new[] { md, -mb, 0.0, -mc, ma, 0.0 };
        for (int i = 0; i < 6; i++) m[i] /= a.Scale;
        m[2] += m[0] * (-cx - a.Tx) + m[1] * (-cy - a.Ty);
        m[5] += m[3] * (-cx - a.Tx) + m[4] * (-cy - a.Ty);
        m[2] += cx; m[5] += cy;
        return m;
    }

    /// <summary>
    /// The sampling grid of one affine map. Source positions of output pixel centres are in continuous pixel
    /// coordinates (the image spans [0, W]×[0, H]): PIL and torchvision's tensor path both map pixel centres about
    /// the centre (W/2, H/2), so pictures and masks stay aligned. Built in plain loops: it is small, and many tiny
    /// torch operations cost more than the arithmetic.
    /// </summary>
    sealed class Warp : IDisposable
    {
        readonly Tensor _grid, _inside;

        public Warp(int w, int h, AffineParams a)
        {
            var m = InverseAffineMatrix(w * 0.5, h * 0.5, a);
            var grid = new float[h * w * 2];
            var inside = new bool[h * w];
            for (int y = 0, k = 0; y < h; y++)
                for (int x = 0; x < w; x++, k++)
                {
                    double px = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2], py = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5];
                    grid[2 * k] = (float)(px * 2 / w - 1);
                    grid[2 * k + 1] = (float)(py * 2 / h - 1);
                    inside[k] = px >= 0 && px < w && py >= 0 && py < h;
                }
            _grid = torch.tensor(grid, new long[] { 1, h, w, 2 }, device: torch.CPU);
            _inside = torch.tensor(inside, new long[] { 1, h, w }, device: torch.CPU);
        }

        /// <summary>Nearest neighbour with zero fill, as torchvision warps a mask tensor (grid_sample, align_corners=False).</summary>
        public Tensor Masks(Tensor masks)
        {
            using var scope = torch.NewDisposeScope();
            var outp = nn.functional.grid_sample(masks.to_type(ScalarType.Float32).unsqueeze(0), _grid,
                mode: GridSampleMode.Nearest, padding_mode: GridSamplePaddingMode.Zeros, align_corners: false);
            return outp.squeeze(0).gt(0.5f).to_type(ScalarType.Byte).MoveToOuterDisposeScope();
        }

        /// <summary>
        /// Bilinear as PIL's affine transform: a pixel whose source centre falls outside the image gets the fill; inside,
        /// neighbours beyond the edge repeat the edge (grid_sample's border padding does the same); rounded to 8 bits.
        /// </summary>
        public Tensor Picture(Tensor picture, (byte R, byte G, byte B) fill)
        {
            using var scope = torch.NewDisposeScope();
            var sampled = nn.functional.grid_sample(picture.unsqueeze(0), _grid,
                mode: GridSampleMode.Bilinear, padding_mode: GridSamplePaddingMode.Border, align_corners: false).squeeze(0);
            var fillT = torch.tensor(new float[] { fill.R, fill.G, fill.B }, device: picture.device).view(3, 1, 1);
            return torch.where(_inside, sampled.round_().clamp_(0, 255), fillT).MoveToOuterDisposeScope();
        }

        public void Dispose() { _grid.Dispose(); _inside.Dispose(); }
    }

    /// <summary>
    /// Square resize of pictures and masks to <paramref name="size"/>: bilinear with antialiasing (PIL's resize for the
    /// 8-bit picture, rounded back to 8 bits; torchvision's for the uint8 mask, which rounds so the mask stays 0/1).
    /// </summary>
    public static void Resize(VosClip clip, int size)
    {
        for (int i = 0; i < clip.Frames.Count; i++)
        {
            if (clip.Frames[i].shape[1] == size && clip.Frames[i].shape[2] == size) continue;
            using var scope = torch.NewDisposeScope();
            var pic = Interpolate(clip.Frames[i], size).round().clamp(0, 255);
            var m = clip.Masks[i];
            var mask = m.shape[0] == 0 ? torch.zeros(0, size, size, ScalarType.Byte, m.device)
                : Interpolate(m.to_type(ScalarType.Float32), size).gt(0.5f).to_type(ScalarType.Byte);
            clip.Replace(clip.Frames, i, pic.MoveToOuterDisposeScope());
            clip.Replace(clip.Masks, i, mask.MoveToOuterDisposeScope());
        }
    }

    static Tensor Interpolate(Tensor x, int size) =>
        nn.functional.interpolate(x.unsqueeze(0), size: new long[] { size, size }, mode: InterpolationMode.Bilinear,
            align_corners: false, antialias: true).squeeze(0);

    // ------------------------------------------------------------------ colour (PIL ImageEnhance semantics on 8-bit values)

    /// <summary>
    /// ColorJitter: brightness, contrast and saturation in a random order with factors drawn in their ranges, each
    /// as PIL's ImageEnhance (a blend with black, with the mean gray level, with the gray image), truncated to 8 bits.
    /// </summary>
    public static void ColorJitter(VosClip clip, Random rng, ColorJitterOptions o)
    {
        (int[] Order, double B, double C, double S) draw = ([], 1, 1, 1);
        for (int i = 0; i < clip.Frames.Count; i++)
        {
            if (i == 0 || !o.Consistent)
            {
                var order = new[] { 0, 1, 2, 3 };
                rng.Shuffle(order);
                double b = Uniform(rng, Math.Max(0, 1 - o.Brightness), 1 + o.Brightness);
                double c = Uniform(rng, Math.Max(0, 1 - o.Contrast), 1 + o.Contrast);
                double s = Uniform(rng, Math.Max(0, 1 - o.Saturation), 1 + o.Saturation);
                draw = (order, b, c, s);
            }
            using var scope = torch.NewDisposeScope();
            var x = clip.Frames[i];
            foreach (var fn in draw.Order)
            {
                x = fn switch
                {
                    0 => AdjustBrightness(x, draw.B),
                    1 => AdjustContrast(x, draw.C),
                    2 => AdjustSaturation(x, draw.S),
                    _ => x, // hue: not configured
                };
            }
            clip.Replace(clip.Frames, i, x.MoveToOuterDisposeScope());
        }
    }

    /// <summary>PIL's brightness enhancement of 8-bit values: x·f, clipped to 0–255 and truncated.</summary>
    public static Tensor AdjustBrightness(Tensor x, double f) => x.mul((float)f).clamp_(0, 255).floor_();

    /// <summary>PIL's contrast enhancement: a blend with the picture's rounded mean luma by factor f.</summary>
    public static Tensor AdjustContrast(Tensor x, double f)
    {
        using var scope = torch.NewDisposeScope();
        double mean = Math.Floor(Luma(x).to_type(ScalarType.Float64).mean().item<double>() + 0.5);
        return Blend(mean, x, f).MoveToOuterDisposeScope();
    }

    /// <summary>PIL's saturation enhancement: a blend with the picture's luma by factor f.</summary>
    public static Tensor AdjustSaturation(Tensor x, double f)
    {
        using var scope = torch.NewDisposeScope();
        var l = Luma(x);
        // l + f·(x − l), as Blend does, with the gray plane broadcast over the channels.
        return x.sub(l).mul_((float)f).add_(l).clamp_(0, 255).floor_().MoveToOuterDisposeScope();
    }

    /// <summary>PIL's Image.blend of a constant gray level with 8-bit values: a + f·(b − a), clipped to 0–255 and truncated.</summary>
    static Tensor Blend(double a, Tensor b, double f) => b.sub(a).mul_((float)f).add_(a).clamp_(0, 255).floor_();

    /// <summary>
    /// PIL's RGB → L conversion in fixed point (ITU-R 601-2 luma, (19595 R + 38470 G + 7471 B + 2^15) >> 16), 1×H×W.
    /// In float32 this is exact: every partial sum is an integer below 2^24.
    /// </summary>
    public static Tensor Luma(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var l = x[0].mul(19595f).add_(x[1], alpha: 38470f).add_(x[2], alpha: 7471f).add_(32768f);
        return l.div_(65536f).floor_().unsqueeze(0).MoveToOuterDisposeScope();
    }

    /// <summary>Replaces pictures by their luma on three channels with probability <paramref name="p"/>, once for the clip or per frame.</summary>
    public static void RandomGrayscale(VosClip clip, Random rng, double p, bool consistent = true)
    {
        bool all = consistent && rng.NextDouble() < p;
        for (int i = 0; i < clip.Frames.Count; i++)
        {
            if (consistent ? !all : !(rng.NextDouble() < p)) continue;
            using var scope = torch.NewDisposeScope();
            clip.Replace(clip.Frames, i, Luma(clip.Frames[i]).expand(3, -1, -1).contiguous().MoveToOuterDisposeScope());
        }
    }

    /// <summary>ToTensor (÷255 in float32) and ImageNet mean/std normalisation.</summary>
    public static void Normalize(VosClip clip)
    {
        if (clip.IsNormalized) throw new InvalidOperationException("clip is already normalised");
        for (int i = 0; i < clip.Frames.Count; i++)
        {
            using var scope = torch.NewDisposeScope();
            clip.Replace(clip.Frames, i, Preprocess.Normalize(clip.Frames[i].div(255f)).MoveToOuterDisposeScope());
        }
        clip.IsNormalized = true;
    }

    static double Uniform(Random rng, double lo, double hi) => lo + (hi - lo) * rng.NextDouble();
}
