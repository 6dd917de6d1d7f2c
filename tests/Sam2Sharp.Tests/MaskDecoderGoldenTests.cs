using System.Collections;
using System.Text.Json;
using Sam2Sharp.Modeling.Sam;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using Xunit.Abstractions;
using YamlDotNet.RepresentationModel;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>
/// Prompt encoder + mask decoder + the image predictor's prompt/output transforms against the
/// golden image_predict cases, fed with the golden image features (so the image encoder is not involved).
/// </summary>
public class MaskDecoderGoldenTests
{
    private readonly ITestOutputHelper output;
    public MaskDecoderGoldenTests(ITestOutputHelper output) => this.output = output;

    public static IEnumerable<object[]> ImagePredictCases() => Golden.CasesOfKind("image_predict");
    public static IEnumerable<object[]> FolderCases() => Golden.Folders().Select(f => new object[] { f });

    private const string PePrefix = "sam_prompt_encoder.";
    private const string DecPrefix = "sam_mask_decoder.";

    /// <summary>The SAM heads of one golden model, built as SAM2Base._build_sam_heads does.</summary>
    private sealed record Heads(PromptEncoder PromptEncoder, MaskDecoder MaskDecoder, int ImageSize,
                                Dictionary<string, Tensor> PeWeights, Dictionary<string, Tensor> DecWeights);

    private static Heads Build(string folder)
    {
        var yaml = new YamlStream();
        using (var r = new StreamReader(Path.Combine(folder, "config.yaml"))) yaml.Load(r);
        var model = (YamlMappingNode)((YamlMappingNode)yaml.Documents[0].RootNode)["model"];
        string? Get(YamlMappingNode n, string key) =>
            n.Children.TryGetValue(new YamlScalarNode(key), out var v) ? ((YamlScalarNode)v).Value : null;
        bool Flag(string key) => bool.TryParse(Get(model, key), out var b) && b;
        int imageSize = int.Parse(Get(model, "image_size") ?? "512");
        int backboneStride = int.Parse(Get(model, "backbone_stride") ?? "16");
        var neck = (YamlMappingNode)((YamlMappingNode)model["image_encoder"])["neck"];
        int dModel = int.Parse(Get(neck, "d_model")!);

        // The image predictor's decoder settings (cases.json image_postprocessing).
        var post = Golden.Cases(folder).GetProperty("image_postprocessing");
        string Extra(string k) => post.GetProperty("sam_mask_decoder_extra_args." + k).GetString()!;
        bool dynamic = bool.Parse(Extra("dynamic_multimask_via_stability"));
        double delta = double.Parse(Extra("dynamic_multimask_stability_delta"), System.Globalization.CultureInfo.InvariantCulture);
        double thresh = double.Parse(Extra("dynamic_multimask_stability_thresh"), System.Globalization.CultureInfo.InvariantCulture);

        int embSize = imageSize / backboneStride;
        var pe = new PromptEncoder(dModel, (embSize, embSize), (imageSize, imageSize), maskInChans: 16);
        var dec = new MaskDecoder(
            transformerDim: dModel,
            transformer: new TwoWayTransformer(depth: 2, embeddingDim: dModel, numHeads: 8, mlpDim: 2048),
            numMultimaskOutputs: 3, iouHeadDepth: 3, iouHeadHiddenDim: 256,
            useHighResFeatures: Flag("use_high_res_features_in_sam"),
            iouPredictionUseSigmoid: Flag("iou_prediction_use_sigmoid"),
            dynamicMultimaskViaStability: dynamic, dynamicMultimaskStabilityDelta: delta,
            dynamicMultimaskStabilityThresh: thresh,
            predObjScores: Flag("pred_obj_scores"), predObjScoresMlp: Flag("pred_obj_scores_mlp"),
            useMultimaskTokenForObjPtr: Flag("use_multimask_token_for_obj_ptr"));

        var sd = (IDictionary)PyTorchUnpickler.UnpickleStateDict(File.OpenRead(Path.Combine(folder, "model.pt")))["model"]!;
        Dictionary<string, Tensor> Under(string prefix)
        {
            var d = new Dictionary<string, Tensor>();
            foreach (DictionaryEntry e in sd)
                if (((string)e.Key).StartsWith(prefix, StringComparison.Ordinal))
                    d[((string)e.Key)[prefix.Length..]] = (Tensor)e.Value!;
            return d;
        }
        var peW = Under(PePrefix);
        var decW = Under(DecPrefix);
        pe.load_state_dict(peW, strict: true);
        dec.load_state_dict(decW, strict: true);
        pe.eval();
        dec.eval();
        return new Heads(pe, dec, imageSize, peW, decW);
    }

