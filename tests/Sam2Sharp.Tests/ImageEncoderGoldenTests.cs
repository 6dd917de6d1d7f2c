using System.Diagnostics;
using Sam2Sharp.Modeling;
using Sam2Sharp.Modeling.Backbones;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using Xunit.Abstractions;
using YamlDotNet.RepresentationModel;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>Builds the image encoder of a golden folder from the values in its config.yaml.</summary>
internal static class GoldenEncoderFactory
{
    static YamlMappingNode Map(YamlNode n, string key) => (YamlMappingNode)((YamlMappingNode)n).Children[new YamlScalarNode(key)];

    static YamlNode? Get(YamlMappingNode n, string key) =>
        n.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

    static int[]? Ints(YamlMappingNode n, string key) =>
        Get(n, key) is YamlSequenceNode s ? s.Children.Select(c => int.Parse(((YamlScalarNode)c).Value!)).ToArray() : null;

    static int? Int(YamlMappingNode n, string key) => Get(n, key) is YamlScalarNode s ? int.Parse(s.Value!) : null;

    static string? Str(YamlMappingNode n, string key) => Get(n, key) is YamlScalarNode s ? s.Value : null;

    public static ImageEncoder FromConfig(string folder)
    {
        var yaml = new YamlStream();
        using (var r = new StreamReader(Path.Combine(folder, "config.yaml"))) yaml.Load(r);
        var enc = Map(Map(yaml.Documents[0].RootNode, "model"), "image_encoder");
        var trunkCfg = Map(enc, "trunk");
        var neckCfg = Map(enc, "neck");
        var peCfg = Map(neckCfg, "position_encoding");

        var trunk = new Hiera(
            embedDim: Int(trunkCfg, "embed_dim") ?? 96,
            numHeads: Int(trunkCfg, "num_heads") ?? 1,
            stages: Ints(trunkCfg, "stages"),
            globalAttBlocks: Ints(trunkCfg, "global_att_blocks"),
            windowPosEmbedBkgSpatialSize: Ints(trunkCfg, "window_pos_embed_bkg_spatial_size"),
            windowSpec: Ints(trunkCfg, "window_spec"));
        var pe = new PositionEmbeddingSine(Int(peCfg, "num_pos_feats")!.Value,
            temperature: Int(peCfg, "temperature") ?? 10000);
        var neck = new FpnNeck(pe,
            dModel: Int(neckCfg, "d_model")!.Value,
            backboneChannelList: Ints(neckCfg, "backbone_channel_list")!,
            fpnInterpModel: Str(neckCfg, "fpn_interp_model") ?? "bilinear",
            fpnTopDownLevels: Ints(neckCfg, "fpn_top_down_levels"));
        return new ImageEncoder(trunk, neck, scalp: Int(enc, "scalp") ?? 0);
    }

    public static Dictionary<string, Tensor> StateDict(string folder)
    {
        using var f = File.OpenRead(Path.Combine(folder, "model.pt"));
        var sd = (System.Collections.IDictionary)PyTorchUnpickler.UnpickleStateDict(f)["model"]!;
        var d = new Dictionary<string, Tensor>();
        foreach (System.Collections.DictionaryEntry e in sd) d[(string)e.Key] = (Tensor)e.Value!;
        return d;
    }

    public static Dictionary<string, Tensor> WithPrefix(Dictionary<string, Tensor> sd, string prefix) =>
        sd.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
          .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
}

