namespace Sam2Sharp;

/// <summary>
/// Where a long operation is, for <see cref="IProgress{T}"/>: <see cref="Done"/> of <see cref="Total"/> units of
/// work (<see cref="Unit"/>: prompt batches, videos, training steps). Reports may come from worker threads.
/// </summary>
/// <param name="Done">Units finished so far.</param>
/// <param name="Total">Units in the whole operation.</param>
/// <param name="Unit">What is counted, plural ("videos").</param>
public sealed record Sam2Progress(long Done, long Total, string Unit)
{
    /// <summary>The item just finished or started (a video's name), if the operation has items.</summary>
    public string? Item { get; init; }

    /// <summary>A line worth showing the user (a result along the way), or null.</summary>
    public string? Message { get; init; }
}
