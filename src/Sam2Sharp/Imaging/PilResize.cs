namespace Sam2Sharp.Imaging;

/// <summary>
/// Pillow's <c>Image.resize(size)</c> for 8-bit images with the default BICUBIC filter, reproduced
/// bit for bit (libImaging/Resample.c): separable convolution, horizontal pass first, then vertical,
/// with the filter widened by the scale when shrinking (antialiasing), double-precision weights
/// normalised per output pixel, then turned into fixed-point integers and accumulated in 32-bit ints.
/// The reference resizes every video frame this way, and the model sees the rounded 8-bit result,
/// so float resampling is not a substitute (it differs by one level on many pixels).
/// Not reproduced: Pillow's special path for images more than 100 times taller than wide.
/// </summary>
public static class PilResize
{
    // Fraction bits of the fixed-point weights: 32-bit accumulator, 8-bit values, 2 bits of headroom
    // for the negative lobes and sums above 1.
    const int PrecisionBits = 32 - 8 - 2;

    const double BicubicSupport = 2.0;

    /// <summary>Keys' cubic with a = -0.5, written in Pillow's evaluation order.</summary>
    static double Bicubic(double x)
    {
        const double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    /// <summary>Resizes an RGB image to <paramref name="width"/>×<paramref name="height"/> (bicubic).</summary>
    public static RgbImage Resize(RgbImage image, int width, int height) =>
        new(width, height, Resize(image.Data, image.Width, image.Height, 3, width, height));

    /// <summary>
    /// Resizes interleaved 8-bit pixels with <paramref name="channels"/> samples per pixel
    /// (1 for L, 3 for RGB), each channel independently, as Pillow does for those modes.
    /// </summary>
    public static byte[] Resize(ReadOnlySpan<byte> src, int inWidth, int inHeight, int channels, int width, int height)
    {
        if (inWidth <= 0 || inHeight <= 0 || width <= 0 || height <= 0 || channels <= 0)
            throw new ArgumentException($"invalid resize {inWidth}×{inHeight} → {width}×{height} ({channels} channels)");
        if (src.Length != checked(inWidth * inHeight * channels))
            throw new ArgumentException($"expected {inWidth * inHeight * channels} bytes, got {src.Length}");
        if (inWidth == width && inHeight == height) return src.ToArray();

        bool needHorizontal = width != inWidth;
        bool needVertical = height != inHeight;

        var (vBounds, vWeights, vK) = Coefficients(inHeight, height);
        // Only the source rows that the vertical pass touches go through the horizontal pass.
        int firstRow = vBounds[0];
        int lastRow = vBounds[2 * height - 2] + vBounds[2 * height - 1];

        byte[] current;
        int curW, curH, rowOffset;
        if (needHorizontal)
        {
            var (hBounds, hWeights, hK) = Coefficients(inWidth, width);
            curW = width; curH = lastRow - firstRow;
            current = new byte[checked(curW * curH * channels)];
            HorizontalPass(src, inWidth, channels, firstRow, curH, current, width, hBounds, hWeights, hK);
            rowOffset = firstRow;
        }
        else
        {
            current = src.ToArray();
            curW = inWidth; curH = inHeight; rowOffset = 0;
        }
        if (!needVertical) return current;

        var output = new byte[checked(width * height * channels)];
        VerticalPass(current, curW, channels, rowOffset, output, height, vBounds, vWeights, vK);
        return output;
    }

    /// <summary>
    /// Per output index: the first source index and the number of taps, and the fixed-point taps
    /// (ksize slots each). Box is the whole source axis.
    /// </summary>
    static (int[] Bounds, int[] Weights, int KSize) Coefficients(int inSize, int outSize)
    {
        // Pillow passes the box as floats; whole-image sizes are exact in float.
        float in0 = 0f, in1 = inSize;
        double scale = (double)(in1 - in0) / outSize;
        double filterScale = scale < 1.0 ? 1.0 : scale;
        double support = BicubicSupport * filterScale;
        int ksize = (int)Math.Ceiling(support) * 2 + 1;

        var bounds = new int[outSize * 2];
        var weights = new int[checked(outSize * ksize)];
        var k = new double[ksize];
        double invFilterScale = 1.0 / filterScale;
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = in0 + (xx + 0.5) * scale;
            double ww = 0.0;
            // Truncating casts, as in C (rounding by +0.5, not by Math.Round).
            int xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            for (int x = 0; x < xmax; x++)
            {
                double w = Bicubic((x + xmin - center + 0.5) * invFilterScale);
                k[x] = w;
                ww += w;
            }
            if (ww != 0.0)
                for (int x = 0; x < xmax; x++) k[x] /= ww;
            for (int x = 0; x < ksize; x++)
            {
                double v = x < xmax ? k[x] : 0.0;
                // Round half away from zero into the fixed-point grid.
                weights[xx * ksize + x] = v < 0
                    ? (int)(-0.5 + v * (1 << PrecisionBits))
                    : (int)(0.5 + v * (1 << PrecisionBits));
            }
            bounds[2 * xx] = xmin;
            bounds[2 * xx + 1] = xmax;
        }
        return (bounds, weights, ksize);
    }

    /// <summary>Shift out the fraction bits and clamp to 0..255 (Pillow's clip8).</summary>
    static byte Clip8(int acc)
    {
        int v = acc >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    static void HorizontalPass(ReadOnlySpan<byte> src, int inWidth, int channels, int rowOffset, int rows,
        byte[] dst, int outWidth, int[] bounds, int[] weights, int ksize)
    {
        const int half = 1 << (PrecisionBits - 1);
        for (int yy = 0; yy < rows; yy++)
        {
            int inRow = (yy + rowOffset) * inWidth * channels;
            int outRow = yy * outWidth * channels;
            for (int xx = 0; xx < outWidth; xx++)
            {
                int xmin = bounds[2 * xx], xmax = bounds[2 * xx + 1];
                int kBase = xx * ksize;
                for (int c = 0; c < channels; c++)
                {
                    int ss = half;
                    int p = inRow + xmin * channels + c;
                    for (int x = 0; x < xmax; x++, p += channels)
                        ss = unchecked(ss + src[p] * weights[kBase + x]);
                    dst[outRow + xx * channels + c] = Clip8(ss);
                }
            }
        }
    }

    static void VerticalPass(byte[] src, int width, int channels, int rowOffset,
        byte[] dst, int outHeight, int[] bounds, int[] weights, int ksize)
    {
        const int half = 1 << (PrecisionBits - 1);
        int stride = width * channels;
        for (int yy = 0; yy < outHeight; yy++)
        {
            int ymin = bounds[2 * yy] - rowOffset, ymax = bounds[2 * yy + 1];
            int kBase = yy * ksize;
            int outRow = yy * stride;
            for (int i = 0; i < stride; i++)
            {
                int ss = half;
                int p = ymin * stride + i;
                for (int y = 0; y < ymax; y++, p += stride)
                    ss = unchecked(ss + src[p] * weights[kBase + y]);
                dst[outRow + i] = Clip8(ss);
            }
        }
    }
}
