using System.Diagnostics;

namespace Sam2Sharp.Benchmarking;

/// <summary>Summary statistics of benchmark timings.</summary>
public static class Stats
{
    /// <summary>The median of the values (the mean of the middle two for an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        if (v.Length == 0) throw new ArgumentException("no values");
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>The nearest-rank percentile <paramref name="p"/> (0-100) of the values.</summary>
    public static double Percentile(IEnumerable<double> values, double p)
    {
        var v = values.OrderBy(x => x).ToArray();
        if (v.Length == 0) throw new ArgumentException("no values");
        int rank = (int)Math.Ceiling(p / 100.0 * v.Length);
        return v[Math.Clamp(rank - 1, 0, v.Length - 1)];
    }

    /// <summary>Median wall time in ms of <paramref name="n"/> runs after one warm-up run.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked before each run).</exception>
    public static double MedianMs(int n, Action action, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        action();
        var times = new double[n];
        for (int i = 0; i < n; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var sw = Stopwatch.StartNew();
            action();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }
        return Median(times);
    }
}
