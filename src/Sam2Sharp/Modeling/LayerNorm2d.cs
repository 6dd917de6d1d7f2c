using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>Layer norm over the channel dimension of an N×C×H×W tensor.</summary>
public sealed class LayerNorm2d : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly double eps;

    /// <summary>A norm over <paramref name="numChannels"/> channels with a learned per-channel scale and shift.</summary>
    public LayerNorm2d(int numChannels, double eps = 1e-6) : base(nameof(LayerNorm2d))
    {
        weight = new Parameter(ones(numChannels));
        bias = new Parameter(zeros(numChannels));
        // Parameters must outlive a dispose scope the module happens to be built in.
        weight.DetachFromDisposeScope();
        bias.DetachFromDisposeScope();
        this.eps = eps;
        RegisterComponents();
    }

    /// <summary>
    /// The same norm on a channels-last N×H×W×C tensor: torch's fused layer norm over the last dimension
    /// (one pass, statistics in float32 for bfloat16 input too) instead of the element-wise passes of <see cref="forward"/>.
    /// </summary>
    public Tensor ForwardChannelsLast(Tensor x) =>
        nn.functional.layer_norm(x, new[] { x.shape[^1] }, weight.to_type(x.dtype), bias.to_type(x.dtype), eps);

    /// <summary>N×C×H×W → N×C×H×W, each pixel's channels normalised (statistics in float32, output in the input's dtype).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        // Statistics in float32 also when the model computes in bfloat16.
        var dtype = x.dtype;
        x = x.to_type(ScalarType.Float32);
        var u = x.mean(new long[] { 1 }, keepdim: true);
        var s = (x - u).pow(2).mean(new long[] { 1 }, keepdim: true);
        var y = (x - u) / (s + eps).sqrt();
        var w = weight.to_type(ScalarType.Float32)[.., TensorIndex.None, TensorIndex.None];
        var b = bias.to_type(ScalarType.Float32)[.., TensorIndex.None, TensorIndex.None];
        return (w * y + b).to_type(dtype).MoveToOuterDisposeScope();
    }
}
