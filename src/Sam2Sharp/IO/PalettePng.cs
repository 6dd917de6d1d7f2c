using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Sam2Sharp.Imaging;

namespace Sam2Sharp.IO;

/// <summary>PNG colour types (IHDR byte 9).</summary>
public enum PngColorType : byte
{
    /// <summary>Grayscale.</summary>
    Gray = 0,
    /// <summary>RGB truecolour.</summary>
    Rgb = 2,
    /// <summary>Palette indices (PLTE chunk).</summary>
    Indexed = 3,
    /// <summary>Grayscale with alpha.</summary>
    GrayAlpha = 4,
    /// <summary>RGB with alpha.</summary>
    Rgba = 6,
}

/// <summary>A decoded PNG: its raw samples (palette indices, gray levels or colour channels, not scaled), row-major,
/// <see cref="Channels"/> samples per pixel.</summary>
public sealed class PngImage
{
    /// <summary>Width in pixels.</summary>
    public required int Width { get; init; }
    /// <summary>Height in pixels.</summary>
    public required int Height { get; init; }
    /// <summary>Bits per sample (1, 2, 4, 8 or 16).</summary>
    public required int BitDepth { get; init; }
    /// <summary>The colour type, which fixes <see cref="Channels"/>.</summary>
    public required PngColorType ColorType { get; init; }
    /// <summary>1 (gray, indexed), 2 (gray+alpha), 3 (RGB), 4 (RGBA).</summary>
    public int Channels => PalettePng.ChannelsOf(ColorType);
    /// <summary>Width × Height × Channels raw sample values (16-bit samples as read, big-endian decoded).</summary>
    public required ushort[] Samples { get; init; }
    /// <summary>The PLTE chunk as RGB triplets, or null.</summary>
    public byte[]? Palette { get; init; }
    /// <summary>The tRNS chunk as stored, or null.</summary>
    public byte[]? Transparency { get; init; }
}

/// <summary>A single-channel mask as the reference reads it with <c>np.array(PIL.Image.open(path))</c>:
/// palette indices for indexed PNGs, gray levels for gray PNGs.</summary>
public sealed record MaskImage(int Width, int Height, int[] Values, byte[]? Palette);

/// <summary>
/// A small PNG codec: reads every non-interlaced PNG into raw samples, writes 8-bit indexed (with a palette)
/// and 8-bit gray PNGs. Masks are the main use, so no colour management or ancillary chunks beyond tRNS.
/// </summary>
public static class PalettePng
{
    static readonly byte[] Signature = [137, 80, 78, 71, 13, 10, 26, 10];

    /// <summary>The DAVIS 2017 palette (the PASCAL VOC colour map: bits of the index spread over R, G, B from the top bit
    /// down), 256 RGB entries; the reference tools write it when the input masks bring no palette.</summary>
    public static byte[] DavisPalette => (byte[])davisPalette.Clone();

    static readonly byte[] davisPalette = BuildDavisPalette();

    static byte[] BuildDavisPalette()
    {
        var p = new byte[256 * 3];
        for (int i = 0; i < 256; i++)
        {
            int r = 0, g = 0, b = 0, c = i;
            for (int j = 0; j < 8; j++)
            {
                r |= (c & 1) << (7 - j);
                g |= ((c >> 1) & 1) << (7 - j);
                b |= ((c >> 2) & 1) << (7 - j);
                c >>= 3;
            }
            p[3 * i] = (byte)r; p[3 * i + 1] = (byte)g; p[3 * i + 2] = (byte)b;
        }
        return p;
    }

