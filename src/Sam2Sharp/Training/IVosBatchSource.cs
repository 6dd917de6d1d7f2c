namespace Sam2Sharp.Training;

/// <summary>
/// Training batches by step. A batch depends only on its step and <c>rng</c> (the step's generator), so a
/// resumed run draws exactly what the uninterrupted run would have.
/// </summary>
public interface IVosBatchSource
{
    /// <summary>The batch of <paramref name="step"/>, drawn with <paramref name="rng"/> only.</summary>
    BatchedVideoDatapoint Next(long step, Random rng);
}
