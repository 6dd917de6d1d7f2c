using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Sam2Sharp.Config;

/// <summary>
/// Reads a model config in the official Hydra YAML format (the <c>model:</c> tree with
/// <c>_target_</c> names) into <see cref="Sam2Config"/>. Unknown keys are refused by name, so a
/// typo does not silently fall back to a default.
/// </summary>
public static class ConfigLoader
{
    /// <summary>A built-in name (sam2.1_hiera_t, …) or a path to a YAML file.</summary>
    public static Sam2Config Load(string nameOrPath)
    {
        if (File.Exists(nameOrPath)) return LoadYaml(nameOrPath);
        if (BuiltinConfigs.TryGet(nameOrPath, out var c)) return c;
        if (nameOrPath.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || nameOrPath.Contains('/'))
            throw new Sam2Exception($"config file not found: {nameOrPath}");
        return BuiltinConfigs.Get(nameOrPath);
    }

    public static Sam2Config LoadYaml(string path)
    {
        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            stream.Load(reader);
        }
        catch (YamlException e)
        {
            throw new Sam2Exception($"config {path}: invalid YAML at line {e.Start.Line}: {e.Message}");
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new Sam2Exception($"config {path}: empty or not a mapping");
        var file = new Section(root, path, "");
        var model = file.Map("model") ?? throw new Sam2Exception($"config {path}: no 'model' section");
        var cfg = ReadModel(model) with { Name = path };
        // Everything but `model` (scratch, dataset, trainer, launcher in training configs) is not ours.
        return cfg;
    }

    static Sam2Config ReadModel(Section m)
    {
        m.Target("SAM2Base", "SAM2VideoPredictor", "SAM2VideoPredictorVOS", "SAM2Train");
        var d = new Sam2Config();
        var c = new Sam2Config
        {
            ImageEncoder = ReadImageEncoder(m.Map("image_encoder") ?? throw m.Missing("image_encoder")),
            MemoryAttention = ReadMemoryAttention(m.Map("memory_attention") ?? throw m.Missing("memory_attention")),
            MemoryEncoder = ReadMemoryEncoder(m.Map("memory_encoder") ?? throw m.Missing("memory_encoder")),
            NumMaskmem = m.Int("num_maskmem", d.NumMaskmem),
            ImageSize = m.Int("image_size", d.ImageSize),
            BackboneStride = m.Int("backbone_stride", d.BackboneStride),
            SigmoidScaleForMemEnc = m.Double("sigmoid_scale_for_mem_enc", d.SigmoidScaleForMemEnc),
            SigmoidBiasForMemEnc = m.Double("sigmoid_bias_for_mem_enc", d.SigmoidBiasForMemEnc),
            BinarizeMaskFromPtsForMemEnc = m.Bool("binarize_mask_from_pts_for_mem_enc", d.BinarizeMaskFromPtsForMemEnc),
            UseMaskInputAsOutputWithoutSam = m.Bool("use_mask_input_as_output_without_sam", d.UseMaskInputAsOutputWithoutSam),
            MaxCondFramesInAttn = m.Int("max_cond_frames_in_attn", d.MaxCondFramesInAttn),
            DirectlyAddNoMemEmbed = m.Bool("directly_add_no_mem_embed", d.DirectlyAddNoMemEmbed),
            UseHighResFeaturesInSam = m.Bool("use_high_res_features_in_sam", d.UseHighResFeaturesInSam),
            MultimaskOutputInSam = m.Bool("multimask_output_in_sam", d.MultimaskOutputInSam),
            MultimaskMinPtNum = m.Int("multimask_min_pt_num", d.MultimaskMinPtNum),
            MultimaskMaxPtNum = m.Int("multimask_max_pt_num", d.MultimaskMaxPtNum),
            MultimaskOutputForTracking = m.Bool("multimask_output_for_tracking", d.MultimaskOutputForTracking),
            UseMultimaskTokenForObjPtr = m.Bool("use_multimask_token_for_obj_ptr", d.UseMultimaskTokenForObjPtr),
            IouPredictionUseSigmoid = m.Bool("iou_prediction_use_sigmoid", d.IouPredictionUseSigmoid),
            MemoryTemporalStrideForEval = m.Int("memory_temporal_stride_for_eval", d.MemoryTemporalStrideForEval),
            NonOverlapMasksForMemEnc = m.Bool("non_overlap_masks_for_mem_enc", d.NonOverlapMasksForMemEnc),
            UseObjPtrsInEncoder = m.Bool("use_obj_ptrs_in_encoder", d.UseObjPtrsInEncoder),
            MaxObjPtrsInEncoder = m.Int("max_obj_ptrs_in_encoder", d.MaxObjPtrsInEncoder),
            AddTposEncToObjPtrs = m.Bool("add_tpos_enc_to_obj_ptrs", d.AddTposEncToObjPtrs),
            ProjTposEncInObjPtrs = m.Bool("proj_tpos_enc_in_obj_ptrs", d.ProjTposEncInObjPtrs),
            UseSignedTposEncToObjPtrs = m.Bool("use_signed_tpos_enc_to_obj_ptrs", d.UseSignedTposEncToObjPtrs),
            OnlyObjPtrsInThePastForEval = m.Bool("only_obj_ptrs_in_the_past_for_eval", d.OnlyObjPtrsInThePastForEval),
            PredObjScores = m.Bool("pred_obj_scores", d.PredObjScores),
            PredObjScoresMlp = m.Bool("pred_obj_scores_mlp", d.PredObjScoresMlp),
            FixedNoObjPtr = m.Bool("fixed_no_obj_ptr", d.FixedNoObjPtr),
            SoftNoObjPtr = m.Bool("soft_no_obj_ptr", d.SoftNoObjPtr),
            UseMlpForObjPtrProj = m.Bool("use_mlp_for_obj_ptr_proj", d.UseMlpForObjPtrProj),
            NoObjEmbedSpatial = m.Bool("no_obj_embed_spatial", d.NoObjEmbedSpatial),
            CompileImageEncoder = m.Bool("compile_image_encoder", d.CompileImageEncoder),
        };
        if (m.Map("sam_mask_decoder_extra_args") is { } x)
        {
            var dx = new MaskDecoderExtraArgs();
            c = c with
            {
                SamMaskDecoderExtraArgs = new MaskDecoderExtraArgs
                {
                    DynamicMultimaskViaStability = x.Bool("dynamic_multimask_via_stability", dx.DynamicMultimaskViaStability),
                    DynamicMultimaskStabilityDelta = x.Double("dynamic_multimask_stability_delta", dx.DynamicMultimaskStabilityDelta),
                    DynamicMultimaskStabilityThresh = x.Double("dynamic_multimask_stability_thresh", dx.DynamicMultimaskStabilityThresh),
                },
            };
            x.EnsureAllRead();
        }
        // Training-only keys of SAM2Train configs are accepted and ignored here.
        m.Skip("prob_to_use_pt_input_for_train", "prob_to_use_pt_input_for_eval", "prob_to_use_box_input_for_train",
            "prob_to_use_box_input_for_eval", "num_frames_to_correct_for_train", "num_frames_to_correct_for_eval",
            "rand_frames_to_correct_for_train", "rand_frames_to_correct_for_eval", "num_init_cond_frames_for_train",
            "num_init_cond_frames_for_eval", "rand_init_cond_frames_for_train", "rand_init_cond_frames_for_eval",
            "add_all_frames_to_correct_as_cond", "num_correction_pt_per_frame", "pt_sampling_for_eval",
            "prob_to_sample_from_gt_for_train", "use_act_ckpt_iterative_pt_sampling", "forward_backbone_per_frame_for_eval",
            "freeze_image_encoder");
        m.EnsureAllRead();
        return c;
    }