    internal static int ChannelsOf(PngColorType t) => t switch
    {
        PngColorType.Gray or PngColorType.Indexed => 1,
        PngColorType.GrayAlpha => 2,
        PngColorType.Rgb => 3,
        PngColorType.Rgba => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    // ------------------------------------------------------------------ reading

    /// <summary>Reads a PNG file (a regular file, within <see cref="ImageLimits.Default"/>).</summary>
    public static PngImage Read(string path)
    {
        using var stream = InputFiles.OpenRegular(path, "PNG");
        return Read(stream, path);
    }

    /// <summary>Reads a PNG from a stream; <paramref name="name"/> names it in messages.</summary>
    public static PngImage Read(Stream stream, string name, ImageLimits? limits = null)
    {
        limits ??= ImageLimits.Default;
        return Decode(InputFiles.ReadCapped(stream, limits.MaxFileBytes, name), name, limits);
    }

    /// <summary>
    /// Reads a mask as the reference does with PIL then numpy: indexed → palette index (any bit depth);
    /// gray 8/16-bit → the level; gray 1-bit → 0/1 (PIL mode "1" gives booleans); gray 2/4-bit → the level scaled
    /// to 0–255 as PIL unpacks it (×85, ×17). Colour or alpha PNGs give a 3-D array that the reference's
    /// evaluation cannot use, so they are refused here with a clear message.
    /// </summary>
    public static MaskImage ReadMask(string path)
    {
        var img = Read(path);
        if (img.ColorType is not (PngColorType.Gray or PngColorType.Indexed))
            throw new Sam2Exception($"{path}: a mask must be a palette or grayscale PNG, not {img.ColorType} (colour type {(int)img.ColorType})");
        var v = new int[img.Samples.Length];
        int scale = img.ColorType == PngColorType.Gray ? img.BitDepth switch { 2 => 0x55, 4 => 0x11, _ => 1 } : 1;
        for (int i = 0; i < v.Length; i++) v[i] = img.Samples[i] * scale;
        return new MaskImage(img.Width, img.Height, v, img.Palette);
    }

    /// <summary>Decodes PNG bytes; the header's size is checked against <paramref name="limits"/> before pixels are allocated.</summary>
    public static PngImage Decode(byte[] data, string name, ImageLimits? limits = null)
    {
        limits ??= ImageLimits.Default;
        if (data.Length < 8 || !data.AsSpan(0, 8).SequenceEqual(Signature))
            throw new Sam2Exception($"{name}: not a PNG file");
        int pos = 8;
        int width = 0, height = 0, bitDepth = 0, interlace = 0;
        PngColorType colorType = 0;
        bool haveHeader = false, haveEnd = false;
        byte[]? palette = null, trns = null;
        using var idat = new MemoryStream();
        while (pos + 12 <= data.Length)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(pos));
            if (len < 0 || pos + 12L + len > data.Length) throw new Sam2Exception($"{name}: truncated PNG chunk");
            var type = Encoding.ASCII.GetString(data, pos + 4, 4);
            var body = data.AsSpan(pos + 8, len);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(pos + 8 + len));
            if (Crc32(data.AsSpan(pos + 4, 4 + len)) != crc) throw new Sam2Exception($"{name}: broken PNG file (CRC mismatch in chunk {type})");
            pos += 12 + len;
            switch (type)
            {
                case "IHDR":
                    if (len != 13) throw new Sam2Exception($"{name}: bad IHDR");
                    width = BinaryPrimitives.ReadInt32BigEndian(body);
                    height = BinaryPrimitives.ReadInt32BigEndian(body[4..]);
                    bitDepth = body[8];
                    colorType = (PngColorType)body[9];
                    if (body[10] != 0 || body[11] != 0) throw new Sam2Exception($"{name}: unknown PNG compression or filter method");
                    interlace = body[12];
                    haveHeader = true;
                    break;
                case "PLTE": palette = body.ToArray(); break;
                case "tRNS": trns = body.ToArray(); break;
                case "IDAT": idat.Write(body); break;
                case "IEND": haveEnd = true; break;
            }
            if (haveEnd) break;
        }
        if (!haveHeader) throw new Sam2Exception($"{name}: PNG without IHDR");
        if (width <= 0 || height <= 0) throw new Sam2Exception($"{name}: bad PNG size {width}x{height}");
        if ((long)width * height > limits.MaxPixels)
            throw new Sam2Exception($"{name}: PNG is {width}×{height}, more than the limit of {limits.MaxPixels / 1e6:F0} Mpx");
        bool validDepth = colorType switch
        {
            PngColorType.Gray => bitDepth is 1 or 2 or 4 or 8 or 16,
            PngColorType.Indexed => bitDepth is 1 or 2 or 4 or 8,
            PngColorType.Rgb or PngColorType.GrayAlpha or PngColorType.Rgba => bitDepth is 8 or 16,
            _ => false,
        };
        if (!validDepth) throw new Sam2Exception($"{name}: unsupported PNG colour type {(int)colorType} with bit depth {bitDepth}");
        if (interlace != 0)
            throw new Sam2Exception($"{name}: interlaced (Adam7) PNGs are not supported; save it non-interlaced");
        if (colorType == PngColorType.Indexed && palette == null) throw new Sam2Exception($"{name}: palette PNG without PLTE");

        int channels = ChannelsOf(colorType);
        int bitsPerPixel = channels * bitDepth;
        int bpp = Math.Max(1, bitsPerPixel / 8); // filter distance in bytes
        long strideL = ((long)width * bitsPerPixel + 7) / 8;
        long rawLen = (strideL + 1) * height;
        if (rawLen > int.MaxValue) throw new Sam2Exception($"{name}: PNG too large ({width}x{height})");
        // Deflate expands at most about 1032:1, so data too short for the declared size is refused before allocating it.
        if (idat.Length * 1032 + 1024 < rawLen) throw new Sam2Exception($"{name}: truncated PNG image data");
        int stride = (int)strideL;
        var raw = new byte[rawLen];
        idat.Position = 0;
        try
        {
            using var z = new ZLibStream(idat, CompressionMode.Decompress);
            int got = 0;
            while (got < raw.Length)
            {
                int n = z.Read(raw, got, raw.Length - got);
                if (n == 0) break;
                got += n;
            }
            if (got < raw.Length) throw new Sam2Exception($"{name}: truncated PNG image data");
        }
        catch (InvalidDataException e) { throw new Sam2Exception($"{name}: corrupt PNG image data ({e.Message})", e); }

        Unfilter(raw, stride, height, bpp, name);

        var samples = new ushort[(long)width * height * channels];
        int perRow = width * channels;
        for (int y = 0; y < height; y++)
        {
            var row = raw.AsSpan(y * (stride + 1) + 1, stride);
            var dst = samples.AsSpan(y * perRow, perRow);
            switch (bitDepth)
            {
                case 8:
                    for (int i = 0; i < perRow; i++) dst[i] = row[i];
                    break;
                case 16:
                    for (int i = 0; i < perRow; i++) dst[i] = BinaryPrimitives.ReadUInt16BigEndian(row[(2 * i)..]);
                    break;
                default: // 1, 2, 4: packed from the most significant bit
                    int perByte = 8 / bitDepth, mask = (1 << bitDepth) - 1;
                    for (int i = 0; i < perRow; i++)
                    {
                        int shift = 8 - bitDepth * (i % perByte + 1);
                        dst[i] = (ushort)((row[i / perByte] >> shift) & mask);
                    }
                    break;
            }
        }
        return new PngImage
        {
            Width = width, Height = height, BitDepth = bitDepth, ColorType = colorType,
            Samples = samples, Palette = palette, Transparency = trns,
        };
    }

    static void Unfilter(byte[] raw, int stride, int height, int bpp, string name)
    {
        for (int y = 0; y < height; y++)
        {
            int o = y * (stride + 1);
            byte filter = raw[o];
            var cur = raw.AsSpan(o + 1, stride);
            var prev = y > 0 ? raw.AsSpan(o - stride, stride) : Span<byte>.Empty;
            bool hasPrev = y > 0;
            switch (filter)
            {
                case 0: break;
                case 1:
                    for (int i = bpp; i < stride; i++) cur[i] += cur[i - bpp];
                    break;
                case 2:
                    if (hasPrev) for (int i = 0; i < stride; i++) cur[i] += prev[i];
                    break;
                case 3:
                    for (int i = 0; i < stride; i++)
                    {
                        int a = i >= bpp ? cur[i - bpp] : 0, b = hasPrev ? prev[i] : 0;
                        cur[i] += (byte)((a + b) >> 1);
                    }
                    break;
                case 4:
                    for (int i = 0; i < stride; i++)
                    {
                        int a = i >= bpp ? cur[i - bpp] : 0, b = hasPrev ? prev[i] : 0, c = hasPrev && i >= bpp ? prev[i - bpp] : 0;
                        cur[i] += (byte)Paeth(a, b, c);
                    }
                    break;
                default: throw new Sam2Exception($"{name}: unknown PNG filter type {filter} on row {y}");
            }
        }
    }

    static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    // ------------------------------------------------------------------ writing

    /// <summary>Writes an 8-bit indexed PNG; <paramref name="paletteRgb"/> is RGB triplets (at most 256 entries,
    /// e.g. <see cref="DavisPalette"/> or the palette of an input mask); indices beyond it are allowed, as PIL allows.</summary>
    public static void WriteIndexed(string path, ReadOnlySpan<byte> indices, int width, int height, ReadOnlySpan<byte> paletteRgb)
    {
        using var f = CreateFile(path);
        WriteIndexed(f, indices, width, height, paletteRgb);
    }

    /// <summary>Writes an 8-bit indexed PNG to <paramref name="stream"/>, as the file overload.</summary>
    public static void WriteIndexed(Stream stream, ReadOnlySpan<byte> indices, int width, int height, ReadOnlySpan<byte> paletteRgb)
    {
        if (paletteRgb.Length == 0 || paletteRgb.Length % 3 != 0 || paletteRgb.Length > 768)
            throw new ArgumentException("the palette must hold 1 to 256 RGB triplets", nameof(paletteRgb));
        Write(stream, indices, width, height, PngColorType.Indexed, paletteRgb);
    }

    /// <summary>Writes an 8-bit grayscale PNG (e.g. a 0/255 SA-V object mask).</summary>
    public static void WriteGray(string path, ReadOnlySpan<byte> pixels, int width, int height)
    {
        using var f = CreateFile(path);
        WriteGray(f, pixels, width, height);
    }

    /// <summary>Writes an 8-bit grayscale PNG to <paramref name="stream"/>.</summary>
    public static void WriteGray(Stream stream, ReadOnlySpan<byte> pixels, int width, int height) =>
        Write(stream, pixels, width, height, PngColorType.Gray, default);

    static FileStream CreateFile(string path)
    {
        try { return new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Sam2Exception($"cannot write {path}: {e.Message}", e);
        }
    }

    static void Write(Stream stream, ReadOnlySpan<byte> pixels, int width, int height, PngColorType type, ReadOnlySpan<byte> palette)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"bad image size {width}x{height}");
        if (pixels.Length != (long)width * height)
            throw new ArgumentException($"expected {(long)width * height} pixels for {width}x{height}, got {pixels.Length}", nameof(pixels));
        stream.Write(Signature);
        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], height);
        ihdr[8] = 8; ihdr[9] = (byte)type; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
        WriteChunk(stream, "IHDR", ihdr);
        if (type == PngColorType.Indexed) WriteChunk(stream, "PLTE", palette);

        // Each row gets filter None or Up, whichever has the smaller sum of absolute (signed) bytes: masks are mostly
        // runs that repeat from row to row, where Up compresses far better.
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Optimal, leaveOpen: true))
        {
            var line = new byte[width + 1];
            for (int y = 0; y < height; y++)
            {
                var cur = pixels.Slice(y * width, width);
                long sumNone = 0, sumUp = 0;
                if (y > 0)
                {
                    var prev = pixels.Slice((y - 1) * width, width);
                    for (int i = 0; i < width; i++)
                    {
                        sumNone += Math.Abs((int)(sbyte)cur[i]);
                        sumUp += Math.Abs((int)(sbyte)(byte)(cur[i] - prev[i]));
                    }
                }
                if (y > 0 && sumUp < sumNone)
                {
                    var prev = pixels.Slice((y - 1) * width, width);
                    line[0] = 2;
                    for (int i = 0; i < width; i++) line[i + 1] = (byte)(cur[i] - prev[i]);
                }
                else
                {
                    line[0] = 0;
                    cur.CopyTo(line.AsSpan(1));
                }
                z.Write(line);
            }
        }
        WriteChunk(stream, "IDAT", ms.GetBuffer().AsSpan(0, (int)ms.Length));
        WriteChunk(stream, "IEND", ReadOnlySpan<byte>.Empty);
    }

    static void WriteChunk(Stream s, string type, ReadOnlySpan<byte> body)
    {
        Span<byte> head = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(head, body.Length);
        Encoding.ASCII.GetBytes(type, head[4..]);
        s.Write(head);
        s.Write(body);
        uint crc = Crc32Update(Crc32Update(0xFFFFFFFFu, head[4..]), body) ^ 0xFFFFFFFFu;
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc);
        s.Write(tail);
    }

    // ------------------------------------------------------------------ CRC-32 (ISO 3309, as the PNG spec gives it)

    static readonly uint[] crcTable = BuildCrcTable();

    static uint[] BuildCrcTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }

    static uint Crc32Update(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data) crc = crcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    static uint Crc32(ReadOnlySpan<byte> data) => Crc32Update(0xFFFFFFFFu, data) ^ 0xFFFFFFFFu;
}
