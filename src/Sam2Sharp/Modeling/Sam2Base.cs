using Sam2Sharp.Benchmarking;
using Sam2Sharp.Config;
using Sam2Sharp.Imaging;
using Sam2Sharp.Modeling.Backbones;
using Sam2Sharp.Modeling.Sam;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sam2Sharp.Modeling;

/// <summary>Image features ready for the heads: per level HW×B×C tokens, their position encodings and sizes.</summary>
public sealed record PreparedFeatures(IReadOnlyList<Tensor> VisionFeats, IReadOnlyList<Tensor> VisionPosEmbeds, IReadOnlyList<(long H, long W)> FeatSizes);

/// <summary>Everything the SAM heads return for one step (see <see cref="Sam2Base.ForwardSamHeads"/>).</summary>
public sealed record SamHeadsOutput(Tensor LowResMultimasks, Tensor HighResMultimasks, Tensor Ious,
    Tensor LowResMasks, Tensor HighResMasks, Tensor ObjPtr, Tensor ObjectScoreLogits);

/// <summary>
/// SAM 2: the image encoder, the SAM prompt encoder and mask decoder, and the streaming memory
/// (memory attention, memory encoder, object pointers). Field names are the official state-dict keys.
/// </summary>
public partial class Sam2Base : nn.Module
{
    /// <summary>The logit given to "no object" pixels.</summary>
    public const float NoObjScore = -1024.0f;

    /// <summary>The model's config (the official YAML's model section, typed): sizes, memory and post-processing settings.</summary>
    public Sam2Config Config { get; }
    /// <summary>The options the model was built with (<see cref="Sam2Builder.Load(string, string, Sam2ModelOptions)"/>); a model made from a config directly has no post-processing beyond its config.</summary>
    public Sam2ModelOptions Options { get; }
    /// <summary>The input size in pixels (image_size, 1024): frames are resized to ImageSize×ImageSize.</summary>
    public int ImageSize => Config.ImageSize;
    /// <summary>Width of the image features and SAM heads (the neck's d_model, 256).</summary>
    public int HiddenDim { get; }
    /// <summary>Channels of a spatial memory and an object-pointer token (the memory encoder's out_dim, 64).</summary>
    public int MemDim { get; }
    /// <summary>Temporal slots of the memory bank (num_maskmem, 7): the conditioning frames share one, up to 6 recent frames take the others.</summary>
    public int NumMaskmem => Config.NumMaskmem;

    private readonly ImageEncoder image_encoder;
    private readonly MemoryAttention memory_attention;
    private readonly MemoryEncoder memory_encoder;
    private readonly Parameter maskmem_tpos_enc, no_mem_embed, no_mem_pos_enc;
    private readonly Parameter? no_obj_ptr, no_obj_embed_spatial;
    private readonly Conv2d? mask_downsample;
    private readonly PromptEncoder sam_prompt_encoder;
    private readonly MaskDecoder sam_mask_decoder;
    private readonly nn.Module<Tensor, Tensor> obj_ptr_proj, obj_ptr_tpos_proj;

    /// <summary>The image encoder (Hiera trunk and FPN neck).</summary>
    public ImageEncoder ImageEncoder => image_encoder;
    /// <summary>SAM's prompt encoder.</summary>
    public PromptEncoder PromptEncoder => sam_prompt_encoder;
    /// <summary>SAM's mask decoder.</summary>
    public MaskDecoder MaskDecoder => sam_mask_decoder;
    /// <summary>The learned 1×1×HiddenDim "no memory" embedding, for an image or an initial conditioning frame: added to its features (directly_add_no_mem_embed, the official setting), else attended to as the only memory.</summary>
    public Tensor NoMemEmbed => no_mem_embed;
    /// <summary>The device of the weights; every tensor the library makes for this model is made there.</summary>
    public Device Device => no_mem_embed.device;