    private static readonly Dictionary<string, Heads> cache = new();
    private static Heads HeadsOf(string folder)
    {
        lock (cache)
        {
            if (!cache.TryGetValue(folder, out var h)) cache[folder] = h = Build(folder);
            return h;
        }
    }

    [Theory]
    [MemberData(nameof(FolderCases))]
    public void StateDictKeysAndShapesMatchTheCheckpoint(string folder)
    {
        var h = HeadsOf(folder);
        void Check(nn.Module m, Dictionary<string, Tensor> golden)
        {
            var mine = m.state_dict();
            Assert.Equal(golden.Keys.OrderBy(k => k, StringComparer.Ordinal), mine.Keys.OrderBy(k => k, StringComparer.Ordinal));
            foreach (var (k, t) in golden)
            {
                Assert.Equal(t.shape, mine[k].shape);
                // Loaded, not just shaped alike.
                Assert.Equal(0.0, Golden.MaxAbsDiff(t, mine[k]));
            }
        }
        Check(h.PromptEncoder, h.PeWeights);
        Check(h.MaskDecoder, h.DecWeights);
    }

    [Fact]
    public void ModulesBuiltInsideADisposeScopeKeepTheirStateDict()
    {
        PromptEncoder pe; MaskDecoder dec;
        using (NewDisposeScope())
        {
            pe = new PromptEncoder(32, (16, 16), (256, 256), 16);
            dec = new MaskDecoder(32, new TwoWayTransformer(2, 32, 8, 64), useHighResFeatures: true,
                                  predObjScores: true, predObjScoresMlp: true);
        }
        Assert.Contains("pe_layer.positional_encoding_gaussian_matrix", pe.state_dict().Keys);
        Assert.Contains("mask_downscaling.1.weight", pe.state_dict().Keys);
        Assert.Contains("output_upscaling.1.bias", dec.state_dict().Keys);
        Assert.All(pe.state_dict().Values.Concat(dec.state_dict().Values), t => Assert.False(t.IsInvalid));
        Assert.Equal(2 * 16, pe.GetDensePe().shape[1]);
    }

    private static (int h, int w) PngSize(string path)
    {
        var b = new byte[24];
        using (var f = File.OpenRead(path)) f.ReadExactly(b);
        int W = (b[16] << 24) | (b[17] << 16) | (b[18] << 8) | b[19];
        int H = (b[20] << 24) | (b[21] << 16) | (b[22] << 8) | b[23];
        return (H, W);
    }

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(x => x.GetSingle()).ToArray();

