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

    public override Tensor forward(Tensor x) => encoder.forward(x);
}
