using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;

namespace Sam2Sharp.Hub;

/// <summary>
/// Fetches one checkpoint into its cache's temporary file, resuming with an HTTP Range request
/// after a dropped connection (in this run or a later one), then checks size and SHA-256 and
/// only then moves it into place. The caller holds the model's lock.
/// </summary>
internal sealed class ModelDownloader(HttpClient http, TimeSpan stallTimeout)
{
    /// <summary>Attempts in a row that may fail without receiving a byte before the download gives up.</summary>
    const int MaxFruitlessAttempts = 3;

    public async Task DownloadAsync(ModelEntry e, ModelCache cache, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        var part = cache.PartPath(e);
        var meter = new RateMeter(e.Name, progress);
        for (int fruitless = 0; ;)
        {
            long have = PartLength(part);
            if (e.Size is { } want && have > want) { File.Delete(part); have = 0; }
            if (e.Size is { } done && have == done) break;
            bool complete;
            try { complete = await TransferAsync(e, cache, part, have, meter, ct).ConfigureAwait(false); }
            catch (Exception x) when (x is IOException or HttpRequestException && !IoErrors.IsDiskFull(x) && !IoErrors.IsReadOnly(x) && !ct.IsCancellationRequested)
            {
                // The connection dropped mid-body: what arrived stays in the .part file and the next attempt asks for the rest.
                long now = PartLength(part);
                if (now > have) fruitless = 0;
                if (++fruitless >= MaxFruitlessAttempts)
                    throw new Sam2Exception($"downloading {e.Name} from {e.Url} failed ({x.Message})" + (now > 0 ? $"; run the command again to resume from byte {now}" : ""));
                await Task.Delay(TimeSpan.FromMilliseconds(300 * fruitless), ct).ConfigureAwait(false);
                continue;
            }
            long after = PartLength(part);
            if (complete && (e.Size is null || after == e.Size)) break;
            if (after <= have && ++fruitless >= MaxFruitlessAttempts)
                throw new Sam2Exception($"downloading {e.Name} from {e.Url} failed: the server ended the file at byte {after} of {e.Size}");
        }
        long length = PartLength(part);
        progress?.Report(new DownloadProgress(e.Name, DownloadStage.Verifying, length, length, meter.Rate, null));
        if (e.Size is { } size && length != size)
        {
            File.Delete(part);
            throw new Sam2Exception($"{e.Name}: downloaded {length} bytes, expected {size}; the file was removed");
        }
        var hash = ModelCache.HashFile(part, ct);
        if (hash != e.Sha256)
        {
            File.Delete(part);
            throw new Sam2Exception($"{e.Name}: SHA-256 mismatch: expected {e.Sha256}, got {hash} (from {e.Url}); the downloaded file was removed");
        }
        cache.Commit(e, part, hash, length);
        progress?.Report(new DownloadProgress(e.Name, DownloadStage.Done, length, length, meter.Rate, TimeSpan.Zero));
    }

    static long PartLength(string part) => File.Exists(part) ? new FileInfo(part).Length : 0;

    /// <summary>One request from byte <paramref name="have"/> on; false when the partial file had to be dropped (start over).</summary>
    async Task<bool> TransferAsync(ModelEntry e, ModelCache cache, string part, long have, RateMeter meter, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, e.Url);
        if (have > 0) req.Headers.Range = new RangeHeaderValue(have, null);
        HttpResponseMessage resp;
        try { resp = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false); }
        catch (HttpRequestException x) { throw NoNetwork(e, cache, x.InnerException?.Message ?? x.Message); }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested) { throw NoNetwork(e, cache, "the server did not answer in time"); }
        using (resp)
        {
            if (resp.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
            {
                // Our partial file is as long as the server's (or longer): check it as it is, or start over.
                long? total = resp.Content.Headers.ContentRange?.Length;
                if (total == have) return true;
                File.Delete(part);
                return false;
            }
            if (!resp.IsSuccessStatusCode)
                throw new Sam2Exception($"downloading {e.Name} from {e.Url} failed: HTTP {(int)resp.StatusCode} {resp.ReasonPhrase}");
            bool resumed = resp.StatusCode == HttpStatusCode.PartialContent;
            if (resumed && resp.Content.Headers.ContentRange?.From != have)
                throw new Sam2Exception($"downloading {e.Name} from {e.Url} failed: the server resumed at the wrong offset");
            long start = resumed ? have : 0;
            long? total2 = resumed ? resp.Content.Headers.ContentRange?.Length : resp.Content.Headers.ContentLength;
            if (total2 is { } t && e.Size is { } size && t != size)
                throw new Sam2Exception($"{e.Name}: {e.Url} is {t} bytes, the registry says {size}; nothing was downloaded");
            long? expected = e.Size ?? total2;
            if (expected is { } x2) EnsureSpace(e, cache, x2 - start);
            meter.Start(start, expected);

            await using var body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await using var file = new FileStream(part, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
            var buf = new byte[1 << 16];
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
            while (true)
            {
                stall.CancelAfter(stallTimeout);
                int n;
                try { n = await body.ReadAsync(buf, stall.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested) { throw new IOException($"no data for {stallTimeout.TotalSeconds:0} s"); }
                if (n == 0) break;
                await file.WriteAsync(buf.AsMemory(0, n), ct).ConfigureAwait(false);
                meter.Add(n);
            }
            return true;
        }
    }

    internal static void EnsureSpace(ModelEntry e, ModelCache cache, long needed)
    {
        long free;
        try { free = new DriveInfo(cache.Folder).AvailableFreeSpace; }
        catch (Exception x) when (x is IOException or ArgumentException or UnauthorizedAccessException) { return; } // unknown: the write will tell
        if (free < needed)
            throw new Sam2Exception($"not enough disk space for {e.Name} in {cache.Folder}: {Bytes(needed)} needed, {Bytes(free)} free; free some space or set SAM2_HOME to another disk");
    }

    static Sam2Exception NoNetwork(ModelEntry e, ModelCache cache, string why) =>
        new($"cannot download {e.Name} from {e.Url} ({why}); without network give a local checkpoint (--checkpoint FILE), point SAM2_MODEL_BASE_URL at a mirror, or copy {e.FileName} into {cache.Folder}");

    internal static string Bytes(long n) => n >= 1 << 20 ? $"{n / 1048576.0:0.0} MB" : $"{n} bytes";

    /// <summary>Bytes so far, rate of this session and ETA, reported at most every 200 ms.</summary>
    sealed class RateMeter(string name, IProgress<DownloadProgress>? progress)
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
}
