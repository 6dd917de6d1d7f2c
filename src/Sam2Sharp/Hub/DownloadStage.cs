namespace Sam2Sharp.Hub;

/// <summary>The stages a download reports through <see cref="DownloadProgress"/>.</summary>
public enum DownloadStage
{
    /// <summary>Another process holds the model's lock file (it is downloading the same file).</summary>
    WaitingForLock,
    /// <summary>Receiving the file (bytes so far, rate and ETA in the progress).</summary>
    Downloading,
    /// <summary>Hashing the finished file.</summary>
    Verifying,
    /// <summary>Verified and moved into the cache.</summary>
    Done,
}
