namespace Sam2Sharp.Hub;

/// <summary>
/// An exclusive lock on a file, held while open (FileShare.None: flock on Unix, a share lock on
/// Windows; the OS releases it if the process dies). The file itself is left in place: deleting
/// it on release would let a waiter lock the old, unlinked file while a newcomer locks a new one.
/// </summary>
internal sealed class FileLock : IDisposable
{
    readonly FileStream _stream;
    FileLock(FileStream stream) => _stream = stream;

    /// <summary>Waits (polling) until the lock is free; <paramref name="onWait"/> is called once if it is not at first.</summary>
    public static async Task<FileLock> AcquireAsync(string path, Action onWait, CancellationToken cancellationToken)
    {
        for (bool waited = false; ; waited = true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try { return new FileLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)); }
            catch (IOException e) when (IoErrors.IsLockedElsewhere(e))
            {
                if (!waited) onWait();
                await Task.Delay(200, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public void Dispose() => _stream.Dispose();
}
