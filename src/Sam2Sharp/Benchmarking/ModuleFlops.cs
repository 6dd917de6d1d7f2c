using Sam2Sharp.Config;

namespace Sam2Sharp.Benchmarking;

/// <summary>
/// Floating-point operations of the SAM heads and the memory modules, counted from the config as
/// 2 × the multiply-adds of their linear layers, convolutions and attention products (norms,
/// activations, interpolation and element-wise work not counted), as <see cref="EncoderFlops"/>.
/// </summary>
public static class ModuleFlops
{
    const int DecoderHeads = 8, DecoderMlp = 2048, DecoderDepth = 2, CrossDownsample = 2;

    /// <summary>Mask decoder for one prompt set of <paramref name="promptTokens"/> sparse tokens (a click: 2, a box: 2, both: 3).</summary>
    public static double Decoder(Sam2Config config, int promptTokens = 2)
    {
        double c = config.ImageEncoder.Neck.DModel, ci = c / CrossDownsample;
        double n = Math.Pow(config.ImageSize / (double)config.BackboneStride, 2);
        double t = 1 + 4 + (config.PredObjScores ? 1 : 0) + promptTokens; // IoU, 4 mask, object-score and prompt tokens
        double tokenToImage = 2 * t * c * ci + 2 * 2 * n * c * ci + 2 * 2 * t * n * ci + 2 * t * ci * c;
        double imageToToken = 2 * n * c * ci + 2 * 2 * t * c * ci + 2 * 2 * n * t * ci + 2 * n * ci * c;
        double selfAttn = 2 * 4 * t * c * c + 2 * 2 * t * t * c;
        double mlp = 2 * 2 * t * c * DecoderMlp;
        double flops = DecoderDepth * (selfAttn + tokenToImage + mlp + imageToToken) + tokenToImage;
        // Upscaling: two 2×2 stride-2 transposed convolutions (C → C/4 → C/8), then 4 masks = hypernetwork · features.
        flops += 2 * (4 * n) * c * (c / 4) + 2 * (16 * n) * (c / 4) * (c / 8) + 2 * 4 * (16 * n) * (c / 8);
        return flops;
    }

    /// <summary>Memory attention for one object on one frame with <paramref name="memoryFrames"/> memories and <paramref name="pointerTokens"/> pointer tokens.</summary>
    public static double MemoryAttention(Sam2Config config, int memoryFrames, int pointerTokens)
    {
        var m = config.MemoryAttention;
        var self = m.Layer.SelfAttention; var cross = m.Layer.CrossAttention;
        double d = m.DModel, n = Math.Pow(config.ImageSize / (double)config.BackboneStride, 2);
        double keys = memoryFrames * n + pointerTokens;
        double ds = self.EmbeddingDim / (double)self.DownsampleRate, dc = cross.EmbeddingDim / (double)cross.DownsampleRate;
        double kv = cross.KvInDim ?? cross.EmbeddingDim;
        double selfFlops = 2 * 3 * n * d * ds + 2 * 2 * n * n * ds + 2 * n * ds * d;
        double crossFlops = 2 * n * d * dc + 2 * 2 * keys * kv * dc + 2 * 2 * n * keys * dc + 2 * n * dc * d;
        double mlp = 2 * 2 * n * d * m.Layer.DimFeedforward;
        return m.NumLayers * (selfFlops + crossFlops + mlp);
    }

    /// <summary>Memory encoder for one object on one frame (mask downsampler, projection, fuser, output projection).</summary>
    public static double MemoryEncoder(Sam2Config config)
    {
        var e = config.MemoryEncoder;
        var d = e.MaskDownsampler;
        double side = config.ImageSize, flops = 0, inCh = 1;
        int layers = (int)Math.Round(Math.Log(d.TotalStride) / Math.Log(d.Stride));
        for (int i = 0; i < layers; i++)
        {
            double outCh = inCh * d.Stride * d.Stride;
            side /= d.Stride;
            flops += 2 * side * side * outCh * inCh * d.KernelSize * d.KernelSize;
            inCh = outCh;
        }
        flops += 2 * side * side * inCh * d.EmbedDim; // the final 1×1 convolution
        double px = side * side, c = e.InDim, f = e.Fuser.Layer.Dim;
        flops += 2 * px * c * c;                                                   // pix_feat_proj
        flops += e.Fuser.NumLayers * (2 * px * f * e.Fuser.Layer.KernelSize * e.Fuser.Layer.KernelSize + 2 * 2 * px * f * 4 * f);
        if (e.OutDim != c) flops += 2 * px * c * e.OutDim;                          // out_proj
        return flops;
    }
}
