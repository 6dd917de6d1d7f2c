using System.Runtime.InteropServices;
using Sam2Sharp.IO;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Imaging;

/// <summary>
/// An 8-bit RGB image, row-major, 3 bytes per pixel (H×W×3). Decoded the way the reference's
/// PIL <c>Image.open(p).convert("RGB")</c> sees it: raw sample values, no colour management,
/// no EXIF orientation, alpha dropped (not composited).
/// </summary>
public sealed class RgbImage
{
    /// <summary>Width in pixels.</summary>
    public int Width { get; }
    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>Pixels, H×W×3 (R, G, B), row-major.</summary>
    public byte[] Data { get; }

    /// <summary>An image over <paramref name="data"/> (H×W×3 RGB bytes, not copied).</summary>
    public RgbImage(int width, int height, byte[] data)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"image size must be positive, got {width}×{height}");
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length != checked(width * height * 3))
            throw new ArgumentException($"expected {width * height * 3} bytes for a {width}×{height} RGB image, got {data.Length}");
        Width = width; Height = height; Data = data;
    }

    /// <summary>A black image of the given size.</summary>
    public RgbImage(int width, int height) : this(width, height, new byte[checked(width * height * 3)]) { }

    /// <summary>Decodes a file (PNG, JPEG, or any format Skia reads).</summary>
    /// <exception cref="Sam2Exception">the file is missing, not a regular file, too large or not a readable image.</exception>
    public static RgbImage Load(string path, ImageLimits? limits = null)
    {
        using var stream = InputFiles.OpenRegular(path, "image");
        return Load(stream, path, limits);
    }

    /// <summary>Decodes an image from a stream; <paramref name="name"/> names it in messages.</summary>
    public static RgbImage Load(Stream stream, string name, ImageLimits? limits = null)
    {
        limits ??= ImageLimits.Default;
        return Decode(InputFiles.ReadCapped(stream, limits.MaxFileBytes, $"image {name}"), name, limits);
    }

    /// <summary>Decodes encoded image bytes; <paramref name="name"/> is used in error messages.</summary>
    public static RgbImage Decode(byte[] encoded, string name = "image", ImageLimits? limits = null)
    {
        var rgba = DecodeRgba(encoded, name, out int w, out int h, limits);
        var rgb = new byte[(long)w * h * 3];
        for (int i = 0, j = 0; j < rgb.Length; i += 4, j += 3)
        {
            rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2];
        }
        return new RgbImage(w, h, rgb);
    }

    /// <summary>Width and height from the file header, without decoding the pixels.</summary>
    public static (int Width, int Height) ReadSize(string path)
    {
        InputFiles.CheckRegular(path, "image");
        using var codec = SKCodec.Create(path);
        if (codec == null) throw new Sam2Exception($"not a readable image: {path}");
        return (codec.Info.Width, codec.Info.Height);
    }

    /// <summary>
    /// Decodes to RGBA8888 unpremultiplied with no destination colour space: Skia then applies no
    /// colour transform, so the samples are the file's own (what PIL returns), and the alpha
    /// channel leaves R, G, B untouched. The size in the header is checked against the pixel limit
    /// before any pixel buffer is allocated.
    /// </summary>
    internal static byte[] DecodeRgba(byte[] encoded, string name, out int width, out int height, ImageLimits? limits = null)
    {
        limits ??= ImageLimits.Default;
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data);
        if (codec == null) throw new Sam2Exception($"not a readable image: {name}");
        width = codec.Info.Width; height = codec.Info.Height;
        if (width <= 0 || height <= 0) throw new Sam2Exception($"image has no pixels: {name}");
        long pixels = (long)width * height;
        if (pixels > limits.MaxPixels)
            throw new Sam2Exception($"image {name} is {width}×{height} ({pixels / 1e6:F0} Mpx), more than the limit of {limits.MaxPixels / 1e6:F0} Mpx");
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var buffer = new byte[pixels * 4];
        var handle = GCHandle.Alloc(buffer, GCHandleType.Pinned);
        try
        {
            var result = codec.GetPixels(info, handle.AddrOfPinnedObject());
            if (result != SKCodecResult.Success)
                throw new Sam2Exception($"cannot decode image {name}: {result}");
        }
        finally { handle.Free(); }
        return buffer;
    }

    /// <summary>Encodes as an 8-bit RGB PNG.</summary>
    public void SavePng(string path)
    {
        var rgba = ToOpaqueRgba();
        PngWriter.Write(path, rgba, Width, Height, SKColorType.Rgba8888, SKAlphaType.Opaque, 4);
    }

    /// <summary>The pixels as RGBA8888 with alpha 255, the layout Skia encodes from.</summary>
    byte[] ToOpaqueRgba()
    {
        var rgba = new byte[Width * Height * 4];
        for (int i = 0, j = 0; j < Data.Length; i += 4, j += 3)
        {
            rgba[i] = Data[j]; rgba[i + 1] = Data[j + 1]; rgba[i + 2] = Data[j + 2]; rgba[i + 3] = 255;
        }
        return rgba;
    }

    /// <summary>Encodes as a baseline JPEG (quality 1-100), e.g. to show a frame in a browser.</summary>
    public byte[] EncodeJpeg(int quality = 90)
    {
        var rgba = ToOpaqueRgba();
        var info = new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var handle = GCHandle.Alloc(rgba, GCHandleType.Pinned);
        try
        {
            using var pixmap = new SKPixmap(info, handle.AddrOfPinnedObject(), Width * 4);
            using var encoded = pixmap.Encode(new SKJpegEncoderOptions(Math.Clamp(quality, 1, 100), SKJpegEncoderDownsample.Downsample420, SKJpegEncoderAlphaOption.Ignore));
            return encoded?.ToArray() ?? throw new Sam2Exception("cannot encode the image as JPEG");
        }
        finally { handle.Free(); }
    }

    /// <summary>The pixels as a uint8 tensor H×W×3.</summary>
    public Tensor ToByteTensor() => torch.tensor(Data, new long[] { Height, Width, 3 }, ScalarType.Byte, torch.CPU);

    /// <summary>
    /// 3×H×W float32 in [0, 1], computed as torchvision's <c>ToTensor</c> does (uint8 → float32,
    /// then a float32 division by 255).
    /// </summary>
    public Tensor ToFloatTensor()
    {
        using var scope = torch.NewDisposeScope();
        var t = ToByteTensor().permute(2, 0, 1).to_type(ScalarType.Float32).div(255f).contiguous();
        return t.MoveToOuterDisposeScope();
    }

    /// <summary>An image from a uint8 tensor H×W×3 (or 3×H×W when <paramref name="channelsFirst"/>).</summary>
    public static RgbImage FromTensor(Tensor t, bool channelsFirst = false)
    {
        using var scope = torch.NewDisposeScope();
        var x = channelsFirst ? t.permute(1, 2, 0) : t;
        if (x.dim() != 3 || x.shape[2] != 3) throw new ArgumentException($"expected an H×W×3 tensor, got [{string.Join(", ", t.shape)}]");
        var bytes = x.to_type(ScalarType.Byte).contiguous().cpu().data<byte>().ToArray();
        return new RgbImage((int)x.shape[1], (int)x.shape[0], bytes);
    }
}

