using Sam2Sharp.IO;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Imaging;

/// <summary>
/// Binary masks as PNG files (8-bit grayscale, 0 = off, 255 = on, the layout of SA-V annotations
/// and of the reference's per-object outputs), and colour overlays for looking at results.
/// Byte masks are row-major H×W, any nonzero byte is on.
/// </summary>
public static class MaskImages
{
    /// <summary>Writes an 8-bit grayscale PNG, 255 where the mask is nonzero.</summary>
    public static void WritePng(string path, ReadOnlySpan<byte> mask, int width, int height)
    {
        CheckSize(mask.Length, width, height);
        var px = new byte[mask.Length];
        for (int i = 0; i < px.Length; i++) px[i] = mask[i] != 0 ? (byte)255 : (byte)0;
        PngWriter.Write(path, px, width, height, SKColorType.Gray8, SKAlphaType.Opaque, 1);
    }

    /// <summary>Writes a mask tensor (H×W, or with leading sizes of 1; on where &gt; 0 or true) as a PNG.</summary>
    public static void WritePng(string path, Tensor mask)
    {
        var bytes = ToBytes(mask, out int w, out int h);
        WritePng(path, bytes, w, h);
    }

    /// <summary>Reads a mask image: 1 where the pixel is not black (any of R, G, B nonzero), else 0.</summary>
    /// <exception cref="Sam2Exception">the file is missing or not a readable image.</exception>
    public static byte[] ReadPng(string path, out int width, out int height)
    {
        byte[] encoded;
        using (var f = InputFiles.OpenRegular(path, "mask")) encoded = InputFiles.ReadCapped(f, ImageLimits.Default.MaxFileBytes, $"mask {path}");
        var rgba = RgbImage.DecodeRgba(encoded, path, out width, out height);
        var mask = new byte[width * height];
        for (int i = 0, j = 0; i < mask.Length; i++, j += 4)
            mask[i] = (rgba[j] | rgba[j + 1] | rgba[j + 2]) != 0 ? (byte)1 : (byte)0;
        return mask;
    }

    /// <summary>Reads a mask image as an H×W bool tensor (see <see cref="ReadPng(string,out int,out int)"/>).</summary>
    public static Tensor ReadPngTensor(string path)
    {
        var bytes = ReadPng(path, out int w, out int h);
        using var scope = torch.NewDisposeScope();
        return torch.tensor(bytes, new long[] { h, w }, ScalarType.Byte, torch.CPU).to_type(ScalarType.Bool).MoveToOuterDisposeScope();
    }

    /// <summary>One object of a label image (a palette or grayscale PNG, e.g. a DAVIS annotation): an H×W bool
    /// tensor, true where the palette index or gray level is <paramref name="value"/>.</summary>
    public static Tensor ReadLabelTensor(string path, int value)
    {
        var m = IO.PalettePng.ReadMask(path);
        using var scope = torch.NewDisposeScope();
        return torch.tensor(m.Values, new long[] { m.Height, m.Width }, device: torch.CPU).eq(value).MoveToOuterDisposeScope();
    }

    /// <summary>A mask tensor as 0/1 bytes, H×W row-major; non-bool tensors are on where &gt; 0.</summary>
    public static byte[] ToBytes(Tensor mask, out int width, out int height)
    {
        using var scope = torch.NewDisposeScope();
        var m = mask;
        while (m.dim() > 2 && m.shape[0] == 1) m = m.squeeze(0);
        if (m.dim() != 2) throw new ArgumentException($"expected an H×W mask, got [{string.Join(", ", mask.shape)}]");
        var on = m.dtype == ScalarType.Bool ? m : m.gt(0);
        height = (int)on.shape[0]; width = (int)on.shape[1];
        return on.to_type(ScalarType.Byte).contiguous().cpu().data<byte>().ToArray();
    }

    /// <summary>
    /// The image with each mask tinted in its own colour (blended with weight <paramref name="alpha"/>)
    /// and its boundary (on pixels with an off 4-neighbour) drawn opaque in the same colour.
    /// Later masks are drawn over earlier ones; outlines go over all tints.
    /// </summary>
    public static RgbImage Overlay(RgbImage image, IReadOnlyList<byte[]> masks, double alpha = 0.5)
    {
        int w = image.Width, h = image.Height;
        foreach (var m in masks) CheckSize(m.Length, w, h);
        var px = (byte[])image.Data.Clone();
        for (int k = 0; k < masks.Count; k++)
        {
            var (r, g, b) = Colour(k);
            var m = masks[k];
            for (int i = 0; i < m.Length; i++)
            {
                if (m[i] == 0) continue;
                int p = 3 * i;
                px[p] = Blend(px[p], r, alpha);
                px[p + 1] = Blend(px[p + 1], g, alpha);
                px[p + 2] = Blend(px[p + 2], b, alpha);
            }
        }
        for (int k = 0; k < masks.Count; k++)
        {
            var (r, g, b) = Colour(k);
            var m = masks[k];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    int i = y * w + x;
                    if (m[i] == 0) continue;
                    // Off-image neighbours do not count, so masks touching the border get no frame line.
                    bool edge = (x > 0 && m[i - 1] == 0) || (x < w - 1 && m[i + 1] == 0)
                             || (y > 0 && m[i - w] == 0) || (y < h - 1 && m[i + w] == 0);
                    if (!edge) continue;
                    px[3 * i] = r; px[3 * i + 1] = g; px[3 * i + 2] = b;
                }
        }
        return new RgbImage(w, h, px);
    }

    /// <summary>Overlay of mask tensors (see <see cref="ToBytes"/>).</summary>
    public static RgbImage Overlay(RgbImage image, IReadOnlyList<Tensor> masks, double alpha = 0.5) =>
        Overlay(image, masks.Select(m => ToBytes(m, out _, out _)).ToList(), alpha);

    /// <summary>Writes <see cref="Overlay(RgbImage,IReadOnlyList{byte[]},double)"/> as an RGB PNG.</summary>
    public static void WriteOverlay(string path, RgbImage image, IReadOnlyList<byte[]> masks, double alpha = 0.5) =>
        Overlay(image, masks, alpha).SavePng(path);

    /// <summary>As the byte-mask overload, for H×W mask tensors.</summary>
    public static void WriteOverlay(string path, RgbImage image, IReadOnlyList<Tensor> masks, double alpha = 0.5) =>
        Overlay(image, masks, alpha).SavePng(path);

    static readonly (byte R, byte G, byte B)[] Palette =
    {
        (230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (245, 130, 48),
        (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
        (0, 128, 128), (220, 190, 255), (170, 110, 40), (128, 0, 0), (170, 255, 195),
        (128, 128, 0), (255, 215, 180), (0, 0, 128),
    };

    /// <summary>The colour of mask number <paramref name="index"/>: a fixed palette, then golden-angle hues.</summary>
    public static (byte R, byte G, byte B) Colour(int index)
    {
        if (index < 0) throw new ArgumentOutOfRangeException(nameof(index));
        if (index < Palette.Length) return Palette[index];
        var c = SKColor.FromHsv((float)(index * 137.508 % 360.0), 85, 95);
        return (c.Red, c.Green, c.Blue);
    }

    static byte Blend(byte under, byte colour, double alpha) =>
        (byte)Math.Clamp((int)Math.Round((1 - alpha) * under + alpha * colour), 0, 255);

    static void CheckSize(int length, int width, int height)
    {
        if (width <= 0 || height <= 0 || length != (long)width * height)
            throw new ArgumentException($"mask has {length} pixels, expected {width}×{height}");
    }
}
