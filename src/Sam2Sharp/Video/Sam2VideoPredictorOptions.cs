namespace Sam2Sharp.Video;

/// <summary>
/// How a <see cref="Sam2VideoPredictor"/> post-processes and keeps its results (the reference
/// SAM2VideoPredictor's constructor arguments, plus where its memory bank lives). One model can
/// serve predictors with different options.
/// </summary>
public sealed record Sam2VideoPredictorOptions
{
    /// <summary>
    /// Holes (8-connected background regions) of up to this many pixels in the low-resolution masks are
    /// filled; 0 fills none. Null: 8 on a model built with post-processing
    /// (<see cref="Sam2ModelOptions.ApplyPostprocessing"/>), as the reference's build_sam2_video_predictor, else 0.
    /// </summary>
    public int? FillHoleArea { get; init; }

    /// <summary>At each pixel only the highest-scoring object keeps a positive logit (<c>non_overlap_masks</c>).</summary>
    public bool NonOverlapMasks { get; init; }

    /// <summary>A prompt clears the tracked (non-conditioning) memories within num_maskmem × stride frames of it
    /// (<c>clear_non_cond_mem_around_input</c>).</summary>
    public bool ClearNonCondMemAroundInput { get; init; }

    /// <summary>A correction on a frame already tracked makes it a conditioning frame too
    /// (<c>add_all_frames_to_correct_as_cond</c>).</summary>
    public bool AddAllFramesToCorrectAsCond { get; init; }

    /// <summary>
    /// While propagating, move the mask logits and memories of frames far behind the current one to a private
    /// temporary folder, so that RAM stays flat over long videos (false: everything in memory, as the reference).
    /// Spilled frames are read back when a later prompt or propagation needs them.
    /// </summary>
    public bool SpillMemories { get; init; } = true;

    /// <summary>
    /// How many frames behind the current one memories are spilled. Null: just past the reach of memory attention
    /// (num_maskmem × stride + 2), so tracking is unchanged.
    /// </summary>
    public int? SpillBehind { get; init; }

    /// <summary>
    /// How many frames' image features a session keeps (the least recently used are freed first). 1, the
    /// reference's behaviour, re-encodes a frame whenever another was encoded since; more lets
    /// <see cref="Sam2VideoPredictor.EmbedAhead"/> prepare frames before a prompt or propagation needs them.
    /// Each frame costs the encoder's outputs (about 100 MB for a 1024-pixel model).
    /// </summary>
    public int FeatureCacheFrames { get; init; } = 1;

    /// <summary>The hole area used with <paramref name="model"/>.</summary>
    internal int FillHoleAreaFor(Modeling.Sam2Base model) => FillHoleArea ?? (model.Options.ApplyPostprocessing ? 8 : 0);

    /// <summary>The spill distance used with <paramref name="model"/>, null when nothing is spilled.</summary>
    internal int? SpillBehindFor(Modeling.Sam2Base model) =>
        !SpillMemories ? null : SpillBehind ?? model.NumMaskmem * model.Config.MemoryTemporalStrideForEval + 2;
}
