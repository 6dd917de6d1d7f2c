namespace Sam2Sharp.Config;

/// <summary>
/// Checks every value of a model config before a module is built from it, so that a zero width, an
/// image size the trunk cannot divide or a huge size ends as one message naming the YAML key and the
/// allowed range, not as a libtorch error or gigabytes of allocation.
/// </summary>
public static class ConfigValidation
{
    /// <summary>The largest image size accepted (the official models use 1024).</summary>
    public const int MaxImageSize = 2048;

    const int MaxWidth = 8192, MaxCount = 256;

    /// <exception cref="Sam2Exception">a value out of range, named by its key.</exception>
    public static void Validate(Sam2Config c)
    {
        var v = new Checker(c.Name);
        const string enc = "model.image_encoder", trunk = enc + ".trunk", neck = enc + ".neck";
        v.NotNull(c.ImageEncoder, enc); v.NotNull(c.ImageEncoder.Trunk, trunk); v.NotNull(c.ImageEncoder.Neck, neck);
        var t = c.ImageEncoder.Trunk;
        v.Range(t.EmbedDim, 1, MaxWidth, $"{trunk}.embed_dim");
        v.Range(t.NumHeads, 1, t.EmbedDim, $"{trunk}.num_heads");
        v.Divides(t.NumHeads, t.EmbedDim, $"{trunk}.num_heads", $"{trunk}.embed_dim");
        v.Fraction(t.DropPathRate, $"{trunk}.drop_path_rate");
        v.List(t.Stages, 1, 8, 1, MaxCount, $"{trunk}.stages");
        v.Range(t.QPool, 0, t.Stages.Length - 1, $"{trunk}.q_pool");
        v.List(t.QStride, 2, 2, 1, 4, $"{trunk}.q_stride");
        v.Range(t.DimMul, 1, 4, $"{trunk}.dim_mul");
        v.Range(t.HeadMul, 1, 4, $"{trunk}.head_mul");
        v.List(t.WindowPosEmbedBkgSpatialSize, 2, 2, 1, 256, $"{trunk}.window_pos_embed_bkg_spatial_size");
        v.List(t.WindowSpec, t.Stages.Length, t.Stages.Length, 1, 256, $"{trunk}.window_spec");
        v.List(t.GlobalAttBlocks, 0, MaxCount, 0, t.Stages.Sum() - 1, $"{trunk}.global_att_blocks");
        // Stage widths and heads as Hiera computes them; every stage's heads must divide its width.
        var widths = new List<int>();
        double dim = t.EmbedDim, heads = t.NumHeads;
        for (int i = 0; i < t.Stages.Length; i++)
        {
            if (i > 0) { dim = (int)(dim * t.DimMul); heads = (int)(heads * t.HeadMul); }
            if (dim > MaxWidth || heads < 1 || dim % heads != 0)
                v.Fail($"{trunk}.dim_mul", $"stage {i + 1} would be {dim} wide with {heads} heads (at most {MaxWidth} wide, heads dividing the width)");
            widths.Add((int)dim);
        }

        var n = c.ImageEncoder.Neck;
        v.NotNull(n.PositionEncoding, $"{neck}.position_encoding");
        PositionEncoding(v, n.PositionEncoding, $"{neck}.position_encoding");
        v.Range(n.DModel, 1, MaxWidth, $"{neck}.d_model");
        v.List(n.BackboneChannelList, 1, 8, 1, MaxWidth, $"{neck}.backbone_channel_list");
        widths.Reverse();
        if (t.ReturnInterimLayers && !n.BackboneChannelList.SequenceEqual(widths))
            v.Fail($"{neck}.backbone_channel_list", $"must be the trunk's stage widths from the last, [{string.Join(", ", widths)}]");
        v.Range(n.KernelSize, 1, 15, $"{neck}.kernel_size");
        v.Range(n.Stride, 1, 8, $"{neck}.stride");
        v.Range(n.Padding, 0, n.KernelSize, $"{neck}.padding");
        v.OneOf(n.FpnInterpModel, ["nearest", "bilinear", "bicubic"], $"{neck}.fpn_interp_model");
        v.OneOf(n.FuseType, ["sum", "avg"], $"{neck}.fuse_type");
        if (n.FpnTopDownLevels is { } levels) v.List(levels, 0, n.BackboneChannelList.Length, 0, n.BackboneChannelList.Length - 1, $"{neck}.fpn_top_down_levels");
        v.Range(c.ImageEncoder.Scalp, 0, n.BackboneChannelList.Length - 1, $"{enc}.scalp");

        int trunkStride = 4 * (int)Math.Pow(t.QStride[0], t.QPool);
        v.Range(c.BackboneStride, 1, 64, "model.backbone_stride");
        v.Range(c.ImageSize, Math.Max(trunkStride, c.BackboneStride), MaxImageSize, "model.image_size");
        if (c.ImageSize % trunkStride != 0 || c.ImageSize % c.BackboneStride != 0)
            v.Fail("model.image_size", $"{c.ImageSize} must be a multiple of the trunk's stride ({trunkStride}) and of model.backbone_stride ({c.BackboneStride})");

        const string ma = "model.memory_attention", layer = ma + ".layer";
        v.NotNull(c.MemoryAttention, ma); v.NotNull(c.MemoryAttention.Layer, layer);
        v.Range(c.MemoryAttention.DModel, 1, MaxWidth, $"{ma}.d_model");
        v.Range(c.MemoryAttention.NumLayers, 1, 64, $"{ma}.num_layers");
        var l = c.MemoryAttention.Layer;
        v.Equal(c.MemoryAttention.DModel, n.DModel, $"{ma}.d_model", $"{neck}.d_model");
        v.Equal(l.DModel, n.DModel, $"{layer}.d_model", $"{neck}.d_model");
        v.OneOf(l.Activation, ["relu", "gelu", "glu"], $"{layer}.activation");
        v.Range(l.DimFeedforward, 1, 8 * MaxWidth, $"{layer}.dim_feedforward");
        v.Fraction(l.Dropout, $"{layer}.dropout");
        v.Range(l.DModel, 1, MaxWidth, $"{layer}.d_model");
        v.NotNull(l.SelfAttention, $"{layer}.self_attention"); v.NotNull(l.CrossAttention, $"{layer}.cross_attention");
        Rope(v, l.SelfAttention, $"{layer}.self_attention");
        Rope(v, l.CrossAttention, $"{layer}.cross_attention");

        const string me = "model.memory_encoder", md = me + ".mask_downsampler", fu = me + ".fuser";
        v.NotNull(c.MemoryEncoder, me); v.NotNull(c.MemoryEncoder.MaskDownsampler, md);
        v.NotNull(c.MemoryEncoder.Fuser, fu); v.NotNull(c.MemoryEncoder.Fuser.Layer, $"{fu}.layer");
        v.NotNull(c.MemoryEncoder.PositionEncoding, $"{me}.position_encoding");
        var m = c.MemoryEncoder;
        v.Range(m.OutDim, 1, MaxWidth, $"{me}.out_dim");
        v.Range(m.InDim, 1, MaxWidth, $"{me}.in_dim");
        PositionEncoding(v, m.PositionEncoding, $"{me}.position_encoding");
        v.Equal(m.InDim, n.DModel, $"{me}.in_dim", $"{neck}.d_model");
        var d = m.MaskDownsampler;
        v.Equal(d.EmbedDim, m.InDim, $"{md}.embed_dim", $"{me}.in_dim");
        v.Range(d.EmbedDim, 1, MaxWidth, $"{md}.embed_dim");
        v.Range(d.KernelSize, 1, 15, $"{md}.kernel_size");
        v.Range(d.Stride, 2, 16, $"{md}.stride");
        v.Range(d.Padding, 0, d.KernelSize, $"{md}.padding");
        v.Range(d.TotalStride, d.Stride, 64, $"{md}.total_stride");
        int steps = (int)Math.Round(Math.Log(d.TotalStride) / Math.Log(d.Stride));
        if (Math.Pow(d.Stride, steps) != d.TotalStride || d.TotalStride != c.BackboneStride)
            v.Fail($"{md}.total_stride", $"{d.TotalStride} must be a power of stride {d.Stride} and equal model.backbone_stride ({c.BackboneStride})");
        v.OneOf(d.Activation, ["gelu", "relu"], $"{md}.activation");
        v.Range(m.Fuser.NumLayers, 0, 64, $"{fu}.num_layers");
        if (m.Fuser.Dim is { } fd) v.Range(fd, 1, MaxWidth, $"{fu}.dim");
        var b = m.Fuser.Layer;
        v.Range(b.Dim, 1, MaxWidth, $"{fu}.layer.dim");
        v.Range(b.KernelSize, 1, 31, $"{fu}.layer.kernel_size");
        v.Range(b.Padding, 0, b.KernelSize, $"{fu}.layer.padding");
        v.Fraction(b.DropPath, $"{fu}.layer.drop_path");

        v.Range(c.NumMaskmem, 1, 64, "model.num_maskmem");
        v.Range(c.MaxObjPtrsInEncoder, 0, 1024, "model.max_obj_ptrs_in_encoder");
        v.Range(c.MemoryTemporalStrideForEval, 1, 1024, "model.memory_temporal_stride_for_eval");
        v.Range(c.MultimaskMinPtNum, 0, 1024, "model.multimask_min_pt_num");
        v.Range(c.MultimaskMaxPtNum, c.MultimaskMinPtNum, 1024, "model.multimask_max_pt_num");
        v.Range(c.MaxCondFramesInAttn, -1, 1 << 20, "model.max_cond_frames_in_attn");
        v.Finite(c.SigmoidScaleForMemEnc, "model.sigmoid_scale_for_mem_enc");
        v.Finite(c.SigmoidBiasForMemEnc, "model.sigmoid_bias_for_mem_enc");
        v.NotNull(c.SamMaskDecoderExtraArgs, "model.sam_mask_decoder_extra_args");
        v.Fraction(c.SamMaskDecoderExtraArgs.DynamicMultimaskStabilityDelta, "model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta");
        v.Range(c.SamMaskDecoderExtraArgs.DynamicMultimaskStabilityThresh, 0, 1, "model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh");
    }

