using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Imaging;

/// <summary>
/// The reference's two input pipelines. They differ on purpose and give different tensors for the
/// same picture: the image predictor resizes float pixels with torch's antialiased bilinear
/// interpolation, the video predictor resizes the 8-bit frame with PIL's bicubic first.
/// </summary>
public static class Preprocess
{
    /// <summary>ImageNet mean and std, per RGB channel, on the 0–1 scale.</summary>
    public static readonly float[] Mean = { 0.485f, 0.456f, 0.406f };
    /// <summary>ImageNet std per RGB channel, on the 0–1 scale.</summary>
    public static readonly float[] Std = { 0.229f, 0.224f, 0.225f };

    /// <summary>
    /// Image predictor / automatic mask generator input (SAM2Transforms): 0–255 → float32 0–1,
    /// bilinear resize to S×S with antialias and half-pixel centres (torchvision ≥ 0.17 on tensors),
    /// then mean/std normalisation. Returns 1×3×S×S float32.
    /// </summary>
    public static Tensor Image(RgbImage image, int size)
    {
        using var scope = torch.NewDisposeScope();
        var x = image.ToFloatTensor().unsqueeze(0);
        if (image.Width != size || image.Height != size)
            x = nn.functional.interpolate(x, size: new long[] { size, size },
                mode: InterpolationMode.Bilinear, align_corners: false, antialias: true);
        return Normalize(x).MoveToOuterDisposeScope();
    }

    /// <summary>Several images of any sizes, each as <see cref="Image(RgbImage,int)"/>, stacked to B×3×S×S.</summary>
    public static Tensor ImageBatch(IReadOnlyList<RgbImage> images, int size)
    {
        if (images.Count == 0) throw new ArgumentException("no images");
        using var scope = torch.NewDisposeScope();
        return torch.cat(images.Select(i => Image(i, size)).ToArray(), 0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// A video frame as the video predictor loads it: PIL bicubic resize of the 8-bit frame to S×S,
    /// /255 in double precision (numpy), then mean/std normalisation. Returns 3×S×S float32.
    /// The reference has two variants that differ by at most one float32 ulp: the default frame
    /// loader stores x/255 as float32 and normalises in float32 (<paramref name="doubleNormalize"/>
    /// false); its asynchronous loader normalises the float64 values and rounds once at the end
    /// (true; this is also how the training golden's <c>img_batch</c> was made).
    /// </summary>
    public static Tensor VideoFrame(RgbImage frame, int size, bool doubleNormalize = false)
    {
        var resized = frame.Width == size && frame.Height == size ? frame : PilResize.Resize(frame, size, size);
        var bytes = resized.Data;
        int plane = size * size;
        var values = new float[3 * plane];
        for (int c = 0; c < 3; c++)
        {
            float mean = Mean[c], std = Std[c];
            int dst = c * plane;
            if (doubleNormalize)
                for (int p = 0, s = c; p < plane; p++, s += 3)
                    values[dst + p] = (float)((bytes[s] / 255.0 - mean) / std);
            else
                for (int p = 0, s = c; p < plane; p++, s += 3)
                    values[dst + p] = ((float)(bytes[s] / 255.0) - mean) / std;
        }
        return torch.tensor(values, new long[] { 3, size, size }, ScalarType.Float32, torch.CPU);
    }

    /// <summary>(x − mean) / std per channel, in float32, on a …×3×H×W tensor of 0–1 values.</summary>
    public static Tensor Normalize(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var mean = torch.tensor(Mean, ScalarType.Float32, x.device).view(3, 1, 1);
        var std = torch.tensor(Std, ScalarType.Float32, x.device).view(3, 1, 1);
        return x.sub(mean).div(std).MoveToOuterDisposeScope();
    }
}
