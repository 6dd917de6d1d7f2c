using Sam2Sharp.Benchmarking;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>The streaming-memory half of SAM2Base: conditioning a frame on the memory bank, encoding new memories, one tracking step.</summary>
public partial class Sam2Base
{
    /// <summary>
    /// The current frame's top-level features after memory attention over the memory bank:
    /// past masks (the last num_maskmem-1 frames and the conditioning frames) and object pointers.
    /// </summary>
    public Tensor PrepareMemoryConditionedFeatures(int frameIdx, bool isInitCondFrame, Tensor currentVisionFeat,
        Tensor currentVisionPosEmbed, (long H, long W) featSize, MemoryBank output, int numFrames, bool trackInReverse = false)
    {
        using var scope = NewDisposeScope();
        long b = currentVisionFeat.shape[1];
        if (NumMaskmem == 0) return TokensToMap(currentVisionFeat, featSize).MoveToOuterDisposeScope();
        MemoryTokens tokens;
        if (!isInitCondFrame) tokens = SelectMemoryTokens(frameIdx, output, numFrames, trackInReverse, b, currentVisionFeat.device);
        else if (Config.DirectlyAddNoMemEmbed)
            return TokensToMap(currentVisionFeat + no_mem_embed, featSize).MoveToOuterDisposeScope();
        else tokens = new MemoryTokens(no_mem_embed.expand(1, b, MemDim), no_mem_pos_enc.expand(1, b, MemDim), 0);
        return AttendToMemory(currentVisionFeat, currentVisionPosEmbed, featSize, tokens).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The memory tokens (L × B × mem_dim), their position encodings and the number of trailing object-pointer tokens
    /// that memory attention reads from <paramref name="output"/> on a frame that is not an initial conditioning frame.
    /// </summary>
    MemoryTokens SelectMemoryTokens(int frameIdx, MemoryBank output, int numFrames, bool trackInReverse, long b, Device device)
    {
        int c = HiddenDim;
        int numObjPtrTokens = 0;
        var memory = new List<Tensor>();
        var memoryPos = new List<Tensor>();
        int maxPtrs = Config.UseObjPtrsInEncoder ? Math.Min(numFrames, Config.MaxObjPtrsInEncoder) : 0;
        var selection = output.SelectForAttention(frameIdx, numFrames, trackInReverse, Config.MaxCondFramesInAttn, NumMaskmem,
            stride: training ? 1 : Config.MemoryTemporalStrideForEval, maxPtrs,
            onlyPtrsInThePast: !training && Config.OnlyObjPtrsInThePastForEval, Config.UseSignedTposEncToObjPtrs);
        foreach (var (tPos, prev) in selection.Memories)
        {
            // Memories are stored in bfloat16; attention computes in float32.
            memory.Add(prev.MaskmemFeatures!.to(device).to_type(float32).flatten(2).permute(2, 0, 1));
            var enc = prev.MaskmemPosEnc![^1].to(device).flatten(2).permute(2, 0, 1);
            memoryPos.Add(enc + maskmem_tpos_enc[NumMaskmem - tPos - 1]);
        }

        var posAndPtrs = selection.ObjectPointers;
        if (Config.UseObjPtrsInEncoder && posAndPtrs.Count > 0)
        {
            var objPtrs = stack(posAndPtrs.Select(p => p.Ptr).ToArray(), 0);
            Tensor objPos;
            if (Config.AddTposEncToObjPtrs)
            {
                double tDiffMax = maxPtrs - 1;
                int tposDim = Config.ProjTposEncInObjPtrs ? c : MemDim;
                var pos = tensor(posAndPtrs.Select(p => (float)p.Pos).ToArray(), device: device);
                objPos = obj_ptr_tpos_proj.forward(Sam2Utils.Get1dSinePe(pos / tDiffMax, tposDim));
                objPos = objPos.unsqueeze(1).expand(-1, b, MemDim);
            }
            else objPos = zeros(posAndPtrs.Count, b, MemDim, device: device);
            if (MemDim < c)
            {
                // Each pointer is split into C/mem_dim tokens of the memory's width.
                objPtrs = objPtrs.reshape(-1, b, c / MemDim, MemDim).permute(0, 2, 1, 3).flatten(0, 1);
                objPos = objPos.repeat_interleave(c / MemDim, dim: 0);
            }
            memory.Add(objPtrs);
            memoryPos.Add(objPos);
            numObjPtrTokens = (int)objPtrs.shape[0];
        }
        return new MemoryTokens(cat(memory, 0), cat(memoryPos, 0), numObjPtrTokens);
    }

    /// <summary>Memory attention of the current frame's tokens (HW × B × C) over <paramref name="tokens"/>, as a B × C × H × W map.</summary>
    Tensor AttendToMemory(Tensor currentVisionFeat, Tensor currentVisionPosEmbed, (long H, long W) featSize, MemoryTokens tokens)
    {
        var dt = ComputeType;
        using var section = Profiler.Time("memory_attention");
        var fused = memory_attention.forward(currentVisionFeat.to_type(dt), tokens.Memory.to_type(dt), currentVisionPosEmbed.to_type(dt),
            tokens.MemoryPos.to_type(dt), tokens.NumObjPtrTokens).to_type(float32);
        return TokensToMap(fused, featSize);
    }

    /// <summary>Encodes the frame's features and predicted mask into a memory (features, position encodings).</summary>
    /// <remarks>The batch is one object's (or, in training, independent clips'); with <paramref name="separateObjects"/> it is
    /// several objects tracked each on its own, so the non-overlap constraint across the batch does not apply (one object alone is unconstrained).</remarks>
    public (Tensor Features, IReadOnlyList<Tensor> PosEnc) EncodeNewMemory(Tensor currentVisionFeat, (long H, long W) featSize,
        Tensor predMasksHighRes, Tensor objectScoreLogits, bool isMaskFromPts, bool separateObjects = false)
    {
        using var scope = NewDisposeScope();
        var pixFeat = TokensToMap(currentVisionFeat, featSize);
        if (Config.NonOverlapMasksForMemEnc && !training && !separateObjects) predMasksHighRes = ApplyNonOverlappingConstraints(predMasksHighRes);
        // With clicks, the memory sees the binary mask the user saw.
        bool binarize = Config.BinarizeMaskFromPtsForMemEnc && isMaskFromPts;
        var maskForMem = binarize && !training ? (predMasksHighRes > 0).to_type(float32) : predMasksHighRes.sigmoid();
        if (Config.SigmoidScaleForMemEnc != 1.0) maskForMem = maskForMem * Config.SigmoidScaleForMemEnc;
        if (Config.SigmoidBiasForMemEnc != 0.0) maskForMem = maskForMem + Config.SigmoidBiasForMemEnc;
        var m = memory_encoder.forward(pixFeat.to_type(ComputeType), maskForMem.to_type(ComputeType), skipMaskSigmoid: true);
        var features = m.VisionFeatures.to_type(float32);
        if (no_obj_embed_spatial is not null)
        {
            var appearing = (objectScoreLogits > 0).to_type(float32);
            features = features + (1 - appearing[.., .., TensorIndex.None, TensorIndex.None])
                * no_obj_embed_spatial[.., .., TensorIndex.None, TensorIndex.None].expand(features.shape);
        }
        features.MoveToOuterDisposeScope();
        var posEnc = m.VisionPosEnc.Select(p => p.to_type(float32).MoveToOuterDisposeScope()).ToList();
        return (features, posEnc);
    }

    /// <summary>
    /// One tracking step on one frame for B objects: the mask from prompts and/or memory, the
    /// object pointer, and (when asked) the new memory.
    /// </summary>
    public FrameOutput TrackStep(int frameIdx, bool isInitCondFrame, PreparedFeatures feats, PointInputs? pointInputs,
        Tensor? maskInputs, MemoryBank output, int numFrames, bool trackInReverse = false, bool runMemEncoder = true,
        Tensor? prevSamMaskLogits = null)
    {
        using var scope = NewDisposeScope();
        var vf = feats.VisionFeats; var sizes = feats.FeatSizes;
        IReadOnlyList<Tensor>? highRes = vf.Count > 1
            ? vf.Take(vf.Count - 1).Select((x, i) => TokensToMap(x, sizes[i])).ToList()
            : null;
        SamHeadsOutput sam;
        if (maskInputs is not null && Config.UseMaskInputAsOutputWithoutSam)
        {
            var pixFeat = TokensToMap(vf[^1], sizes[^1]);
            sam = UseMaskAsOutput(pixFeat, highRes, maskInputs);
        }
        else
        {
            var pixFeat = PrepareMemoryConditionedFeatures(frameIdx, isInitCondFrame, vf[^1], feats.VisionPosEmbeds[^1], sizes[^1],
                output, numFrames, trackInReverse);
            if (prevSamMaskLogits is not null) maskInputs = prevSamMaskLogits;
            sam = ForwardSamHeads(pixFeat, pointInputs, maskInputs, highRes, UseMultimask(isInitCondFrame, pointInputs));
        }
        var result = EncodeMemoryInOutput(feats, pointInputs, maskInputs, sam, runMemEncoder);
        foreach (var t in result.MaskmemPosEnc ?? []) t.MoveToOuterDisposeScope();
        return result.Keep();
    }

    /// <summary>
    /// A frame's output from its final heads' step, with the memory of that prediction encoded
    /// (when asked and the model has a memory); tensors stay in the current dispose scope.
    /// </summary>
    public FrameOutput EncodeMemoryInOutput(PreparedFeatures feats, PointInputs? pointInputs, Tensor? maskInputs,
        SamHeadsOutput sam, bool runMemEncoder = true, bool separateObjects = false)
    {
        var result = new FrameOutput
        {
            PointInputs = pointInputs,
            MaskInputs = maskInputs,
            PredMasks = sam.LowResMasks,
            PredMasksHighRes = sam.HighResMasks,
            ObjPtr = sam.ObjPtr,
            ObjectScoreLogits = sam.ObjectScoreLogits,
        };
        if (runMemEncoder && NumMaskmem > 0)
        {
            var (f, p) = EncodeNewMemory(feats.VisionFeats[^1], feats.FeatSizes[^1], sam.HighResMasks, sam.ObjectScoreLogits, pointInputs is not null,
                separateObjects);
            result.MaskmemFeatures = f;
            result.MaskmemPosEnc = p;
        }
        return result;
    }
}

/// <summary>What memory attention reads: L memory tokens (L × B × mem_dim), their position encodings, and how many
/// trailing tokens are object pointers (left out of RoPE).</summary>
internal readonly record struct MemoryTokens(Tensor Memory, Tensor MemoryPos, int NumObjPtrTokens);