    static void PositionEncoding(Checker v, PositionEncodingConfig p, string key)
    {
        v.Range(p.NumPosFeats, 2, MaxWidth, $"{key}.num_pos_feats");
        if (p.NumPosFeats % 2 != 0) v.Fail($"{key}.num_pos_feats", $"{p.NumPosFeats} must be even");
        v.Range(p.Temperature, 1e-6, 1e12, $"{key}.temperature");
        if (p.Scale is { } s) v.Range(s, 1e-6, 1e6, $"{key}.scale");
    }

    static void Rope(Checker v, RoPEAttentionConfig a, string key)
    {
        v.Range(a.EmbeddingDim, 1, MaxWidth, $"{key}.embedding_dim");
        v.Range(a.NumHeads, 1, a.EmbeddingDim, $"{key}.num_heads");
        v.Range(a.DownsampleRate, 1, a.EmbeddingDim, $"{key}.downsample_rate");
        int inner = a.EmbeddingDim / a.DownsampleRate;
        if (a.EmbeddingDim % a.DownsampleRate != 0 || inner % a.NumHeads != 0 || inner / a.NumHeads % 4 != 0)
            v.Fail($"{key}.num_heads", $"embedding_dim / downsample_rate / num_heads must be a whole multiple of 4 (got {a.EmbeddingDim} / {a.DownsampleRate} / {a.NumHeads})");
        v.List(a.FeatSizes, 2, 2, 1, 1024, $"{key}.feat_sizes");
        v.Range(a.RopeTheta, 1, 1e12, $"{key}.rope_theta");
        v.Fraction(a.Dropout, $"{key}.dropout");
        if (a.KvInDim is { } kv) v.Range(kv, 1, MaxWidth, $"{key}.kv_in_dim");
    }

