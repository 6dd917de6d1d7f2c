namespace Sam2Sharp.Config;

// The model configuration as typed records. Their shape follows the official YAML configs
// (model.image_encoder.trunk, model.memory_attention.layer.self_attention, …); defaults are the
// reference constructors' defaults, so a YAML file only states what it overrides.

/// <summary>Sine positional encoding of a feature map (<c>PositionEmbeddingSine</c>), as used by the FPN neck and the memory encoder.</summary>
public sealed record PositionEncodingConfig
{
    /// <summary>Channels of the encoding (<c>num_pos_feats</c>): half encode y, half encode x; must be even.</summary>
    public int NumPosFeats { get; init; }
    /// <summary>Whether coordinates are normalised to [0, 1] and multiplied by <see cref="Scale"/> before the sines.</summary>
    public bool Normalize { get; init; } = true;
    /// <summary>Scale of the normalised coordinates; <see langword="null"/> means 2π. Requires <see cref="Normalize"/>.</summary>
    public double? Scale { get; init; }
    /// <summary>Base of the geometric progression of frequencies (10000 as in "Attention Is All You Need").</summary>
    public double Temperature { get; init; } = 10000;
}

/// <summary>The image encoder's trunk: a hierarchical Hiera backbone (<c>image_encoder.trunk</c>).</summary>
public sealed record HieraConfig
{
    /// <summary>Channel width of the first stage; each later stage multiplies it by <see cref="DimMul"/>.</summary>
    public int EmbedDim { get; init; } = 96;
    /// <summary>Attention heads of the first stage; each later stage multiplies them by <see cref="HeadMul"/>.</summary>
    public int NumHeads { get; init; } = 1;
    /// <summary>Largest stochastic-depth rate, reached by the last block (rates rise linearly from 0); training only.</summary>
    public double DropPathRate { get; init; }
    /// <summary>How many stage transitions pool the queries (downsample the tokens), from the first one on.</summary>
    public int QPool { get; init; } = 3;
    /// <summary>Query-pooling stride (height, width) between stages.</summary>
    public int[] QStride { get; init; } = [2, 2];
    /// <summary>Number of blocks in each stage.</summary>
    public int[] Stages { get; init; } = [2, 3, 16, 3];
    /// <summary>Channel multiplier at each stage transition.</summary>
    public double DimMul { get; init; } = 2.0;
    /// <summary>Head-count multiplier at each stage transition.</summary>
    public double HeadMul { get; init; } = 2.0;
    /// <summary>Size (height, width) of the background positional embedding, interpolated to the feature map (windowed positional embedding).</summary>
    public int[] WindowPosEmbedBkgSpatialSize { get; init; } = [14, 14];
    /// <summary>Window size of each stage's windowed attention (blocks not in <see cref="GlobalAttBlocks"/>).</summary>
    public int[] WindowSpec { get; init; } = [8, 4, 14, 7];
    /// <summary>Indices of the blocks that attend globally instead of within windows.</summary>
    public int[] GlobalAttBlocks { get; init; } = [12, 16, 20];
    /// <summary>Whether the trunk returns every stage's features (for the FPN neck) or only the last (<c>return_interm_layers</c>).</summary>
    public bool ReturnInterimLayers { get; init; } = true;
}

/// <summary>The image encoder's neck: a feature pyramid over the trunk's stages (<c>image_encoder.neck</c>).</summary>
public sealed record FpnNeckConfig
{
    /// <summary>The positional encoding added to each output level.</summary>
    public PositionEncodingConfig PositionEncoding { get; init; } = new() { NumPosFeats = 256 };
    /// <summary>Channels of every output level (the model's hidden dimension).</summary>
    public int DModel { get; init; } = 256;
    /// <summary>Channels of the trunk's stages, from the lowest resolution to the highest; must match the trunk.</summary>
    public int[] BackboneChannelList { get; init; } = [768, 384, 192, 96];
    /// <summary>Kernel size of the lateral convolutions.</summary>
    public int KernelSize { get; init; } = 1;
    /// <summary>Stride of the lateral convolutions.</summary>
    public int Stride { get; init; } = 1;
    /// <summary>Padding of the lateral convolutions.</summary>
    public int Padding { get; init; }
    /// <summary>Upsampling mode of the top-down path: <c>nearest</c>, <c>bilinear</c> or <c>bicubic</c>.</summary>
    public string FpnInterpModel { get; init; } = "bilinear";
    /// <summary>How lateral and top-down features combine: <c>sum</c> or <c>avg</c>.</summary>
    public string FuseType { get; init; } = "sum";
    /// <summary>Levels that receive top-down features; the others keep only their lateral features. <see langword="null"/> means every level.</summary>
    public int[]? FpnTopDownLevels { get; init; }
}

