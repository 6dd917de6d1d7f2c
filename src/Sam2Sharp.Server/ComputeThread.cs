using System.Collections.Concurrent;

namespace Sam2Sharp.Server;

/// <summary>
/// Runs every model computation of the server, one at a time, on one dedicated thread. The CPU has no room for two
/// at once; frames of different sessions interleave in arrival order; and native memory stays in one allocator
/// arena, so opening and closing sessions leaves the resident size flat (request threads come and go).
/// </summary>
public sealed class ComputeThread : IDisposable
{
    readonly BlockingCollection<Action> queue = new();
    readonly Thread thread;

    public ComputeThread()
    {
        thread = new Thread(() => { foreach (var work in queue.GetConsumingEnumerable()) work(); })
        { IsBackground = true, Name = "sam2 compute" };
        thread.Start();
    }

    /// <summary>Queues <paramref name="work"/>; a cancellation before it starts drops it.</summary>
    public Task<T> RunAsync<T>(Func<T> work, CancellationToken ct = default)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var reg = ct.Register(() => done.TrySetCanceled(ct));
        queue.Add(() =>
        {
            reg.Dispose();
            if (done.Task.IsCompleted) return;
            try { done.TrySetResult(work()); }
            catch (Exception e) { done.TrySetException(e); }
        });
        return done.Task;
    }

    public void Dispose()
    {
        queue.CompleteAdding();
        thread.Join();
        queue.Dispose();
    }
}
