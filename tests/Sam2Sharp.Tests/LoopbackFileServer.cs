using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Sam2Sharp.Tests;

/// <summary>
/// A small HTTP file server on 127.0.0.1 (HttpListener) for the model hub tests: GET with
/// Range, 404 for unknown paths, and on request a first response dropped half way or a slow one.
/// It records every request (path, Range header).
/// </summary>
public sealed class LoopbackFileServer : IDisposable
{
    readonly HttpListener _listener = new();
    readonly Dictionary<string, byte[]> _files = new(StringComparer.Ordinal);
    readonly CancellationTokenSource _stop = new();
    readonly Task _loop;
    int _drops;

    public LoopbackFileServer()
    {
        int port = FreePort();
        BaseUrl = $"http://127.0.0.1:{port}";
        _listener.Prefixes.Add(BaseUrl + "/");
        _listener.Start();
        _loop = Task.Run(Loop);
    }

    public string BaseUrl { get; }
    public ConcurrentQueue<(string Path, string? Range)> Requests { get; } = new();
    /// <summary>How many of the coming full-file responses are cut after half the bytes.</summary>
    public int DropHalfway { get => _drops; set => _drops = value; }
    /// <summary>A pause after each 64 KiB sent (a slow server, for overlapping downloads).</summary>
    public TimeSpan ChunkDelay { get; set; }

    public string Add(string path, byte[] content) { _files[path] = content; return BaseUrl + path; }

    /// <summary>A port nothing listens on (bound, then released).</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    async Task Loop()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) when (_stop.IsCancellationRequested) { return; }
            catch (HttpListenerException) { return; }
            catch (ObjectDisposedException) { return; }
            _ = Task.Run(() => Serve(ctx));
        }
    }

    async Task Serve(HttpListenerContext ctx)
    {
        var path = ctx.Request.Url!.AbsolutePath;
        var range = ctx.Request.Headers["Range"];
        Requests.Enqueue((path, range));
        var resp = ctx.Response;
        try
        {
            if (!_files.TryGetValue(path, out var data)) { resp.StatusCode = 404; resp.Close(); return; }
            long from = 0;
            if (range is not null && range.StartsWith("bytes=") && range.EndsWith('-')) from = long.Parse(range[6..^1]);
            if (from >= data.Length && from > 0)
            {
                resp.StatusCode = 416;
                resp.Headers["Content-Range"] = $"bytes */{data.Length}";
                resp.Close();
                return;
            }
            if (from > 0)
            {
                resp.StatusCode = 206;
                resp.Headers["Content-Range"] = $"bytes {from}-{data.Length - 1}/{data.Length}";
            }
            resp.ContentLength64 = data.Length - from;
            bool drop = from == 0 && Interlocked.Decrement(ref _drops) >= 0;
            long end = drop ? data.Length / 2 : data.Length;
            for (long at = from; at < end; at += 1 << 16)
            {
                await resp.OutputStream.WriteAsync(data.AsMemory((int)at, (int)Math.Min(1 << 16, end - at)));
                if (ChunkDelay > TimeSpan.Zero) await Task.Delay(ChunkDelay);
            }
            if (drop) { await resp.OutputStream.FlushAsync(); resp.Abort(); return; }
            resp.Close();
        }
        catch (Exception) { resp.Abort(); } // the client went away
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }
}