    static ImageEncoderConfig ReadImageEncoder(Section s)
    {
        s.Target("ImageEncoder");
        var t = s.Map("trunk") ?? throw s.Missing("trunk");
        t.Target("Hiera");
        var h = new HieraConfig();
        var trunk = new HieraConfig
        {
            EmbedDim = t.Int("embed_dim", h.EmbedDim),
            NumHeads = t.Int("num_heads", h.NumHeads),
            DropPathRate = t.Double("drop_path_rate", h.DropPathRate),
            QPool = t.Int("q_pool", h.QPool),
            QStride = t.Ints("q_stride", h.QStride),
            Stages = t.Ints("stages", h.Stages),
            DimMul = t.Double("dim_mul", h.DimMul),
            HeadMul = t.Double("head_mul", h.HeadMul),
            WindowPosEmbedBkgSpatialSize = t.Ints("window_pos_embed_bkg_spatial_size", h.WindowPosEmbedBkgSpatialSize),
            WindowSpec = t.Ints("window_spec", h.WindowSpec),
            GlobalAttBlocks = t.Ints("global_att_blocks", h.GlobalAttBlocks),
            ReturnInterimLayers = t.Bool("return_interm_layers", h.ReturnInterimLayers),
        };
        t.Skip("weights_path");
        t.EnsureAllRead();
        var n = s.Map("neck") ?? throw s.Missing("neck");
        n.Target("FpnNeck");
        var f = new FpnNeckConfig();
        var neck = new FpnNeckConfig
        {
            PositionEncoding = ReadPositionEncoding(n.Map("position_encoding") ?? throw n.Missing("position_encoding")),
            DModel = n.Int("d_model", f.DModel),
            BackboneChannelList = n.Ints("backbone_channel_list", f.BackboneChannelList),
            KernelSize = n.Int("kernel_size", f.KernelSize),
            Stride = n.Int("stride", f.Stride),
            Padding = n.Int("padding", f.Padding),
            FpnInterpModel = n.Str("fpn_interp_model", f.FpnInterpModel),
            FuseType = n.Str("fuse_type", f.FuseType),
            FpnTopDownLevels = n.IntsOrNull("fpn_top_down_levels"),
        };
        n.EnsureAllRead();
        var enc = new ImageEncoderConfig { Trunk = trunk, Neck = neck, Scalp = s.Int("scalp", 0) };
        s.EnsureAllRead();
        return enc;
    }

