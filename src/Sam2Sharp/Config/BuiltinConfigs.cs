namespace Sam2Sharp.Config;

/// <summary>
/// The eight official model configurations, by their official names (with or without ".yaml"
/// or the "configs/sam2.1/" prefix). They differ only in the Hiera trunk and in the SAM 2.1 flags.
/// </summary>
public static class BuiltinConfigs
{
    /// <summary>The official names, SAM 2 then SAM 2.1, tiny to large.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        "sam2_hiera_t", "sam2_hiera_s", "sam2_hiera_b+", "sam2_hiera_l",
        "sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l",
    ];

    /// <summary>Looks a built-in configuration up by name (a path's folder and a ".yaml" ending are ignored).</summary>
    /// <returns><see langword="false"/> if <paramref name="name"/> is none of <see cref="Names"/>.</returns>
    public static bool TryGet(string name, out Sam2Config config)
    {
        var key = Path.GetFileName(name);
        if (key.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase)) key = key[..^5];
        config = null!;
        if (!Names.Contains(key)) return false;
        bool v21 = key.StartsWith("sam2.1_", StringComparison.Ordinal);
        var trunk = key[(key.LastIndexOf('_') + 1)..] switch
        {
            "t" => new HieraConfig { EmbedDim = 96, NumHeads = 1, Stages = [1, 2, 7, 2], GlobalAttBlocks = [5, 7, 9], WindowPosEmbedBkgSpatialSize = [7, 7] },
            "s" => new HieraConfig { EmbedDim = 96, NumHeads = 1, Stages = [1, 2, 11, 2], GlobalAttBlocks = [7, 10, 13], WindowPosEmbedBkgSpatialSize = [7, 7] },
            "b+" => new HieraConfig { EmbedDim = 112, NumHeads = 2 },
            "l" => new HieraConfig { EmbedDim = 144, NumHeads = 2, Stages = [2, 6, 36, 4], GlobalAttBlocks = [23, 33, 43], WindowSpec = [8, 4, 16, 8] },
            _ => throw new InvalidOperationException(key),
        };
        config = Build(key, trunk, v21);
        return true;
    }

    /// <summary>The built-in configuration named <paramref name="name"/>, as <see cref="TryGet"/>.</summary>
    /// <exception cref="Sam2Exception">The name is none of <see cref="Names"/>.</exception>
    public static Sam2Config Get(string name) => TryGet(name, out var c) ? c
        : throw new Sam2Exception($"unknown config '{name}': give one of {string.Join(", ", Names)} or a .yaml file");

    static Sam2Config Build(string name, HieraConfig trunk, bool v21)
    {
        int e = trunk.EmbedDim;
        var rope = new RoPEAttentionConfig { RopeTheta = 10000.0, FeatSizes = [64, 64], EmbeddingDim = 256, NumHeads = 1, DownsampleRate = 1, Dropout = 0.1 };
        return new Sam2Config
        {
            Name = name,
            ImageEncoder = new ImageEncoderConfig
            {
                Scalp = 1,
                Trunk = trunk,
                Neck = new FpnNeckConfig
                {
                    PositionEncoding = new PositionEncodingConfig { NumPosFeats = 256, Normalize = true, Temperature = 10000 },
                    DModel = 256,
                    BackboneChannelList = [8 * e, 4 * e, 2 * e, e],
                    FpnTopDownLevels = [2, 3],
                    FpnInterpModel = "nearest",
                },
            },
            MemoryAttention = new MemoryAttentionConfig
            {
                DModel = 256,
                PosEncAtInput = true,
                NumLayers = 4,
                Layer = new MemoryAttentionLayerConfig
                {
                    Activation = "relu", DimFeedforward = 2048, Dropout = 0.1, PosEncAtAttn = false, DModel = 256,
                    PosEncAtCrossAttnKeys = true, PosEncAtCrossAttnQueries = false,
                    SelfAttention = rope,
                    CrossAttention = rope with { RopeKRepeat = true, KvInDim = 64 },
                },
            },
            MemoryEncoder = new MemoryEncoderConfig
            {
                OutDim = 64,
                PositionEncoding = new PositionEncodingConfig { NumPosFeats = 64, Normalize = true, Temperature = 10000 },
                MaskDownsampler = new MaskDownSamplerConfig { KernelSize = 3, Stride = 2, Padding = 1 },
                Fuser = new FuserConfig
                {
                    NumLayers = 2,
                    Layer = new CXBlockConfig { Dim = 256, KernelSize = 7, Padding = 3, LayerScaleInitValue = 1e-6, UseDwconv = true },
                },
            },
            NumMaskmem = 7,
            ImageSize = 1024,
            SigmoidScaleForMemEnc = 20.0,
            SigmoidBiasForMemEnc = -10.0,
            UseMaskInputAsOutputWithoutSam = true,
            DirectlyAddNoMemEmbed = true,
            NoObjEmbedSpatial = v21,
            UseHighResFeaturesInSam = true,
            MultimaskOutputInSam = true,
            IouPredictionUseSigmoid = true,
            UseObjPtrsInEncoder = true,
            AddTposEncToObjPtrs = v21,
            ProjTposEncInObjPtrs = v21,
            UseSignedTposEncToObjPtrs = v21,
            OnlyObjPtrsInThePastForEval = true,
            PredObjScores = true,
            PredObjScoresMlp = true,
            FixedNoObjPtr = true,
            MultimaskOutputForTracking = true,
            UseMultimaskTokenForObjPtr = true,
            MultimaskMinPtNum = 0,
            MultimaskMaxPtNum = 1,
            UseMlpForObjPtrProj = true,
        };
    }
}
