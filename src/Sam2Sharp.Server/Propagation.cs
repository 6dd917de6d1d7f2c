using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Sam2Sharp.Server;

/// <summary>
/// <c>POST /api/sessions/{id}/propagate</c>: tracks every object frame by frame and streams each frame's masks as a
/// server-sent <c>frame</c> event, then <c>done</c>. A cancel request or a client that goes away stops it before the next frame.
/// </summary>
static class Propagation
{
    public static async Task Run(HttpContext ctx, Sam2Server server, string id)
    {
        var s = server.Sessions.Get(id);
        var v = s as VideoAnnotation ?? throw ApiException.BadRequest("propagation needs a video session");
        var q = await RequestJson.ReadAsync(ctx.Request, "start_frame", "direction", "max_frames");
        var direction = q.OptionalString("direction") switch
        {
            null or "forward" => PropagationDirection.Forward,
            "backward" => PropagationDirection.Backward,
            "both" => PropagationDirection.Both,
            var d => throw ApiException.BadRequest($"field 'direction': '{d}' is not forward, backward or both"),
        };
        int? start = q.OptionalInt("start_frame"), maxFrames = q.OptionalInt("max_frames");
        if (start is { } sf) v.CheckFrame(sf);
        await v.WhenReadyAsync();
        if (!v.TryBeginPropagation(out var cancel)) throw ApiException.Conflict($"a propagation is already running on session {id}");
        try
        {
            await v.Lock.WaitAsync(ctx.RequestAborted);
            try
            {
                if (v.IsClosed) throw ApiException.NotFound($"session {id} was closed");
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, cancel.Token);
                var runs = v.PropagationRuns(start, direction, maxFrames);
                int total = runs.Sum(r => r.Count);
                var frames = v.Propagate(runs, maxFrames, stop.Token).GetEnumerator();
                // The enumerator's cleanup is native work too: it runs on the compute thread.
                await using var end = new AsyncDisposer(() => server.Compute.RunAsync(() => { frames.Dispose(); return 0; }));
                // The first frame is computed before the response starts, so a refusal (an object without prompts) is a plain 400.
                bool more = await Step(server, frames, stop.Token);
                ctx.Response.ContentType = "text/event-stream";
                ctx.Response.Headers.CacheControl = "no-cache";
                ctx.Response.Headers["X-Accel-Buffering"] = "no";
                await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
                int done = 0;
                string? error = null;
                try
                {
                    while (more)
                    {
                        done++;
                        await Send(ctx, "frame", new { index = done, total, frame = frames.Current.Frame, masks = Endpoints.MasksJson(frames.Current) });
                        v.Touch();
                        if (stop.IsCancellationRequested) break;
                        more = await Step(server, frames, stop.Token);
                    }
                }
                catch (OperationCanceledException) { }
                catch (Exception e) when (e is Sam2Exception or ApiException) { error = ApiException.OneLine(e.Message); }
                if (ctx.RequestAborted.IsCancellationRequested) return;
                if (error is not null) await Send(ctx, "error", new { error });
                await Send(ctx, "done", new { frames = done, total, cancelled = cancel.IsCancellationRequested });
            }
            finally { v.Lock.Release(); }
        }
        finally
        {
            v.EndPropagation();
            server.Compute.Poke(); // embedding ahead waited for the propagation to end
        }
    }

    /// <summary>Computes the next frame on the server's compute thread; false at the end or when stopped.</summary>
    static async Task<bool> Step(Sam2Server server, IEnumerator<FrameMasks> frames, CancellationToken stop)
    {
        if (stop.IsCancellationRequested) return false;
        try { return await server.Compute.RunAsync(frames.MoveNext, stop); }
        catch (OperationCanceledException) { return false; }
    }

    sealed class AsyncDisposer(Func<Task> dispose) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await dispose();
    }

    static async Task Send(HttpContext ctx, string name, object data)
    {
        await ctx.Response.WriteAsync($"event: {name}\ndata: {JsonSerializer.Serialize(data, ApiException.Json)}\n\n", ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }
}