public class ImageEncoderGoldenTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> FeatureCases() => Golden.CasesOfKind("image_features");

    [Theory]
    [MemberData(nameof(FeatureCases))]
    public void ImageFeaturesMatchGolden(string folder, string caseName)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var sd = GoldenEncoderFactory.StateDict(folder);
        var encoder = GoldenEncoderFactory.FromConfig(folder);
        encoder.load_state_dict(GoldenEncoderFactory.WithPrefix(sd, "image_encoder."), strict: true);
        encoder.eval();

        var conv0 = Conv1x1(sd, "sam_mask_decoder.conv_s0.");
        var conv1 = Conv1x1(sd, "sam_mask_decoder.conv_s1.");
        var noMemEmbed = sd["no_mem_embed"]; // 1×1×C

        var c = Golden.Case(folder, caseName);
        var expected = Golden.Tensors(Path.Combine(folder, c.GetProperty("expected").GetString()!));

        using var outp = encoder.forward(expected["input"]);
        Assert.Equal(outp.BackboneFpn.Count, outp.VisionPosEnc.Count);
        Assert.Same(outp.BackboneFpn[^1], outp.VisionFeatures);

        // As the image predictor: flatten to HW×B×C, add no_mem_embed, back to B×C×H×W.
        var last = outp.BackboneFpn[^1];
        long b = last.shape[0], ch = last.shape[1], h = last.shape[2], w = last.shape[3];
        var flat = last.flatten(2).permute(2, 0, 1) + noMemEmbed;
        var imageEmbed = flat.permute(1, 2, 0).reshape(b, ch, h, w);

        Check("image_embed", imageEmbed, expected["image_embed"]);
        Check("high_res_feat0", conv0.forward(outp.BackboneFpn[0]), expected["high_res_feat0"]);
        Check("high_res_feat1", conv1.forward(outp.BackboneFpn[1]), expected["high_res_feat1"]);
    }

    void Check(string name, Tensor actual, Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        double diff = Golden.MaxAbsDiff(actual, expected), tol = 1e-3 * Golden.MaxAbs(expected);
        output.WriteLine($"{name}: max abs diff {diff:E3}, tolerance {tol:E3}");
        Assert.True(diff <= tol, $"{name}: max abs diff {diff} > {tol}");
    }

    static nn.Module<Tensor, Tensor> Conv1x1(Dictionary<string, Tensor> sd, string prefix)
    {
        var wt = sd[prefix + "weight"];
        var conv = nn.Conv2d(wt.shape[1], wt.shape[0], 1);
        conv.load_state_dict(GoldenEncoderFactory.WithPrefix(sd, prefix), strict: true);
        return conv;
    }

    public static IEnumerable<object[]> AllFolders() => Golden.Folders().Select(f => new object[] { f });

    [Theory]
    [MemberData(nameof(AllFolders))]
    public void StateDictKeysEqualCheckpoint(string folder)
    {
        var sd = GoldenEncoderFactory.WithPrefix(GoldenEncoderFactory.StateDict(folder), "image_encoder.");
        var encoder = GoldenEncoderFactory.FromConfig(folder);
        var mine = encoder.state_dict();
        Assert.Equal(sd.Keys.OrderBy(k => k, StringComparer.Ordinal), mine.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (k, t) in sd) Assert.True(t.shape.SequenceEqual(mine[k].shape), $"{k}: shape {string.Join(",", mine[k].shape)} vs {string.Join(",", t.shape)}");
    }

    [Fact]
    public void HieraTinyMapsFullSizeImageToFpnLevels()
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        // sam2.1_hiera_t.yaml
        var trunk = new Hiera(embedDim: 96, numHeads: 1, stages: new[] { 1, 2, 7, 2 }, globalAttBlocks: new[] { 5, 7, 9 },
                              windowPosEmbedBkgSpatialSize: new[] { 7, 7 });
        var neck = new FpnNeck(new PositionEmbeddingSine(256), 256, new[] { 768, 384, 192, 96 },
                               fpnInterpModel: "nearest", fpnTopDownLevels: new[] { 2, 3 });
        var encoder = new ImageEncoder(trunk, neck, scalp: 1);
        encoder.eval();
        var sw = Stopwatch.StartNew();
        using var outp = encoder.forward(randn(1, 3, 1024, 1024));
        output.WriteLine($"hiera_t forward at 1024: {sw.ElapsedMilliseconds} ms");
        Assert.Equal(3, outp.BackboneFpn.Count);
        long[] sizes = { 256, 128, 64 };
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(new long[] { 1, 256, sizes[i], sizes[i] }, outp.BackboneFpn[i].shape);
            Assert.Equal(new long[] { 1, 256, sizes[i], sizes[i] }, outp.VisionPosEnc[i].shape);
        }
        Assert.Equal(new long[] { 1, 256, 64, 64 }, outp.VisionFeatures.shape);
        Assert.False(outp.VisionFeatures.isnan().any().item<bool>());
    }
}