    static PositionEncodingConfig ReadPositionEncoding(Section p)
    {
        p.Target("PositionEmbeddingSine");
        var c = new PositionEncodingConfig
        {
            NumPosFeats = p.Int("num_pos_feats", 0),
            Normalize = p.Bool("normalize", false),
            Scale = p.DoubleOrNull("scale"),
            Temperature = p.Double("temperature", 10000),
        };
        p.EnsureAllRead();
        return c;
    }

    static RoPEAttentionConfig ReadRope(Section a)
    {
        a.Target("RoPEAttention");
        var d = new RoPEAttentionConfig();
        var c = new RoPEAttentionConfig
        {
            RopeTheta = a.Double("rope_theta", d.RopeTheta),
            RopeKRepeat = a.Bool("rope_k_repeat", d.RopeKRepeat),
            FeatSizes = a.Ints("feat_sizes", d.FeatSizes),
            EmbeddingDim = a.Int("embedding_dim", d.EmbeddingDim),
            NumHeads = a.Int("num_heads", d.NumHeads),
            DownsampleRate = a.Int("downsample_rate", d.DownsampleRate),
            Dropout = a.Double("dropout", d.Dropout),
            KvInDim = a.IntOrNull("kv_in_dim"),
        };
        a.EnsureAllRead();
        return c;
    }

    static MemoryAttentionConfig ReadMemoryAttention(Section s)
    {
        s.Target("MemoryAttention");
        var l = s.Map("layer") ?? throw s.Missing("layer");
        l.Target("MemoryAttentionLayer");
        var dl = new MemoryAttentionLayerConfig();
        var layer = new MemoryAttentionLayerConfig
        {
            Activation = l.Str("activation", dl.Activation),
            DimFeedforward = l.Int("dim_feedforward", dl.DimFeedforward),
            Dropout = l.Double("dropout", dl.Dropout),
            PosEncAtAttn = l.Bool("pos_enc_at_attn", dl.PosEncAtAttn),
            SelfAttention = ReadRope(l.Map("self_attention") ?? throw l.Missing("self_attention")),
            DModel = l.Int("d_model", dl.DModel),
            PosEncAtCrossAttnKeys = l.Bool("pos_enc_at_cross_attn_keys", dl.PosEncAtCrossAttnKeys),
            PosEncAtCrossAttnQueries = l.Bool("pos_enc_at_cross_attn_queries", dl.PosEncAtCrossAttnQueries),
            CrossAttention = ReadRope(l.Map("cross_attention") ?? throw l.Missing("cross_attention")),
        };
        l.EnsureAllRead();
        var d = new MemoryAttentionConfig();
        var c = new MemoryAttentionConfig
        {
            DModel = s.Int("d_model", d.DModel),
            PosEncAtInput = s.Bool("pos_enc_at_input", d.PosEncAtInput),
            Layer = layer,
            NumLayers = s.Int("num_layers", d.NumLayers),
            BatchFirst = s.Bool("batch_first", d.BatchFirst),
        };
        s.EnsureAllRead();
        return c;
    }

