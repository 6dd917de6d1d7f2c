using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>Stochastic depth: drops whole samples of a residual branch, in training only.</summary>
public sealed class DropPath : nn.Module<Tensor, Tensor>
{
    private readonly double dropProb;

    /// <summary>Drops a sample's branch with probability <paramref name="dropProb"/> (and scales the kept ones by 1/(1 − p)).</summary>
    public DropPath(double dropProb) : base(nameof(DropPath)) => this.dropProb = dropProb;

    /// <summary><paramref name="x"/> itself in evaluation or with p = 0; else x times a per-sample 0 or 1/(1 − p).</summary>
    public override Tensor forward(Tensor x)
    {
        if (dropProb == 0.0 || !training) return x;
        double keep = 1 - dropProb;
        var shape = new long[x.dim()];
        Array.Fill(shape, 1L);
        shape[0] = x.shape[0];
        var mask = empty(shape, x.dtype, x.device).bernoulli_(keep);
        if (keep > 0) mask.div_(keep);
        return x * mask;
    }
}
