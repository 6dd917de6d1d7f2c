using System.Globalization;
using Sam2Sharp.Hub;

namespace Sam2Sharp.Cli.Commands;

/// <summary>
/// Renders download progress on standard error: one line updated in place on a terminal
/// (bytes, rate, ETA), otherwise a line when a download starts and when it is verified.
/// </summary>
public sealed class DownloadProgressView : IProgress<DownloadProgress>
{
    readonly bool _live = !Console.IsErrorRedirected;
    DownloadStage? _last;

    public void Report(DownloadProgress p)
    {
        var err = Console.Error;
        bool first = _last != p.Stage;
        _last = p.Stage;
        switch (p.Stage)
        {
            case DownloadStage.WaitingForLock:
                err.WriteLine($"{p.Model}: waiting for another process that is downloading it");
                break;
            case DownloadStage.Downloading when _live:
                err.Write($"\r{p.Model}: {Mb(p.BytesReceived)}{(p.TotalBytes is { } t ? " / " + Mb(t) : "")} MB  {Mb((long)p.BytesPerSecond)} MB/s  ETA {(p.Eta is { } eta ? eta.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : "?")}   ");
                break;
            case DownloadStage.Downloading when first:
                err.WriteLine($"{p.Model}: downloading{(p.BytesReceived > 0 ? $" from byte {p.BytesReceived}" : "")}{(p.TotalBytes is { } total ? $" ({Mb(total)} MB)" : "")}");
                break;
            case DownloadStage.Verifying:
                err.Write(_live ? $"\r{p.Model}: checking SHA-256 of {Mb(p.BytesReceived)} MB…{new string(' ', 30)}" : "");
                break;
            case DownloadStage.Done:
                err.WriteLine($"{(_live ? "\r" : "")}{p.Model}: {Mb(p.BytesReceived)} MB downloaded, SHA-256 verified{new string(' ', _live ? 30 : 0)}");
                break;
        }
    }

    static string Mb(long bytes) => (bytes / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture);
}