    static MemoryEncoderConfig ReadMemoryEncoder(Section s)
    {
        s.Target("MemoryEncoder");
        var md = s.Map("mask_downsampler") ?? throw s.Missing("mask_downsampler");
        md.Target("MaskDownSampler");
        var dmd = new MaskDownSamplerConfig();
        var downsampler = new MaskDownSamplerConfig
        {
            EmbedDim = md.Int("embed_dim", dmd.EmbedDim),
            KernelSize = md.Int("kernel_size", dmd.KernelSize),
            Stride = md.Int("stride", dmd.Stride),
            Padding = md.Int("padding", dmd.Padding),
            TotalStride = md.Int("total_stride", dmd.TotalStride),
            Activation = md.Str("activation", dmd.Activation),
        };
        md.EnsureAllRead();
        var fu = s.Map("fuser") ?? throw s.Missing("fuser");
        fu.Target("Fuser");
        var cx = fu.Map("layer") ?? throw fu.Missing("layer");
        cx.Target("CXBlock");
        var dcx = new CXBlockConfig();
        var block = new CXBlockConfig
        {
            Dim = cx.Int("dim", dcx.Dim),
            KernelSize = cx.Int("kernel_size", dcx.KernelSize),
            Padding = cx.Int("padding", dcx.Padding),
            DropPath = cx.Double("drop_path", dcx.DropPath),
            LayerScaleInitValue = cx.Double("layer_scale_init_value", dcx.LayerScaleInitValue),
            UseDwconv = cx.Bool("use_dwconv", dcx.UseDwconv),
        };
        cx.EnsureAllRead();
        var fuser = new FuserConfig
        {
            Layer = block,
            NumLayers = fu.Int("num_layers", 2),
            Dim = fu.IntOrNull("dim"),
            InputProjection = fu.Bool("input_projection", false),
        };
        fu.EnsureAllRead();
        var d = new MemoryEncoderConfig();
        var c = new MemoryEncoderConfig
        {
            OutDim = s.Int("out_dim", d.OutDim),
            InDim = s.Int("in_dim", d.InDim),
            MaskDownsampler = downsampler,
            Fuser = fuser,
            PositionEncoding = ReadPositionEncoding(s.Map("position_encoding") ?? throw s.Missing("position_encoding")),
        };
        s.EnsureAllRead();
        return c;
    }

    /// <summary>One YAML mapping, remembering which keys were read so the rest can be refused.</summary>
    sealed class Section(YamlMappingNode node, string file, string path)
    {
        readonly HashSet<string> read = ["_target_"];

        YamlNode? Get(string key)
        {
            read.Add(key);
            return node.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;
        }

        string Where(string key) => $"config {file}: {(path.Length > 0 ? path + "." : "")}{key}";

        public Sam2Exception Missing(string key) => new($"{Where(key)} is missing");

        public void Target(params string[] classNames)
        {
            if (Get("_target_") is not YamlScalarNode t || t.Value is null) return;
            var cls = t.Value[(t.Value.LastIndexOf('.') + 1)..];
            if (!classNames.Contains(cls))
                throw new Sam2Exception($"{Where("_target_")}: '{t.Value}' is not supported here (expected {string.Join(" or ", classNames)})");
        }

        public void Skip(params string[] keys) { foreach (var k in keys) read.Add(k); }

        public void EnsureAllRead()
        {
            foreach (var k in node.Children.Keys.OfType<YamlScalarNode>())
                if (k.Value is { } key && !read.Contains(key))
                    throw new Sam2Exception($"{Where(key)}: unknown key");
        }

        public Section? Map(string key) => Get(key) switch
        {
            null => null,
            YamlMappingNode m => new Section(m, file, path.Length > 0 ? $"{path}.{key}" : key),
            YamlScalarNode { Value: null or "null" or "~" } => null,
            _ => throw new Sam2Exception($"{Where(key)}: expected a mapping"),
        };

        string? Scalar(string key) => Get(key) switch
        {
            null => null,
            YamlScalarNode s => s.Value is "null" or "~" or "" ? null : s.Value,
            _ => throw new Sam2Exception($"{Where(key)}: expected a single value"),
        };

        public string Str(string key, string def) => Scalar(key) ?? def;

        public int Int(string key, int def) => IntOrNull(key) ?? def;

        public int? IntOrNull(string key) => Scalar(key) is { } v
            ? int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i : throw new Sam2Exception($"{Where(key)}: '{v}' is not an integer")
            : null;

        public double Double(string key, double def) => DoubleOrNull(key) ?? def;

        public double? DoubleOrNull(string key) => Scalar(key) is { } v
            ? double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : throw new Sam2Exception($"{Where(key)}: '{v}' is not a number")
            : null;

        public bool Bool(string key, bool def) => Scalar(key)?.ToLowerInvariant() switch
        {
            null => def,
            "true" or "yes" or "on" => true,
            "false" or "no" or "off" => false,
            var v => throw new Sam2Exception($"{Where(key)}: '{v}' is not true/false"),
        };

        public int[] Ints(string key, int[] def) => IntsOrNull(key) ?? def;

        public int[]? IntsOrNull(string key) => Get(key) switch
        {
            null => null,
            YamlScalarNode { Value: null or "null" or "~" } => null,
            YamlSequenceNode seq => seq.Children.Select(c => c is YamlScalarNode { Value: { } v } && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i)
                ? i : throw new Sam2Exception($"{Where(key)}: expected a list of integers")).ToArray(),
            _ => throw new Sam2Exception($"{Where(key)}: expected a list of integers"),
        };
    }
}
