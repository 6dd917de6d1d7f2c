using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Training;

/// <summary>
/// Training clips from a VOS dataset (the reference's VOSDataset with its collate_fn): each batch takes
/// <see cref="BatchSize"/> videos in a shuffled order in which every video comes <see cref="Multiplier"/> times per
/// epoch (each epoch's order a function of <see cref="ShuffleSeed"/> and the epoch, so batch k is the same whether or
/// not the run was resumed before it), samples a clip from each (<see cref="VosSampler"/>), transforms it (<see cref="VosTransforms"/>) and stacks
/// the clips into a <see cref="BatchedVideoDatapoint"/>. Every video is checked against the sampler when the
/// dataset is made, so a video no clip can come from stops the run before training rather than in the middle.
/// </summary>
public sealed class VosDataset : IVosBatchSource
{
    /// <summary>The validated videos.</summary>
    public VosRawDataset Raw { get; }
    /// <summary>How clips are drawn from a video.</summary>
    public VosSampler Sampler { get; }
    /// <summary>What is done to each clip (augmentation, resize, normalisation).</summary>
    public VosTransforms Transforms { get; }
    /// <summary>Clips per batch.</summary>
    public int BatchSize { get; }
    /// <summary>Times each video appears per epoch.</summary>
    public int Multiplier { get; }
    /// <summary>Seed of the per-epoch video order.</summary>
    public int ShuffleSeed { get; }

    int[] _order = [];
    long _orderEpoch = -1;

    /// <summary>Checks every video against the sampler (see the class remarks).</summary>
    public VosDataset(VosRawDataset raw, VosSampler sampler, VosTransforms transforms, int batchSize = 1, int multiplier = 1, int shuffleSeed = 0)
    {
        if (batchSize < 1) throw new Sam2Exception($"the batch size must be at least 1, got {batchSize}");
        if (multiplier < 1) throw new Sam2Exception($"the dataset multiplier must be at least 1, got {multiplier}");
        if (raw.Videos.Count == 0) throw new Sam2Exception($"empty dataset: no videos in {raw.ImageFolder}");
        foreach (var v in raw.Videos) sampler.Check(v);
        Raw = raw; Sampler = sampler; Transforms = transforms; BatchSize = batchSize; Multiplier = multiplier; ShuffleSeed = shuffleSeed;
    }

    /// <summary>Number of videos visited per epoch (videos × multiplier).</summary>
    public int Length => Raw.Videos.Count * Multiplier;

    /// <summary>A transformed clip from the given video.</summary>
    public VosClip GetClip(int videoIndex, Random rng)
    {
        var clip = VosClip.Load(Sampler.Sample(Raw.Videos[videoIndex], rng));
        try { Transforms.Apply(clip, rng); }
        catch { clip.Dispose(); throw; }
        return clip;
    }

    /// <summary>Batch <paramref name="step"/>: visits step×B … step×B+B−1 of the epoch orders (a batch may straddle
    /// two epochs, so none is ever short); clips are sampled and augmented with <paramref name="rng"/>.</summary>
    public BatchedVideoDatapoint Next(long step, Random rng)
    {
        var clips = NextClips(step, rng);
        try { return Collate(clips); }
        finally { foreach (var c in clips) c.Dispose(); }
    }

    /// <summary>The clips <see cref="Next"/> batches, before collation (they name their videos, frames and objects).</summary>
    public List<VosClip> NextClips(long step, Random rng)
    {
        var clips = new List<VosClip>(BatchSize);
        try
        {
            for (int b = 0; b < BatchSize; b++)
            {
                long visit = step * BatchSize + b;
                clips.Add(GetClip(EpochOrder(visit / Length)[(int)(visit % Length)], rng));
            }
            return clips;
        }
        catch
        {
            foreach (var c in clips) c.Dispose();
            throw;
        }
    }

    /// <summary>The shuffled visit order of one epoch: every video <see cref="Multiplier"/> times.</summary>
    int[] EpochOrder(long epoch)
    {
        if (epoch == _orderEpoch) return _order;
        _order = Enumerable.Range(0, Raw.Videos.Count).SelectMany(i => Enumerable.Repeat(i, Multiplier)).ToArray();
        new Random(TrainCheckpoint.Mix(ShuffleSeed, epoch)).Shuffle(_order);
        _orderEpoch = epoch;
        return _order;
    }

    /// <summary>
    /// collate_fn: pictures T×B×3×S×S float32; for each frame t the objects of video 0, then video 1, …, with
    /// (t, video) in ObjToFrameIdx (T×O×2 int32) and their masks in Masks (T×O×S×S bool).
    /// </summary>
    public static BatchedVideoDatapoint Collate(IReadOnlyList<VosClip> clips)
    {
        if (clips.Count == 0) throw new ArgumentException("no clips to collate");
        int T = clips[0].Frames.Count;
        foreach (var c in clips)
        {
            if (c.Frames.Count != T) throw new ArgumentException($"clips of {T} and {c.Frames.Count} frames cannot be batched");
            if (!c.IsNormalized) throw new ArgumentException($"clip of video {c.VideoName} is not normalised");
        }
        using var scope = torch.NewDisposeScope();
        var img = torch.stack(clips.Select(c => torch.stack(c.Frames, 0)).ToArray(), 1);
        int objects = clips.Sum(c => c.ObjectIds.Count);
        var idx = new int[T * objects * 2];
        for (int t = 0, k = 0; t < T; t++)
            for (int b = 0; b < clips.Count; b++)
                for (int o = 0; o < clips[b].ObjectIds.Count; o++, k += 2) { idx[k] = t; idx[k + 1] = b; }
        var objToFrame = torch.tensor(idx, new long[] { T, objects, 2 }, ScalarType.Int32, torch.CPU);
        var masks = torch.stack(Enumerable.Range(0, T).Select(t => torch.cat(clips.Select(c => c.Masks[t]).ToArray(), 0)).ToArray(), 0)
            .to_type(ScalarType.Bool);
        return new BatchedVideoDatapoint(img.MoveToOuterDisposeScope(), objToFrame.MoveToOuterDisposeScope(), masks.MoveToOuterDisposeScope());
    }
}
