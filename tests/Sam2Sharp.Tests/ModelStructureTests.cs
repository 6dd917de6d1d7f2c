using Sam2Sharp.Config;
using Sam2Sharp.Modeling.Sam;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>The model's structure: official parameter names and shapes, the built-in configs, full-size shapes.</summary>
public class ModelStructureTests
{
    public static IEnumerable<object[]> AllFolders() => Golden.Folders().Select(f => new object[] { f });

    [Theory]
    [MemberData(nameof(AllFolders))]
    public void StateDictEqualsTheCheckpoint(string folder)
    {
        var sd = Checkpoint.ReadStateDict(Path.Combine(folder, "model.pt"));
        using var model = Sam2Builder.Load(Path.Combine(folder, "config.yaml"), Path.Combine(folder, "model.pt"), Golden.AsWritten);
        var mine = model.state_dict();
        Assert.Equal(sd.Keys.OrderBy(k => k, StringComparer.Ordinal), mine.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (k, t) in sd) Assert.True(Golden.MaxAbsDiff(t, mine[k]) == 0, $"{k} was not loaded");
    }

    [Fact]
    public void EveryBuiltInConfigIsRecognisedFromItsOwnStateDict()
    {
        foreach (var name in BuiltinConfigs.Names)
        {
            using var model = new Modeling.Sam2Base(BuiltinConfigs.Get(name));
            var sd = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
            Assert.Equal(name, Checkpoint.InferConfig(sd, name).Name);
            Assert.Equal(name.StartsWith("sam2.1", StringComparison.Ordinal), sd.ContainsKey("no_obj_embed_spatial"));
        }
    }

    [Fact]
    public void HieraTinyMapsAFullSizeImageToThreeFpnLevels()
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var encoder = Sam2Builder.BuildImageEncoder(BuiltinConfigs.Get("sam2.1_hiera_t").ImageEncoder);
        encoder.eval();
        var outp = encoder.forward(randn(1, 3, 1024, 1024));
        long[] sizes = [256, 128, 64];
        Assert.Equal(3, outp.BackboneFpn.Count);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(new long[] { 1, 256, sizes[i], sizes[i] }, outp.BackboneFpn[i].shape);
            Assert.Equal(new long[] { 1, 256, sizes[i], sizes[i] }, outp.VisionPosEnc[i].shape);
        }
        Assert.False(outp.VisionFeatures.isnan().any().item<bool>());
    }

    [Fact]
    public void ModulesBuiltInsideADisposeScopeKeepTheirStateDict()
    {
        PromptEncoder pe; MaskDecoder dec;
        using (NewDisposeScope())
        {
            pe = new PromptEncoder(32, (16, 16), (256, 256), 16);
            dec = new MaskDecoder(32, new TwoWayTransformer(2, 32, 8, 64), useHighResFeatures: true, predObjScores: true, predObjScoresMlp: true);
        }
        Assert.Contains("pe_layer.positional_encoding_gaussian_matrix", pe.state_dict().Keys);
        Assert.Contains("output_upscaling.1.bias", dec.state_dict().Keys);
        Assert.All(pe.state_dict().Values.Concat(dec.state_dict().Values), t => Assert.False(t.IsInvalid));
    }

    [Fact]
    public void ConfigFilesAreReadStrictly()
    {
        var folder = Golden.Folders()[0];
        var cfg = ConfigLoader.Load(Path.Combine(folder, "config.yaml"));
        Assert.Equal(256, cfg.ImageSize);
        var dir = Directory.CreateTempSubdirectory("sam2-cfg-").FullName;
        try
        {
            var text = File.ReadAllText(Path.Combine(folder, "config.yaml")).Replace("num_maskmem: 7", "num_maskmem: 7\n  num_maskmen: 3");
            File.WriteAllText(Path.Combine(dir, "typo.yaml"), text);
            var e = Assert.Throws<Sam2Exception>(() => ConfigLoader.Load(Path.Combine(dir, "typo.yaml")));
            Assert.Contains("num_maskmen", e.Message);
            Assert.Throws<Sam2Exception>(() => ConfigLoader.Load("sam3_hiera_t"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AFullSizeCheckpointInTheOfficialLayoutLoadsWithoutNamingItsConfig()
    {
        var dir = Directory.CreateTempSubdirectory("sam2-full-").FullName;
        try
        {
            var path = Path.Combine(dir, "sam2.1_hiera_tiny.pt");
            using (var random = new Modeling.Sam2Base(BuiltinConfigs.Get("sam2.1_hiera_t"))) Checkpoint.Save(random, path);
            var image = Path.Combine(Golden.SharedDir, "samples", "images", "truck.jpg");
            var (rc, err) = TestCli.RunCapturingErrors(Sam2Sharp.Cli.Commands.ImageCommand.Create(), "image", "--checkpoint", path,
                "--image", image, "--point", "500,375", "--save-tensors", Path.Combine(dir, "out.safetensors"));
            Assert.True(rc == 0, err);
            var got = TorchSharp.PyBridge.Safetensors.LoadStateDict(Path.Combine(dir, "out.safetensors"));
            Assert.Equal(new long[] { 1, 1200, 1800 }, got["masks"].shape);
            Assert.Equal(new long[] { 1, 256, 256 }, got["low_res_logits"].shape);
        }
        finally { Directory.Delete(dir, true); }
    }
}