/// <summary>The image encoder (<c>model.image_encoder</c>): Hiera trunk plus FPN neck.</summary>
public sealed record ImageEncoderConfig
{
    /// <summary>The Hiera backbone.</summary>
    public HieraConfig Trunk { get; init; } = new();
    /// <summary>The feature pyramid neck.</summary>
    public FpnNeckConfig Neck { get; init; } = new();
    /// <summary>How many of the lowest-resolution levels to discard from the neck's output.</summary>
    public int Scalp { get; init; }
}

/// <summary>An attention layer with 2-D rotary position encoding (<c>RoPEAttention</c>), used in memory attention.</summary>
public sealed record RoPEAttentionConfig
{
    /// <summary>Base frequency of the rotary encoding.</summary>
    public double RopeTheta { get; init; } = 10000.0;
    /// <summary>Whether the queries' rotary encoding is repeated along the keys (needed in cross-attention to several memory frames).</summary>
    public bool RopeKRepeat { get; init; }
    /// <summary>Feature-map size (width, height) the rotary frequencies are first computed for (stride-16 features of a 1024-pixel image).</summary>
    public int[] FeatSizes { get; init; } = [64, 64];
    /// <summary>Channels of the queries and of the output.</summary>
    public int EmbeddingDim { get; init; } = 256;
    /// <summary>Attention heads.</summary>
    public int NumHeads { get; init; } = 1;
    /// <summary>Divisor of <see cref="EmbeddingDim"/> giving the internal (projected) width.</summary>
    public int DownsampleRate { get; init; } = 1;
    /// <summary>Dropout on the attention weights; training only.</summary>
    public double Dropout { get; init; }
    /// <summary>Channels of the keys and values; <see langword="null"/> means <see cref="EmbeddingDim"/> (the memories are narrower in cross-attention).</summary>
    public int? KvInDim { get; init; }
}

/// <summary>One memory-attention layer (<c>memory_attention.layer</c>): self-attention, cross-attention to memories, feed-forward.</summary>
public sealed record MemoryAttentionLayerConfig
{
    /// <summary>Activation of the feed-forward network (<c>relu</c>, <c>gelu</c> or <c>glu</c>).</summary>
    public string Activation { get; init; } = "relu";
    /// <summary>Hidden width of the feed-forward network.</summary>
    public int DimFeedforward { get; init; } = 2048;
    /// <summary>Dropout after each sub-layer; training only.</summary>
    public double Dropout { get; init; } = 0.1;
    /// <summary>Whether the positional encoding is added to the queries and keys of self-attention.</summary>
    public bool PosEncAtAttn { get; init; }
    /// <summary>The self-attention over the current frame's features.</summary>
    public RoPEAttentionConfig SelfAttention { get; init; } = new();
    /// <summary>Channels of the layer's input and output.</summary>
    public int DModel { get; init; } = 256;
    /// <summary>Whether the memories' positional encoding is added to the cross-attention keys.</summary>
    public bool PosEncAtCrossAttnKeys { get; init; } = true;
    /// <summary>Whether the positional encoding is added to the cross-attention queries.</summary>
    public bool PosEncAtCrossAttnQueries { get; init; }
    /// <summary>The cross-attention from the current frame to the memories and object pointers.</summary>
    public RoPEAttentionConfig CrossAttention { get; init; } = new() { RopeKRepeat = true, KvInDim = 64 };
}

/// <summary>Memory attention (<c>model.memory_attention</c>): conditions the current frame's features on the memory bank.</summary>
public sealed record MemoryAttentionConfig
{
    /// <summary>Channels of the features being conditioned.</summary>
    public int DModel { get; init; } = 256;
    /// <summary>Whether the positional encoding, scaled by 0.1, is added to the input features before the first layer.</summary>
    public bool PosEncAtInput { get; init; } = true;
    /// <summary>The layer, repeated <see cref="NumLayers"/> times.</summary>
    public MemoryAttentionLayerConfig Layer { get; init; } = new();
    /// <summary>Number of layers.</summary>
    public int NumLayers { get; init; } = 4;
    /// <summary>Whether the layers take batch-first sequences.</summary>
    public bool BatchFirst { get; init; } = true;
}

/// <summary>The memory encoder's mask downsampler: strided convolutions from mask resolution to feature resolution.</summary>
public sealed record MaskDownSamplerConfig
{
    /// <summary>Channels of the output.</summary>
    public int EmbedDim { get; init; } = 256;
    /// <summary>Kernel size of each convolution.</summary>
    public int KernelSize { get; init; } = 4;
    /// <summary>Stride of each convolution; <see cref="TotalStride"/> must be a power of it.</summary>
    public int Stride { get; init; } = 4;
    /// <summary>Padding of each convolution.</summary>
    public int Padding { get; init; }
    /// <summary>Overall downsampling factor; the number of convolutions is log(total stride) / log(stride).</summary>
    public int TotalStride { get; init; } = 16;
    /// <summary>Activation after each convolution (<c>gelu</c> or <c>relu</c>).</summary>
    public string Activation { get; init; } = "gelu";
}

