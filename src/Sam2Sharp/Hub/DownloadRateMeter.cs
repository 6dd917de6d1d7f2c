using System.Diagnostics;

namespace Sam2Sharp.Hub;

/// <summary>Bytes so far, rate of this session and ETA, reported at most every 200 ms.</summary>
internal sealed class DownloadRateMeter(string name, IProgress<DownloadProgress>? progress)
{
    readonly Stopwatch _clock = Stopwatch.StartNew();
    long _sessionBytes, _lastReport = long.MinValue;
    public long Bytes { get; private set; }
    public long? Total { get; private set; }
    public double Rate => _sessionBytes / Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);

    public void Start(long have, long? total) { Bytes = have; Total = total; Report(force: true); }

    public void Add(int n)
    {
        Bytes += n;
        _sessionBytes += n;
        Report(force: Bytes == Total);
    }

    void Report(bool force)
    {
        if (progress is null || (!force && _clock.ElapsedMilliseconds - _lastReport < 200)) return;
        _lastReport = _clock.ElapsedMilliseconds;
        double rate = Rate;
        TimeSpan? eta = Total is { } t && rate > 0 ? TimeSpan.FromSeconds((t - Bytes) / rate) : null;
        progress.Report(new DownloadProgress(name, DownloadStage.Downloading, Bytes, Total, rate, eta));
    }
}