    /// <summary>The model for <paramref name="config"/> (already adjusted by <paramref name="options"/>, as the builder does), random weights.</summary>
    public Sam2Base(Sam2Config config, Sam2ModelOptions? options = null) : base(nameof(Sam2Base))
    {
        Config = config;
        Options = options ?? new Sam2ModelOptions { ApplyPostprocessing = false };
        image_encoder = Sam2Builder.BuildImageEncoder(config.ImageEncoder);
        memory_attention = Sam2Builder.BuildMemoryAttention(config.MemoryAttention);
        memory_encoder = Sam2Builder.BuildMemoryEncoder(config.MemoryEncoder);
        HiddenDim = config.ImageEncoder.Neck.DModel;
        MemDim = config.MemoryEncoder.OutDim;
        if (config.ProjTposEncInObjPtrs && !config.AddTposEncToObjPtrs)
            throw new Sam2Exception($"config {config.Name}: proj_tpos_enc_in_obj_ptrs needs add_tpos_enc_to_obj_ptrs");
        if (config.FixedNoObjPtr && !(config.PredObjScores && config.UseObjPtrsInEncoder))
            throw new Sam2Exception($"config {config.Name}: fixed_no_obj_ptr needs pred_obj_scores and use_obj_ptrs_in_encoder");

        if (config.UseObjPtrsInEncoder) mask_downsample = nn.Conv2d(1, 1, 4, stride: 4);
        maskmem_tpos_enc = new Parameter(TruncNormal(zeros(NumMaskmem, 1, 1, MemDim)));
        no_mem_embed = new Parameter(TruncNormal(zeros(1, 1, HiddenDim)));
        no_mem_pos_enc = new Parameter(TruncNormal(zeros(1, 1, HiddenDim)));
        if (config.PredObjScores && config.UseObjPtrsInEncoder) no_obj_ptr = new Parameter(TruncNormal(zeros(1, HiddenDim)));
        if (config.NoObjEmbedSpatial) no_obj_embed_spatial = new Parameter(TruncNormal(zeros(1, MemDim)));

        // The SAM heads (_build_sam_heads): fixed sizes of the official models.
        int embedSize = config.ImageSize / config.BackboneStride;
        sam_prompt_encoder = new PromptEncoder(HiddenDim, (embedSize, embedSize), (config.ImageSize, config.ImageSize), 16);
        var x = config.SamMaskDecoderExtraArgs;
        sam_mask_decoder = new MaskDecoder(
            transformerDim: HiddenDim,
            transformer: new TwoWayTransformer(depth: 2, embeddingDim: HiddenDim, numHeads: 8, mlpDim: 2048),
            numMultimaskOutputs: 3, iouHeadDepth: 3, iouHeadHiddenDim: 256,
            useHighResFeatures: config.UseHighResFeaturesInSam,
            iouPredictionUseSigmoid: config.IouPredictionUseSigmoid,
            dynamicMultimaskViaStability: x.DynamicMultimaskViaStability,
            dynamicMultimaskStabilityDelta: x.DynamicMultimaskStabilityDelta,
            dynamicMultimaskStabilityThresh: x.DynamicMultimaskStabilityThresh,
            predObjScores: config.PredObjScores, predObjScoresMlp: config.PredObjScoresMlp,
            useMultimaskTokenForObjPtr: config.UseMultimaskTokenForObjPtr);
        obj_ptr_proj = !config.UseObjPtrsInEncoder ? nn.Identity()
            : config.UseMlpForObjPtrProj ? new Mlp(HiddenDim, HiddenDim, HiddenDim, 3) : nn.Linear(HiddenDim, HiddenDim);
        obj_ptr_tpos_proj = config.ProjTposEncInObjPtrs ? nn.Linear(HiddenDim, MemDim) : nn.Identity();
        RegisterComponents();
    }

    static Tensor TruncNormal(Tensor t) => nn.init.trunc_normal_(t, std: 0.02);