/// <summary>
/// Bounds applied when decoding an image, before pixels are allocated: an image file whose header
/// claims a huge size (a decompression bomb) is refused instead of taking gigabytes.
/// </summary>
public sealed record ImageLimits
{
    /// <summary>PIL's default: twice its <c>MAX_IMAGE_PIXELS</c> (89,478,485), where it raises DecompressionBombError.</summary>
    public const long PilMaxPixels = 178_956_970;

    /// <summary>The limits used when none are given.</summary>
    public static ImageLimits Default { get; } = new();

    /// <summary>At most this many pixels (width × height).</summary>
    public long MaxPixels { get; init; } = PilMaxPixels;

    /// <summary>At most this many bytes of encoded file.</summary>
    public long MaxFileBytes { get; init; } = 1L << 30;
}

/// <summary>PNG encoding of raw pixel buffers through Skia.</summary>
internal static class PngWriter
{
    public static void Write(string path, byte[] pixels, int width, int height, SKColorType colorType, SKAlphaType alphaType, int bytesPerPixel)
    {
        var info = new SKImageInfo(width, height, colorType, alphaType);
        var handle = GCHandle.Alloc(pixels, GCHandleType.Pinned);
        try
        {
            using var pixmap = new SKPixmap(info, handle.AddrOfPinnedObject(), width * bytesPerPixel);
            using var encoded = pixmap.Encode(SKPngEncoderOptions.Default);
            if (encoded == null) throw new Sam2Exception($"cannot encode PNG for {path}");
            var dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            try
            {
                using var fs = File.Create(path);
                encoded.SaveTo(fs);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            { throw new Sam2Exception($"cannot write {path}: {e.Message}", e); }
        }
        finally { handle.Free(); }
    }
}
