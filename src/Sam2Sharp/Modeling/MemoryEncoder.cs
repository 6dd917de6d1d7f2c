using Sam2Sharp.Benchmarking;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>Output of <see cref="MemoryEncoder"/>: the memory features and their positional encodings (one level).</summary>
public sealed record MemoryEncoderOutput(Tensor VisionFeatures, IReadOnlyList<Tensor> VisionPosEnc);

/// <summary>
/// Encodes a frame into memory: its pixel features plus its downsampled (sigmoid) mask, fused by
/// ConvNeXt blocks and projected to out_dim, with a positional encoding of the result.
/// </summary>
public sealed class MemoryEncoder : nn.Module<Tensor, Tensor, bool, MemoryEncoderOutput>
{
    private readonly nn.Module<Tensor, Tensor> mask_downsampler;
    private readonly Conv2d pix_feat_proj;
    private readonly nn.Module<Tensor, Tensor> fuser;
    private readonly nn.Module<Tensor, Tensor> position_encoding;
    private readonly nn.Module<Tensor, Tensor> out_proj;

    /// <summary>The memory encoder as the reference's MemoryEncoder.</summary>
    /// <param name="outDim">Channels of a memory (mem_dim, 64 in SAM 2); a 1×1 projection when it differs from <paramref name="inDim"/>.</param>
    /// <param name="maskDownsampler">Brings the mask to the embedding's size (a <see cref="MaskDownSampler"/>).</param>
    /// <param name="fuser">Mixes pixel features and mask (a <see cref="Fuser"/> of <see cref="CXBlock"/>s).</param>
    /// <param name="positionEncoding">The position encoding of the memory (a <see cref="PositionEmbeddingSine"/>).</param>
    /// <param name="inDim">Channels of the pixel features (the neck's d_model).</param>
    public MemoryEncoder(int outDim, nn.Module<Tensor, Tensor> maskDownsampler, nn.Module<Tensor, Tensor> fuser,
                         nn.Module<Tensor, Tensor> positionEncoding, int inDim = 256)
        : base(nameof(MemoryEncoder))
    {
        mask_downsampler = maskDownsampler;
        pix_feat_proj = nn.Conv2d(inDim, inDim, kernel_size: 1);
        this.fuser = fuser;
        position_encoding = positionEncoding;
        out_proj = outDim != inDim ? nn.Conv2d(inDim, outDim, kernel_size: 1) : nn.Identity();
        RegisterComponents();
    }

    /// <summary>
    /// pixFeat: B × in_dim × H × W; masks: B × 1 × (total_stride·H) × (total_stride·W), logits unless
    /// skipMaskSigmoid (then already probabilities or binary).
    /// </summary>
    public override MemoryEncoderOutput forward(Tensor pixFeat, Tensor masks, bool skipMaskSigmoid)
    {
        using var scope = NewDisposeScope();
        using var section = Profiler.Time("memory_encoder");
        // The sigmoid keeps predicted masks close to the binary ground-truth masks seen in training.
        if (!skipMaskSigmoid) masks = masks.sigmoid();
        masks = mask_downsampler.forward(masks);
        pixFeat = pixFeat.to(masks.device);
        var x = pix_feat_proj.forward(pixFeat) + masks;
        x = fuser.forward(x);
        x = out_proj.forward(x);
        var pos = position_encoding.forward(x).to_type(x.dtype);
        return new MemoryEncoderOutput(x.MoveToOuterDisposeScope(), new[] { pos.MoveToOuterDisposeScope() });
    }

    /// <summary><see cref="forward"/> with the mask given as logits by default.</summary>
    public MemoryEncoderOutput Forward(Tensor pixFeat, Tensor masks, bool skipMaskSigmoid = false) =>
        forward(pixFeat, masks, skipMaskSigmoid);
}