    [Theory]
    [MemberData(nameof(ImagePredictCases))]
    public void ImagePredictMatchesGolden(string folder, string name)
    {
        var heads = HeadsOf(folder); // cached across cases: built outside this case's dispose scope
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var c = Golden.Case(folder, name);
        var prompts = c.GetProperty("prompts");
        var origHw = PngSize(Path.Combine(folder, c.GetProperty("image").GetString()!));
        var feats = Golden.Tensors(Path.Combine(folder, "expected", "image_features.safetensors"));
        var expected = Golden.Tensors(Path.Combine(folder, c.GetProperty("expected").GetString()!));
        bool multimask = c.GetProperty("multimask_output").GetBoolean();
        if (c.TryGetProperty("mask_input_from", out var mif) && mif.ValueKind != JsonValueKind.Null)
            throw new NotSupportedException($"mask_input_from is not handled by this test: {mif}");
        var tf = new Sam2Transforms(heads.ImageSize, maskThreshold: 0.0);

        // _prep_prompts
        Tensor? coords = null, labels = null, box = null, maskInput = null;
        if (prompts.TryGetProperty("point_coords", out var pc))
        {
            var pts = pc.EnumerateArray().Select(Floats).ToArray();
            coords = tensor(pts.SelectMany(p => p).ToArray(), new long[] { pts.Length, 2 });
            coords = tf.TransformCoords(coords, normalize: true, origHw);
            labels = tensor(prompts.GetProperty("point_labels").EnumerateArray().Select(x => x.GetInt32()).ToArray(), dtype: int32);
            if (coords.dim() == 2) { coords = coords.unsqueeze(0); labels = labels.unsqueeze(0); }
        }
        if (prompts.TryGetProperty("box", out var bx))
        {
            bool several = bx[0].ValueKind == JsonValueKind.Array;
            var boxes = several ? bx.EnumerateArray().Select(Floats).ToArray() : new[] { Floats(bx) };
            var t = tensor(boxes.SelectMany(b => b).ToArray(), several ? new long[] { boxes.Length, 4 } : new long[] { 4 });
            box = tf.TransformBoxes(t, normalize: true, origHw);
        }
        if (prompts.TryGetProperty("mask_input", out var mi))
        {
            maskInput = Golden.Tensors(Path.Combine(folder, mi.GetString()!))["mask_input"].to_type(float32);
            if (maskInput.dim() == 3) maskInput = maskInput.unsqueeze(0);
        }

        // _predict: a box is two corner points (labels 2, 3) placed before the clicks.
        (Tensor coords, Tensor labels)? concat = coords is null ? null : (coords, labels!);
        if (box is not null)
        {
            var boxCoords = box.reshape(-1, 2, 2);
            var boxLabels = tensor(new[] { 2, 3 }, dtype: int32).reshape(1, 2).repeat(boxCoords.shape[0], 1);
            concat = concat is { } p
                ? (cat(new[] { boxCoords, p.coords }, 1), cat(new[] { boxLabels, p.labels }, 1))
                : (boxCoords, boxLabels);
        }
        var (sparse, dense) = heads.PromptEncoder.forward(concat, null, maskInput);
        bool batched = concat is { } cc && cc.coords.shape[0] > 1;
        var highRes = new[] { feats["high_res_feat0"][0].unsqueeze(0), feats["high_res_feat1"][0].unsqueeze(0) };
        var outp = heads.MaskDecoder.forward(feats["image_embed"][0].unsqueeze(0), heads.PromptEncoder.GetDensePe(),
                                             sparse, dense, multimask, repeatImage: batched, highResFeatures: highRes);
        var logits = tf.PostprocessMasks(outp.Masks, origHw);
        var lowRes = outp.Masks.clamp(-32.0, 32.0);
        var masks = logits > tf.MaskThreshold;
        // predict() drops a batch dimension of 1.
        Tensor Squeeze0(Tensor t) => t.shape[0] == 1 ? t.squeeze(0) : t;
        var iou = Squeeze0(outp.IouPred);
        lowRes = Squeeze0(lowRes); masks = Squeeze0(masks); logits = Squeeze0(logits);

        var eIou = expected["iou_predictions"];
        var eLow = expected["low_res_logits"];
        var eMasks = expected["masks"];
        Assert.Equal(eIou.shape, iou.shape);
        Assert.Equal(eLow.shape, lowRes.shape);
        Assert.Equal(eMasks.shape, masks.shape);

        double iouDiff = Golden.MaxAbsDiff(iou, eIou);
        double lowDiff = Golden.MaxAbsDiff(lowRes, eLow);
        var m = masks.reshape(-1, origHw.h, origHw.w);
        var em = eMasks.reshape(-1, origHw.h, origHw.w);
        var ious = Enumerable.Range(0, (int)m.shape[0]).Select(i => Golden.Iou(m[i], em[i])).ToArray();
        output.WriteLine($"{Path.GetFileName(folder)}/{name}: iou {string.Join(",", iou.data<float>())} (max diff {iouDiff:E2}), " +
                         $"low-res max diff {lowDiff:E2}, mask IoUs {string.Join(",", ious.Select(x => x.ToString("F5")))}");
        Assert.True(iouDiff <= 1e-3, $"iou_predictions differ by {iouDiff}");
        Assert.True(lowDiff <= 1e-2, $"low_res_logits differ by {lowDiff}");
        Assert.All(ious, x => Assert.True(x >= 0.995, $"mask IoU {x}"));

        if (expected.TryGetValue("logits", out var eLogits))
        {
            // Stored as float16: allow the README's 1e-2 plus half a float16 step of the expected value.
            Assert.Equal(eLogits.shape, logits.shape);
            var e = eLogits.to_type(float32);
            var halfUlp = pow(2.0, floor(log2(e.abs().clamp_min(Math.Pow(2, -14)))) - 11);
            var excess = ((logits - e).abs() - halfUlp).max().item<float>();
            output.WriteLine($"  logits: expected range [{e.min().item<float>()}, {e.max().item<float>()}], " +
                             $"max abs diff {Golden.MaxAbsDiff(logits, e):E2}, max excess over fp16 half-step {excess:E2}");
            Assert.True(excess <= 1e-2, $"logits differ by {excess} beyond float16 rounding");
        }
    }
}