    sealed class Checker(string name)
    {
        public void Fail(string key, string why) => throw new Sam2Exception($"config {name}: {key}: {why}");

        public void NotNull(object? value, string key) { if (value is null) Fail(key, "is missing or empty"); }

        public void Range(double value, double min, double max, string key)
        {
            if (!(value >= min && value <= max)) Fail(key, $"{value} is out of range (allowed {min} to {max})");
        }

        public void Finite(double value, string key) { if (!double.IsFinite(value)) Fail(key, $"{value} is not a finite number"); }

        public void Fraction(double value, string key)
        {
            if (!(value >= 0 && value < 1)) Fail(key, $"{value} is out of range (allowed 0 to below 1)");
        }

        public void Equal(int value, int other, string key, string otherKey)
        {
            if (value != other) Fail(key, $"{value} must equal {otherKey} ({other})");
        }

        public void Divides(int a, int b, string keyA, string keyB)
        {
            if (a > 0 && b % a != 0) Fail(keyA, $"{a} must divide {keyB} ({b})");
        }

        public void OneOf(string? value, string[] allowed, string key)
        {
            if (value is null || !allowed.Contains(value)) Fail(key, $"'{value}' is not one of {string.Join(", ", allowed)}");
        }

        public void List(int[]? values, int minCount, int maxCount, int min, int max, string key)
        {
            if (values is null || values.Length < minCount || values.Length > maxCount)
                Fail(key, $"expected {(minCount == maxCount ? $"{minCount}" : $"{minCount} to {maxCount}")} values, got {values?.Length ?? 0}");
            foreach (var x in values!)
                if (x < min || x > max) Fail(key, $"{x} is out of range (allowed {min} to {max})");
        }
    }
}
