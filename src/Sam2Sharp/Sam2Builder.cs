using Sam2Sharp.Config;
using Sam2Sharp.Modeling;
using Sam2Sharp.Modeling.Backbones;
using Sam2Sharp.Modeling.Sam;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp;

/// <summary>Builds SAM 2 from a config, and loads a checkpoint into it (the reference's build_sam).</summary>
public static class Sam2Builder
{
    /// <summary>
    /// The model for a config (a built-in name or YAML path; null: inferred from the checkpoint)
    /// with the checkpoint loaded strictly (null: random weights), in eval mode.
    /// </summary>
    public static Sam2Base Load(string? configNameOrPath, string? checkpointPath, Func<Sam2Config, Sam2Config>? adjust = null)
    {
        Dictionary<string, Tensor>? sd = checkpointPath is null ? null : Checkpoint.ReadStateDict(checkpointPath);
        var config = configNameOrPath is not null ? ConfigLoader.Load(configNameOrPath)
            : sd is not null ? Checkpoint.InferConfig(sd, checkpointPath!)
            : throw new Sam2Exception("give a config or a checkpoint");
        if (adjust is not null) config = adjust(config);
        var model = new Sam2Base(config);
        if (sd is not null)
        {
            Checkpoint.LoadInto(model, sd, checkpointPath!);
            foreach (var t in sd.Values) t.Dispose();
        }
        model.eval();
        return model;
    }

    /// <summary>
    /// The model registered as <paramref name="modelName"/> (e.g. "sam2.1_hiera_tiny"), downloaded and
    /// verified into the cache on first use, built with the registry entry's config.
    /// </summary>
    public static Sam2Base LoadByName(string modelName, Func<Sam2Config, Sam2Config>? adjust = null, Sam2ModelOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var own = options?.Hub is null ? new Hub.ModelHub() : null;
        try
        {
            var (path, config) = (options?.Hub ?? own!).Resolve(modelName, options?.DownloadProgress, cancellationToken);
            return Load(config, path, adjust);
        }
        finally { own?.Dispose(); }
    }

    public static ImageEncoder BuildImageEncoder(ImageEncoderConfig c)
    {
        var t = c.Trunk;
        var trunk = new Hiera(t.EmbedDim, t.NumHeads, t.DropPathRate, t.QPool, (t.QStride[0], t.QStride[1]), t.Stages,
            t.DimMul, t.HeadMul, t.WindowPosEmbedBkgSpatialSize, t.WindowSpec, t.GlobalAttBlocks, returnIntermLayers: t.ReturnInterimLayers);
        var n = c.Neck;
        var neck = new FpnNeck(BuildPositionEncoding(n.PositionEncoding), n.DModel, n.BackboneChannelList, n.KernelSize,
            n.Stride, n.Padding, n.FpnInterpModel, n.FuseType, n.FpnTopDownLevels);
        return new ImageEncoder(trunk, neck, c.Scalp);
    }

    static PositionEmbeddingSine BuildPositionEncoding(PositionEncodingConfig p) =>
        new(p.NumPosFeats, p.Temperature, p.Normalize, p.Scale);

    static RoPEAttention BuildRope(RoPEAttentionConfig a) =>
        new(a.EmbeddingDim, a.NumHeads, a.DownsampleRate, a.Dropout, a.KvInDim, a.RopeTheta, a.RopeKRepeat, a.FeatSizes);

    public static MemoryAttention BuildMemoryAttention(MemoryAttentionConfig c)
    {
        var l = c.Layer;
        return new MemoryAttention(c.DModel, c.PosEncAtInput,
            () => new MemoryAttentionLayer(l.Activation, BuildRope(l.CrossAttention), l.DModel, l.DimFeedforward, l.Dropout,
                l.PosEncAtAttn, l.PosEncAtCrossAttnKeys, l.PosEncAtCrossAttnQueries, BuildRope(l.SelfAttention)),
            c.NumLayers, c.BatchFirst);
    }

    public static MemoryEncoder BuildMemoryEncoder(MemoryEncoderConfig c)
    {
        var d = c.MaskDownsampler;
        var downsampler = new MaskDownSampler(d.EmbedDim, d.KernelSize, d.Stride, d.Padding, d.TotalStride,
            d.Activation switch
            {
                "gelu" => () => nn.GELU(),
                "relu" => () => nn.ReLU(),
                _ => throw new Sam2Exception($"mask_downsampler activation '{d.Activation}' is not supported"),
            });
        var b = c.Fuser.Layer;
        var fuser = new Fuser(() => new CXBlock(b.Dim, b.KernelSize, b.Padding, b.DropPath, b.LayerScaleInitValue, b.UseDwconv),
            c.Fuser.NumLayers, c.Fuser.Dim, c.Fuser.InputProjection);
        return new MemoryEncoder(c.OutDim, downsampler, fuser, BuildPositionEncoding(c.PositionEncoding), c.InDim);
    }
}
