namespace Sam2Sharp.Hub;

/// <summary>Where a download stands.</summary>
/// <param name="Model">The model's name.</param>
/// <param name="Stage">Waiting for another process, downloading, verifying, or done.</param>
/// <param name="BytesReceived">Bytes in the file so far (a resumed download starts where it was).</param>
/// <param name="TotalBytes">The file's size when known.</param>
/// <param name="BytesPerSecond">Rate of this session's transfer.</param>
/// <param name="Eta">Estimated time left, when the size and a rate are known.</param>
public readonly record struct DownloadProgress(string Model, DownloadStage Stage, long BytesReceived, long? TotalBytes, double BytesPerSecond, TimeSpan? Eta);
