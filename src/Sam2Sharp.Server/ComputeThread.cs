using System.Collections.Concurrent;

namespace Sam2Sharp.Server;

/// <summary>
/// Runs every model computation of the server, one at a time, on one dedicated thread. The CPU has no room for two
/// at once; frames of different sessions interleave in arrival order; and native memory stays in one allocator
/// arena, so opening and closing sessions leaves the resident size flat (request threads come and go).
/// When no request waits, it runs idle work (frames embedded ahead), which yields to the next request at once.
/// </summary>
public sealed class ComputeThread : IDisposable
{
    readonly ConcurrentQueue<Action> queue = new();
    readonly AutoResetEvent wake = new(false);
    readonly List<Func<CancellationToken, bool>> idleWork = new();
    readonly Thread thread;
    volatile CancellationTokenSource yieldSource = new();
    volatile bool stopping;
    int idleTurn;

    public ComputeThread()
    {
        thread = new Thread(Loop) { IsBackground = true, Name = "sam2 compute" };
        thread.Start();
    }

    void Loop()
    {
        while (true)
        {
            if (queue.TryDequeue(out var work)) { work(); continue; }
            if (stopping) return;
            if (RunIdleStep()) continue;
            wake.WaitOne();
        }
    }

    /// <summary>Queues <paramref name="work"/> (before any idle work); a cancellation before it starts drops it.</summary>
    public Task<T> RunAsync<T>(Func<T> work, CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(stopping, this);
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var reg = ct.Register(() => done.TrySetCanceled(ct));
        queue.Enqueue(() =>
        {
            reg.Dispose();
            if (done.Task.IsCompleted) return;
            try { done.TrySetResult(work()); }
            catch (Exception e) { done.TrySetException(e); }
        });
        yieldSource.Cancel(); // idle work in progress stops before its next frame
        wake.Set();
        return done.Task;
    }

    /// <summary>
    /// Adds idle work: <paramref name="step"/> does one small piece (one frame) and says whether it did anything; its
    /// token is cancelled as soon as a request is queued. Dispose the result to remove it.
    /// </summary>
    public IDisposable AddIdleWork(Func<CancellationToken, bool> step)
    {
        lock (idleWork) idleWork.Add(step);
        Poke();
        return new Removal(() => { lock (idleWork) idleWork.Remove(step); });
    }

    /// <summary>Says that idle work may have something new to do (the user moved to another frame).</summary>
    public void Poke() => wake.Set();

    /// <summary>One step of the next idle work with something to do (taken in turn); false when none has.</summary>
    bool RunIdleStep()
    {
        Func<CancellationToken, bool>[] steps;
        lock (idleWork) steps = idleWork.ToArray();
        // A cancelled source is replaced, not disposed: a request thread may still be cancelling it.
        if (yieldSource.IsCancellationRequested) yieldSource = new CancellationTokenSource();
        var token = yieldSource.Token;
        for (int k = 0; k < steps.Length; k++)
        {
            if (!queue.IsEmpty) return true;
            var step = steps[(idleTurn + k) % steps.Length];
            bool did;
            try { did = step(token); }
            catch (OperationCanceledException) { return true; }
            if (did) { idleTurn = (idleTurn + k + 1) % steps.Length; return true; }
        }
        return false;
    }

    sealed class Removal(Action remove) : IDisposable
    {
        public void Dispose() => remove();
    }

    public void Dispose()
    {
        stopping = true;
        yieldSource.Cancel();
        wake.Set();
        thread.Join();
        wake.Dispose();
    }
}