    /// <summary>The image encoder on a batch, with the decoder's conv_s0/conv_s1 applied to the high-res levels;
    /// <paramref name="progress"/> hears of each encoder block (<see cref="ImageEncoder.Forward"/>).</summary>
    public BackboneOutput ForwardImage(Tensor imgBatch, IProgress<Sam2Progress>? progress = null)
    {
        using var section = Profiler.Time("encoder");
        var o = ToFloat32(image_encoder.Forward(imgBatch, progress)); // the stem takes the float32 image in any precision
        if (!Config.UseHighResFeaturesInSam) return o;
        using var convs = Profiler.Time("encoder.conv_s0_s1");
        var fpn = o.BackboneFpn.ToList();
        fpn[0] = sam_mask_decoder.ConvS0(fpn[0]);
        fpn[1] = sam_mask_decoder.ConvS1(fpn[1]);
        return o with { BackboneFpn = fpn };
    }

    /// <summary>Flattens the levels the heads use to HW×B×C tokens.</summary>
    public PreparedFeatures PrepareBackboneFeatures(BackboneOutput o)
    {
        int levels = Config.UseHighResFeaturesInSam ? 3 : 1;
        var maps = o.BackboneFpn.Skip(o.BackboneFpn.Count - levels).ToList();
        var pos = o.VisionPosEnc.Skip(o.VisionPosEnc.Count - levels).ToList();
        return new PreparedFeatures(
            maps.Select(x => x.flatten(2).permute(2, 0, 1)).ToList(),
            pos.Select(x => x.flatten(2).permute(2, 0, 1)).ToList(),
            pos.Select(x => (x.shape[^2], x.shape[^1])).ToList());
    }

    /// <summary>Tokens HW×B×C back to a B×C×H×W map.</summary>
    public static Tensor TokensToMap(Tensor tokens, (long H, long W) size) =>
        tokens.permute(1, 2, 0).reshape(tokens.shape[1], tokens.shape[2], size.H, size.W);

    /// <summary>
    /// The prompt encoder and mask decoder on B feature maps: low-res and upsampled masks, the
    /// best one when multimask, IoU estimates, the object pointer and the object score.
    /// </summary>
    public SamHeadsOutput ForwardSamHeads(Tensor backboneFeatures, PointInputs? pointInputs = null, Tensor? maskInputs = null,
        IReadOnlyList<Tensor>? highResFeatures = null, bool multimaskOutput = false)
    {
        using var scope = NewDisposeScope();
        using var section = Profiler.Time("decoder");
        long b = backboneFeatures.shape[0];
        var device = backboneFeatures.device;
        Tensor coords, labels;
        if (pointInputs is not null) { coords = pointInputs.Coords; labels = pointInputs.Labels; }
        else { coords = zeros(b, 1, 2, device: device); labels = -ones(b, 1, ScalarType.Int32, device); }

        Tensor? maskPrompt = null;
        if (maskInputs is not null)
        {
            var size = sam_prompt_encoder.MaskInputSize;
            maskPrompt = maskInputs.shape[^2] != size.h || maskInputs.shape[^1] != size.w
                ? F.interpolate(maskInputs.to_type(float32), new long[] { size.h, size.w }, mode: InterpolationMode.Bilinear, align_corners: false, antialias: true)
                : maskInputs;
        }
        var (sparse, dense) = sam_prompt_encoder.forward((coords, labels), null, maskPrompt);
        var dec = sam_mask_decoder.forward(backboneFeatures, sam_prompt_encoder.GetDensePe(), sparse, dense,
            multimaskOutput, repeatImage: false, highResFeatures: highResFeatures);
        var lowResMultimasks = dec.Masks;
        var objectScoreLogits = dec.ObjectScoreLogits;
        Tensor? isObjAppearing = null;
        if (Config.PredObjScores)
        {
            isObjAppearing = objectScoreLogits > 0;
            lowResMultimasks = where(isObjAppearing[.., TensorIndex.None, TensorIndex.None], lowResMultimasks, tensor(NoObjScore, device: device));
        }
        lowResMultimasks = lowResMultimasks.to_type(float32);
        Tensor highResMultimasks;
        using (Profiler.Time("mask_upscaling"))
            highResMultimasks = MaskResize.Bilinear(lowResMultimasks, ImageSize, ImageSize);

        var samOutputToken = dec.SamTokensOut[.., 0];
        Tensor lowResMasks = lowResMultimasks, highResMasks = highResMultimasks;
        if (multimaskOutput)
        {
            var best = dec.IouPred.argmax(-1);
            var batch = arange(b, device: device);
            lowResMasks = lowResMultimasks[batch, best].unsqueeze(1);
            highResMasks = highResMultimasks[batch, best].unsqueeze(1);
            if (dec.SamTokensOut.shape[1] > 1) samOutputToken = dec.SamTokensOut[batch, best];
        }
        var objPtr = obj_ptr_proj.forward(samOutputToken);
        if (isObjAppearing is not null)
        {
            var lambda = Config.SoftNoObjPtr ? objectScoreLogits.sigmoid() : isObjAppearing.to_type(float32);
            if (Config.FixedNoObjPtr) objPtr = lambda * objPtr;
            objPtr = objPtr + (1 - lambda) * no_obj_ptr!;
        }
        var r = new SamHeadsOutput(lowResMultimasks, highResMultimasks, dec.IouPred, lowResMasks, highResMasks, objPtr, objectScoreLogits);
        foreach (var t in new[] { r.LowResMultimasks, r.HighResMultimasks, r.Ious, r.LowResMasks, r.HighResMasks, r.ObjPtr, r.ObjectScoreLogits })
            t.MoveToOuterDisposeScope();
        return r;
    }

