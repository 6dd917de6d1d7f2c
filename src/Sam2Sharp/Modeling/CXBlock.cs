using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>
/// ConvNeXt block: depth-wise conv → LayerNorm2d (channels-first, before the permute) →
/// per-pixel Linear → GELU → Linear → layer scale gamma → residual (with drop path).
/// </summary>
public sealed class CXBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d dwconv;
    private readonly LayerNorm2d norm;
    private readonly Linear pwconv1, pwconv2;
    private readonly GELU act;
    private readonly Parameter? gamma;
    private readonly nn.Module<Tensor, Tensor> drop_path;

    /// <summary>One ConvNeXt block of the memory encoder's fuser.</summary>
    /// <param name="dim">Channels in and out.</param>
    /// <param name="kernelSize">Depth-wise kernel size.</param>
    /// <param name="padding">Depth-wise padding (kernelSize / 2 keeps the size).</param>
    /// <param name="dropPath">Stochastic depth rate of the residual branch (training only).</param>
    /// <param name="layerScaleInitValue">Initial layer scale gamma; 0 or less for none (then no <c>gamma</c> in the state dict).</param>
    /// <param name="useDwconv">Depth-wise (grouped) convolution; false for a dense one.</param>
    public CXBlock(int dim, int kernelSize = 7, int padding = 3, double dropPath = 0.0,
                   double layerScaleInitValue = 1e-6, bool useDwconv = true)
        : base(nameof(CXBlock))
    {
        dwconv = nn.Conv2d(dim, dim, kernel_size: kernelSize, padding: padding, groups: useDwconv ? dim : 1);
        norm = new LayerNorm2d(dim, eps: 1e-6);
        pwconv1 = nn.Linear(dim, 4 * dim);
        act = nn.GELU();
        pwconv2 = nn.Linear(4 * dim, dim);
        // Only present (and in the state dict) with a positive init value, as in the reference.
        gamma = layerScaleInitValue > 0 ? new Parameter(layerScaleInitValue * ones(dim)) : null;
        drop_path = dropPath > 0.0 ? new DropPath(dropPath) : nn.Identity();
        RegisterComponents();
    }

    /// <summary>B×dim×H×W → B×dim×H×W (residual).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var input = x;
        x = norm.forward(dwconv.forward(x));
        x = x.permute(0, 2, 3, 1);
        x = pwconv2.forward(act.forward(pwconv1.forward(x)));
        if (gamma is not null) x = gamma * x;
        x = x.permute(0, 3, 1, 2);
        return (input + drop_path.forward(x)).MoveToOuterDisposeScope();
    }
}
