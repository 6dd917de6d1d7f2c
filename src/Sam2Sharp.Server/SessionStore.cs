using System.Collections.Concurrent;

namespace Sam2Sharp.Server;

/// <summary>The open sessions: at most a fixed number (one more is refused with 429), each closed after it has been idle too long.</summary>
public sealed class SessionStore : IAsyncDisposable
{
    readonly ConcurrentDictionary<string, AnnotationSession> sessions = new();
    readonly int max;
    readonly TimeSpan idle;
    readonly Timer sweeper;
    readonly object gate = new();
    int reserved;

    readonly ComputeThread compute;

    /// <param name="maxSessions">Sessions open at once.</param>
    /// <param name="idleTimeout">How long a session may go unused.</param>
    /// <param name="compute">Where sessions are disposed: their state is native memory of the model's thread.</param>
    public SessionStore(int maxSessions, TimeSpan idleTimeout, ComputeThread compute)
    {
        this.compute = compute;
        max = maxSessions;
        idle = idleTimeout;
        var period = TimeSpan.FromTicks(Math.Clamp(idleTimeout.Ticks / 4, TimeSpan.FromMilliseconds(200).Ticks, TimeSpan.FromSeconds(30).Ticks));
        sweeper = new Timer(_ => _ = SweepAsync(), null, period, period);
    }

    public int Count => sessions.Count;

    /// <summary>Opens a session in a reserved slot: refused with 429 when every slot is taken, opening included.</summary>
    public async Task<AnnotationSession> OpenAsync(Func<Task<AnnotationSession>> open)
    {
        lock (gate)
        {
            if (sessions.Count + reserved >= max)
                throw ApiException.TooMany($"{max} sessions are open (the limit, --max-sessions); close one first");
            reserved++;
        }
        try
        {
            var s = await open();
            sessions[s.Id] = s;
            return s;
        }
        finally { lock (gate) reserved--; }
    }

    public AnnotationSession Get(string id)
    {
        if (!sessions.TryGetValue(id, out var s)) throw ApiException.NotFound($"session {id} does not exist (closed, expired, or never opened)");
        s.Touch();
        return s;
    }

    /// <summary>Closes a session: its propagation is cancelled and waited for, its state and temporary files freed.</summary>
    public async Task<bool> CloseAsync(string id)
    {
        if (!sessions.TryRemove(id, out var s)) return false;
        s.PropagationCancel?.Cancel();
        await s.Lock.WaitAsync();
        try { await compute.RunAsync(() => { s.Dispose(); MemoryRelease.Now(); return 0; }); }
        finally { s.Lock.Release(); }
        return true;
    }

    async Task SweepAsync()
    {
        var now = DateTime.UtcNow;
        foreach (var s in sessions.Values)
            if (!s.IsPropagating && now - s.LastUsedUtc > idle)
                await CloseAsync(s.Id);
    }

    public async ValueTask DisposeAsync()
    {
        await sweeper.DisposeAsync();
        foreach (var id in sessions.Keys.ToList()) await CloseAsync(id);
    }
}