/// <summary>A ConvNeXt block of the memory encoder's fuser.</summary>
public sealed record CXBlockConfig
{
    /// <summary>Channels of the block.</summary>
    public int Dim { get; init; } = 256;
    /// <summary>Kernel size of the depth-wise convolution.</summary>
    public int KernelSize { get; init; } = 7;
    /// <summary>Padding of the depth-wise convolution.</summary>
    public int Padding { get; init; } = 3;
    /// <summary>Stochastic-depth rate; training only.</summary>
    public double DropPath { get; init; }
    /// <summary>Initial value of the per-channel layer scale (0 or less disables it).</summary>
    public double LayerScaleInitValue { get; init; } = 1e-6;
    /// <summary>Whether the convolution is depth-wise (one group per channel).</summary>
    public bool UseDwconv { get; init; } = true;
}

/// <summary>The memory encoder's fuser: ConvNeXt blocks that mix the downsampled mask with the image features.</summary>
public sealed record FuserConfig
{
    /// <summary>The block, repeated <see cref="NumLayers"/> times.</summary>
    public CXBlockConfig Layer { get; init; } = new();
    /// <summary>Number of blocks.</summary>
    public int NumLayers { get; init; } = 2;
    /// <summary>Channels of the optional input projection; required when <see cref="InputProjection"/> is set.</summary>
    public int? Dim { get; init; }
    /// <summary>Whether a 1×1 convolution projects the input before the blocks.</summary>
    public bool InputProjection { get; init; }
}

/// <summary>The memory encoder (<c>model.memory_encoder</c>): turns a frame's features and predicted mask into a memory.</summary>
public sealed record MemoryEncoderConfig
{
    /// <summary>Channels of the memory features (smaller than the hidden dimension to save memory).</summary>
    public int OutDim { get; init; } = 64;
    /// <summary>The mask downsampler.</summary>
    public MaskDownSamplerConfig MaskDownsampler { get; init; } = new();
    /// <summary>The fuser.</summary>
    public FuserConfig Fuser { get; init; } = new();
    /// <summary>The positional encoding of the memory features.</summary>
    public PositionEncodingConfig PositionEncoding { get; init; } = new() { NumPosFeats = 64 };
    /// <summary>Channels of the image features given to the encoder.</summary>
    public int InDim { get; init; } = 256;
}

/// <summary>The SAM mask decoder's post-processing options (<c>sam_mask_decoder_extra_args</c>).</summary>
public sealed record MaskDecoderExtraArgs
{
    /// <summary>Whether, when a single mask is asked for, the decoder falls back to the best of its multimask outputs if the single-mask output is unstable (inference only).</summary>
    public bool DynamicMultimaskViaStability { get; init; }
    /// <summary>Logit offset used to measure a mask's stability (IoU of the masks thresholded at ±delta).</summary>
    public double DynamicMultimaskStabilityDelta { get; init; } = 0.05;
    /// <summary>Stability below which the single-mask output is replaced.</summary>
    public double DynamicMultimaskStabilityThresh { get; init; } = 0.98;
}

