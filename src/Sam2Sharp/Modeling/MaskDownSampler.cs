using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>
/// Downsamples a mask by total_stride in steps of stride (conv → LayerNorm2d → activation each),
/// multiplying the channels by stride² per step, then projects to embed_dim with a 1×1 conv.
/// </summary>
public sealed class MaskDownSampler : nn.Module<Tensor, Tensor>
{
    private readonly Sequential encoder;

    /// <param name="embedDim">Output channels (the image embedding's width).</param>
    /// <param name="kernelSize">Kernel of each strided convolution.</param>
    /// <param name="stride">Stride of each step.</param>
    /// <param name="padding">Padding of each strided convolution.</param>
    /// <param name="totalStride">The overall downsampling; a power of <paramref name="stride"/> (16: the image embedding's stride).</param>
    /// <param name="activation">Builds the activation module of each step; GELU when null.</param>
    public MaskDownSampler(int embedDim = 256, int kernelSize = 4, int stride = 4, int padding = 0,
                           int totalStride = 16, Func<nn.Module<Tensor, Tensor>>? activation = null)
        : base(nameof(MaskDownSampler))
    {
        activation ??= () => nn.GELU();
        int numLayers = (int)Math.Floor(Math.Log2(totalStride) / Math.Log2(stride));
        if (Math.Pow(stride, numLayers) != totalStride)
            throw new ArgumentException($"total_stride {totalStride} is not a power of stride {stride}.");

        var modules = new List<(string, nn.Module<Tensor, Tensor>)>();
        void Add(nn.Module<Tensor, Tensor> m) => modules.Add((modules.Count.ToString(), m));
        int inChans = 1, outChans = 1;
        for (int i = 0; i < numLayers; i++)
        {
            outChans = inChans * stride * stride;
            Add(nn.Conv2d(inChans, outChans, kernel_size: kernelSize, stride: stride, padding: padding));
            Add(new LayerNorm2d(outChans));
            Add(activation());
            inChans = outChans;
        }
        Add(nn.Conv2d(outChans, embedDim, kernel_size: 1));
        encoder = nn.Sequential(modules);
        RegisterComponents();
    }

    /// <summary>B×1×H×W mask (probabilities) → B×embed_dim×H/total_stride×W/total_stride, the size of the image embedding.</summary>
    public override Tensor forward(Tensor x) => encoder.forward(x);
}
