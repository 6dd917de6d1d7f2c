namespace Sam2Sharp.Config;

// The model configuration as typed records. Their shape follows the official YAML configs
// (model.image_encoder.trunk, model.memory_attention.layer.self_attention, …); defaults are the
// reference constructors' defaults, so a YAML file only states what it overrides.

public sealed record PositionEncodingConfig
{
    public int NumPosFeats { get; init; }
    public bool Normalize { get; init; } = true;
    public double? Scale { get; init; }
    public double Temperature { get; init; } = 10000;
}

public sealed record HieraConfig
{
    public int EmbedDim { get; init; } = 96;
    public int NumHeads { get; init; } = 1;
    public double DropPathRate { get; init; }
    public int QPool { get; init; } = 3;
    public int[] QStride { get; init; } = [2, 2];
    public int[] Stages { get; init; } = [2, 3, 16, 3];
    public double DimMul { get; init; } = 2.0;
    public double HeadMul { get; init; } = 2.0;
    public int[] WindowPosEmbedBkgSpatialSize { get; init; } = [14, 14];
    public int[] WindowSpec { get; init; } = [8, 4, 14, 7];
    public int[] GlobalAttBlocks { get; init; } = [12, 16, 20];
    public bool ReturnInterimLayers { get; init; } = true;
}

public sealed record FpnNeckConfig
{
    public PositionEncodingConfig PositionEncoding { get; init; } = new() { NumPosFeats = 256 };
    public int DModel { get; init; } = 256;
    public int[] BackboneChannelList { get; init; } = [768, 384, 192, 96];
    public int KernelSize { get; init; } = 1;
    public int Stride { get; init; } = 1;
    public int Padding { get; init; }
    public string FpnInterpModel { get; init; } = "bilinear";
    public string FuseType { get; init; } = "sum";
    public int[]? FpnTopDownLevels { get; init; }
}

public sealed record ImageEncoderConfig
{
    public HieraConfig Trunk { get; init; } = new();
    public FpnNeckConfig Neck { get; init; } = new();
    public int Scalp { get; init; }
}

public sealed record RoPEAttentionConfig
{
    public double RopeTheta { get; init; } = 10000.0;
    public bool RopeKRepeat { get; init; }
    public int[] FeatSizes { get; init; } = [64, 64];
    public int EmbeddingDim { get; init; } = 256;
    public int NumHeads { get; init; } = 1;
    public int DownsampleRate { get; init; } = 1;
    public double Dropout { get; init; }
    public int? KvInDim { get; init; }
}

public sealed record MemoryAttentionLayerConfig
{
    public string Activation { get; init; } = "relu";
    public int DimFeedforward { get; init; } = 2048;
    public double Dropout { get; init; } = 0.1;
    public bool PosEncAtAttn { get; init; }
    public RoPEAttentionConfig SelfAttention { get; init; } = new();
    public int DModel { get; init; } = 256;
    public bool PosEncAtCrossAttnKeys { get; init; } = true;
    public bool PosEncAtCrossAttnQueries { get; init; }
    public RoPEAttentionConfig CrossAttention { get; init; } = new() { RopeKRepeat = true, KvInDim = 64 };
}

public sealed record MemoryAttentionConfig
{
    public int DModel { get; init; } = 256;
    public bool PosEncAtInput { get; init; } = true;
    public MemoryAttentionLayerConfig Layer { get; init; } = new();
    public int NumLayers { get; init; } = 4;
    public bool BatchFirst { get; init; } = true;
}

public sealed record MaskDownSamplerConfig
{
    public int EmbedDim { get; init; } = 256;
    public int KernelSize { get; init; } = 4;
    public int Stride { get; init; } = 4;
    public int Padding { get; init; }
    public int TotalStride { get; init; } = 16;
    public string Activation { get; init; } = "gelu";
}

public sealed record CXBlockConfig
{
    public int Dim { get; init; } = 256;
    public int KernelSize { get; init; } = 7;
    public int Padding { get; init; } = 3;
    public double DropPath { get; init; }
    public double LayerScaleInitValue { get; init; } = 1e-6;
    public bool UseDwconv { get; init; } = true;
}

public sealed record FuserConfig
{
    public CXBlockConfig Layer { get; init; } = new();
    public int NumLayers { get; init; } = 2;
    public int? Dim { get; init; }
    public bool InputProjection { get; init; }
}

public sealed record MemoryEncoderConfig
{
    public int OutDim { get; init; } = 64;
    public MaskDownSamplerConfig MaskDownsampler { get; init; } = new();
    public FuserConfig Fuser { get; init; } = new();
    public PositionEncodingConfig PositionEncoding { get; init; } = new() { NumPosFeats = 64 };
    public int InDim { get; init; } = 256;
}

/// <summary>The SAM mask decoder's post-processing options (<c>sam_mask_decoder_extra_args</c>).</summary>
public sealed record MaskDecoderExtraArgs
{
    public bool DynamicMultimaskViaStability { get; init; }
    public double DynamicMultimaskStabilityDelta { get; init; } = 0.05;
    public double DynamicMultimaskStabilityThresh { get; init; } = 0.98;
}

/// <summary>The whole model: SAM2Base's arguments and its three configurable parts.</summary>
public sealed record Sam2Config
{
    /// <summary>A name for messages: the built-in name or the file it was read from.</summary>
    public string Name { get; init; } = "custom";
    public ImageEncoderConfig ImageEncoder { get; init; } = new();
    public MemoryAttentionConfig MemoryAttention { get; init; } = new();
    public MemoryEncoderConfig MemoryEncoder { get; init; } = new();
    public int NumMaskmem { get; init; } = 7;
    public int ImageSize { get; init; } = 512;
    public int BackboneStride { get; init; } = 16;
    public double SigmoidScaleForMemEnc { get; init; } = 1.0;
    public double SigmoidBiasForMemEnc { get; init; }
    public bool BinarizeMaskFromPtsForMemEnc { get; init; }
    public bool UseMaskInputAsOutputWithoutSam { get; init; }
    public int MaxCondFramesInAttn { get; init; } = -1;
    public bool DirectlyAddNoMemEmbed { get; init; }
    public bool UseHighResFeaturesInSam { get; init; }
    public bool MultimaskOutputInSam { get; init; }
    public int MultimaskMinPtNum { get; init; } = 1;
    public int MultimaskMaxPtNum { get; init; } = 1;
    public bool MultimaskOutputForTracking { get; init; }
    public bool UseMultimaskTokenForObjPtr { get; init; }
    public bool IouPredictionUseSigmoid { get; init; }
    public int MemoryTemporalStrideForEval { get; init; } = 1;
    public bool NonOverlapMasksForMemEnc { get; init; }
    public bool UseObjPtrsInEncoder { get; init; }
    public int MaxObjPtrsInEncoder { get; init; } = 16;
    public bool AddTposEncToObjPtrs { get; init; } = true;
    public bool ProjTposEncInObjPtrs { get; init; }
    public bool UseSignedTposEncToObjPtrs { get; init; }
    public bool OnlyObjPtrsInThePastForEval { get; init; }
    public bool PredObjScores { get; init; }
    public bool PredObjScoresMlp { get; init; }
    public bool FixedNoObjPtr { get; init; }
    public bool SoftNoObjPtr { get; init; }
    public bool UseMlpForObjPtrProj { get; init; }
    public bool NoObjEmbedSpatial { get; init; }
    public MaskDecoderExtraArgs SamMaskDecoderExtraArgs { get; init; } = new();
    public bool CompileImageEncoder { get; init; }
}
