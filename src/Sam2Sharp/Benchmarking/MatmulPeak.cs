using System.Diagnostics;
using static TorchSharp.torch;

namespace Sam2Sharp.Benchmarking;

/// <summary>This machine's matrix-product speed: the yardstick the benchmarks' GFLOP/s are compared with.</summary>
public static class MatmulPeak
{
    /// <summary>GFLOP/s of an n×n by n×n product in <paramref name="dtype"/> (median of <paramref name="runs"/> after a warm-up).</summary>
    public static double Measure(ScalarType dtype, int n = 4096, int runs = 5)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var a = randn(n, n).to_type(dtype);
        var b = randn(n, n).to_type(dtype);
        double ms = Stats.MedianMs(runs, () => a.matmul(b).Dispose());
        return 2.0 * n * n * n / (ms / 1000) / 1e9;
    }
}