/// <summary>The whole model: SAM2Base's arguments and its three configurable parts.</summary>
public sealed record Sam2Config
{
    /// <summary>A name for messages: the built-in name or the file it was read from.</summary>
    public string Name { get; init; } = "custom";
    /// <summary>The image encoder.</summary>
    public ImageEncoderConfig ImageEncoder { get; init; } = new();
    /// <summary>Memory attention.</summary>
    public MemoryAttentionConfig MemoryAttention { get; init; } = new();
    /// <summary>The memory encoder.</summary>
    public MemoryEncoderConfig MemoryEncoder { get; init; } = new();
    /// <summary>Memories attended to: the conditioning frame plus up to this minus one previous frames (7 by default).</summary>
    public int NumMaskmem { get; init; } = 7;
    /// <summary>Side of the square input image in pixels.</summary>
    public int ImageSize { get; init; } = 512;
    /// <summary>Stride of the image encoder's output features relative to the input.</summary>
    public int BackboneStride { get; init; } = 16;
    /// <summary>Scale applied to the mask sigmoid before the memory encoder.</summary>
    public double SigmoidScaleForMemEnc { get; init; } = 1.0;
    /// <summary>Bias added to the scaled mask sigmoid before the memory encoder.</summary>
    public double SigmoidBiasForMemEnc { get; init; }
    /// <summary>Whether masks on frames with clicks are binarised before memory encoding (evaluation only).</summary>
    public bool BinarizeMaskFromPtsForMemEnc { get; init; }
    /// <summary>Whether a frame with a mask prompt outputs that mask directly, skipping the prompt encoder and mask decoder.</summary>
    public bool UseMaskInputAsOutputWithoutSam { get; init; }
    /// <summary>Most conditioning frames memory attention uses (the temporally closest); -1 means no limit.</summary>
    public int MaxCondFramesInAttn { get; init; } = -1;
    /// <summary>Whether, with no memory yet, the no-memory embedding is added to the features instead of running memory attention.</summary>
    public bool DirectlyAddNoMemEmbed { get; init; }
    /// <summary>Whether the mask decoder also uses the stride-4 and stride-8 feature levels.</summary>
    public bool UseHighResFeaturesInSam { get; init; }
    /// <summary>Whether the first clicks on a conditioning frame give three candidate masks.</summary>
    public bool MultimaskOutputInSam { get; init; }
    /// <summary>Fewest points (a box counts as two) for which multimask output is used.</summary>
    public int MultimaskMinPtNum { get; init; } = 1;
    /// <summary>Most points (a box counts as two) for which multimask output is used.</summary>
    public int MultimaskMaxPtNum { get; init; } = 1;
    /// <summary>Whether multimask output is also used on tracked frames, not only on the first clicks.</summary>
    public bool MultimaskOutputForTracking { get; init; }
    /// <summary>Whether the object pointer comes from the chosen multimask output token.</summary>
    public bool UseMultimaskTokenForObjPtr { get; init; }
    /// <summary>Whether predicted IoUs pass through a sigmoid to lie in [0, 1].</summary>
    public bool IouPredictionUseSigmoid { get; init; }
    /// <summary>Temporal stride r of the memory bank in evaluation: past memories are taken every r-th frame, plus the last frame.</summary>
    public int MemoryTemporalStrideForEval { get; init; } = 1;
    /// <summary>Whether objects' masks are made non-overlapping before memory encoding (evaluation only).</summary>
    public bool NonOverlapMasksForMemEnc { get; init; }
    /// <summary>Whether memory attention also cross-attends to object pointers (from the decoder's output tokens) of other frames.</summary>
    public bool UseObjPtrsInEncoder { get; init; }
    /// <summary>Most object pointers memory attention uses.</summary>
    public int MaxObjPtrsInEncoder { get; init; } = 16;
    /// <summary>Whether object pointers get a temporal positional encoding of their distance to the current frame.</summary>
    public bool AddTposEncToObjPtrs { get; init; } = true;
    /// <summary>Whether that temporal encoding goes through its own linear projection; requires <see cref="AddTposEncToObjPtrs"/>.</summary>
    public bool ProjTposEncInObjPtrs { get; init; }
    /// <summary>Whether the temporal encoding uses the signed frame distance instead of its absolute value.</summary>
    public bool UseSignedTposEncToObjPtrs { get; init; }
    /// <summary>Whether, in evaluation, only object pointers from frames before the current one are used.</summary>
    public bool OnlyObjPtrsInThePastForEval { get; init; }
    /// <summary>Whether the decoder predicts an object score: whether the object is present in the frame (occlusion).</summary>
    public bool PredObjScores { get; init; }
    /// <summary>Whether the object score comes from an MLP rather than a linear layer.</summary>
    public bool PredObjScoresMlp { get; init; }
    /// <summary>Whether an absent object's pointer is the learned no-object pointer alone, rather than that pointer added to the decoder's; requires <see cref="PredObjScores"/> and <see cref="UseObjPtrsInEncoder"/>.</summary>
    public bool FixedNoObjPtr { get; init; }
    /// <summary>Whether the no-object pointer is mixed in by the object score's probability instead of by a hard decision.</summary>
    public bool SoftNoObjPtr { get; init; }
    /// <summary>Whether the object pointer projection is an MLP rather than a linear layer.</summary>
    public bool UseMlpForObjPtrProj { get; init; }
    /// <summary>Whether a learned no-object embedding is added to the spatial memory of frames where the object is absent.</summary>
    public bool NoObjEmbedSpatial { get; init; }
    /// <summary>Extra mask-decoder options (<c>sam_mask_decoder_extra_args</c>).</summary>
    public MaskDecoderExtraArgs SamMaskDecoderExtraArgs { get; init; } = new();
    /// <summary>Read for compatibility with the official configs; it has no effect here (there is no torch.compile).</summary>
    public bool CompileImageEncoder { get; init; }
}
