using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Backbones;

/// <summary>Splitting a B×H×W×C map into square windows (zero-padded to a multiple) and back.</summary>
public static class WindowUtils
{
    /// <summary>B×H×W×C → (B·nWindows)×ws×ws×C, and the padded size (Hp, Wp).</summary>
    public static (Tensor windows, (long Hp, long Wp) padHW) WindowPartition(Tensor x, int windowSize)
    {
        long b = x.shape[0], h = x.shape[1], w = x.shape[2], c = x.shape[3];
        long padH = (windowSize - h % windowSize) % windowSize;
        long padW = (windowSize - w % windowSize) % windowSize;
        using var scope = NewDisposeScope();
        if (padH > 0 || padW > 0)
            x = nn.functional.pad(x, new long[] { 0, 0, 0, padW, 0, padH });
        long hp = h + padH, wp = w + padW;
        var windows = x.reshape(b, hp / windowSize, windowSize, wp / windowSize, windowSize, c)
                       .permute(0, 1, 3, 2, 4, 5)
                       .reshape(-1, windowSize, windowSize, c);
        return (windows.MoveToOuterDisposeScope(), (hp, wp));
    }

    /// <summary>(B·nWindows)×ws×ws×C → B×H×W×C, dropping the padding added by <see cref="WindowPartition"/>.</summary>
    public static Tensor WindowUnpartition(Tensor windows, int windowSize, (long Hp, long Wp) padHW, (long H, long W) hw)
    {
        var (hp, wp) = padHW;
        var (h, w) = hw;
        long b = windows.shape[0] / (hp * wp / windowSize / windowSize);
        using var scope = NewDisposeScope();
        var x = windows.reshape(b, hp / windowSize, wp / windowSize, windowSize, windowSize, -1)
                       .permute(0, 1, 3, 2, 4, 5)
                       .reshape(b, hp, wp, -1);
        if (hp > h || wp > w)
            x = x[.., TensorIndex.Slice(0, h), TensorIndex.Slice(0, w), ..];
        return x.MoveToOuterDisposeScope();
    }
}
