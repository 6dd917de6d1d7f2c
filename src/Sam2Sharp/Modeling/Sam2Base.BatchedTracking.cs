using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>Tracking several objects of one frame at once (issue 13: time per object, not per frame).</summary>
public partial class Sam2Base
{
    /// <summary>
    /// One tracking step without prompts (propagation) on one frame for several objects, each with its own memory bank.
    /// Objects whose banks give memory attention as many tokens (memories and pointer tokens) go through memory
    /// attention, the heads and the memory encoder as one batch; the frame's features are shared. The outputs are
    /// those of <see cref="TrackStep"/> per object (batching changes only the order of floating-point sums), in the
    /// order of <paramref name="banks"/>, each with batch size 1.
    /// </summary>
    public IReadOnlyList<FrameOutput> TrackStepBatched(int frameIdx, PreparedFeatures feats, IReadOnlyList<MemoryBank> banks,
        int numFrames, bool trackInReverse = false, bool runMemEncoder = true)
    {
        using var scope = NewDisposeScope();
        var results = new FrameOutput[banks.Count];
        if (NumMaskmem == 0)
        {
            for (int i = 0; i < banks.Count; i++)
                results[i] = TrackStep(frameIdx, false, feats, null, null, banks[i], numFrames, trackInReverse, runMemEncoder);
            return Keep(results);
        }
        var vf = feats.VisionFeats; var sizes = feats.FeatSizes;
        // Batch 1: the decoder's skip connections broadcast over the objects.
        IReadOnlyList<Tensor>? highRes = vf.Count > 1
            ? vf.Take(vf.Count - 1).Select((x, i) => TokensToMap(x, sizes[i])).ToList()
            : null;
        var device = vf[^1].device;
        var tokens = banks.Select(b => SelectMemoryTokens(frameIdx, b, numFrames, trackInReverse, 1, device)).ToArray();
        foreach (var group in Enumerable.Range(0, banks.Count).GroupBy(i => (tokens[i].Memory.shape[0], tokens[i].NumObjPtrTokens)))
        {
            int[] idx = group.ToArray();
            var batch = idx.Length == 1 ? tokens[idx[0]] : new MemoryTokens(cat(idx.Select(i => tokens[i].Memory).ToArray(), 1),
                cat(idx.Select(i => tokens[i].MemoryPos).ToArray(), 1), group.Key.NumObjPtrTokens);
            // The objects' own copies are no longer needed once batched (they would double the memory tokens' RAM).
            if (idx.Length > 1) foreach (int i in idx) { tokens[i].Memory.Dispose(); tokens[i].MemoryPos.Dispose(); }
            // The frame's features stay batch 1: memory attention broadcasts them (its first self-attention runs once).
            var pixFeat = AttendToMemory(vf[^1], feats.VisionPosEmbeds[^1], sizes[^1], batch);
            var sam = ForwardSamHeads(pixFeat, highResFeatures: highRes, multimaskOutput: UseMultimask(false, null));
            using var output = EncodeMemoryInOutput(feats, null, null, sam, runMemEncoder, separateObjects: true);
            for (int k = 0; k < idx.Length; k++) results[idx[k]] = output.Object(k);
        }
        return Keep(results);
    }

    static FrameOutput[] Keep(FrameOutput[] outputs)
    {
        foreach (var o in outputs)
        {
            o.Keep();
            foreach (var t in o.MaskmemPosEnc ?? []) t.MoveToOuterDisposeScope();
        }
        return outputs;
    }
}