    /// <summary>A binary mask prompt used directly as the output (logits ±10), with the pointer from the heads.</summary>
    public SamHeadsOutput UseMaskAsOutput(Tensor backboneFeatures, IReadOnlyList<Tensor>? highResFeatures, Tensor maskInputs)
    {
        using var scope = NewDisposeScope();
        const double outScale = 20.0, outBias = -10.0;
        var maskFloat = maskInputs.to_type(float32);
        var highRes = maskFloat * outScale + outBias;
        var lowRes = F.interpolate(highRes, new long[] { highRes.shape[^2] / 4, highRes.shape[^1] / 4 },
            mode: InterpolationMode.Bilinear, align_corners: false, antialias: true);
        var ious = ones(maskInputs.shape[0], 1, dtype: float32, device: maskInputs.device);
        Tensor objPtr = Config.UseObjPtrsInEncoder
            ? ForwardSamHeads(backboneFeatures, maskInputs: mask_downsample!.forward(maskFloat), highResFeatures: highResFeatures).ObjPtr
            : zeros(maskInputs.shape[0], HiddenDim, device: maskInputs.device);
        var appearing = (maskFloat.flatten(1) > 0.0).any(1).unsqueeze(-1).to_type(float32);
        var objectScoreLogits = outScale * appearing + outBias;
        if (Config.PredObjScores)
        {
            if (Config.FixedNoObjPtr) objPtr = appearing * objPtr;
            objPtr = objPtr + (1 - appearing) * no_obj_ptr!;
        }
        var r = new SamHeadsOutput(lowRes, highRes, ious, lowRes, highRes, objPtr, objectScoreLogits);
        foreach (var t in new[] { lowRes, highRes, ious, objPtr, objectScoreLogits }) t.MoveToOuterDisposeScope();
        return r;
    }

    /// <summary>Whether the heads give three masks: on the first click(s) of a conditioning frame, or while tracking if so set.</summary>
    public bool UseMultimask(bool isInitCondFrame, PointInputs? pointInputs)
    {
        long numPts = pointInputs?.Labels.shape[1] ?? 0;
        return Config.MultimaskOutputInSam
            && (isInitCondFrame || Config.MultimaskOutputForTracking)
            && Config.MultimaskMinPtNum <= numPts && numPts <= Config.MultimaskMaxPtNum;
    }

    /// <summary>At each pixel keep only the highest-scoring object; the others are clamped to at most -10.</summary>
    public static Tensor ApplyNonOverlappingConstraints(Tensor predMasks)
    {
        long b = predMasks.shape[0];
        if (b == 1) return predMasks;
        var maxInds = predMasks.argmax(0, keepdim: true);
        var objInds = arange(b, device: predMasks.device)[.., TensorIndex.None, TensorIndex.None, TensorIndex.None];
        return where(maxInds == objInds, predMasks, predMasks.clamp(max: -10.0));
    }
}
