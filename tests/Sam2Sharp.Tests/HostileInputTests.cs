using System.Diagnostics;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Config;
using Sam2Sharp.IO;
using Sam2Sharp.Imaging;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>
/// Issue 12: hostile and broken input ends as one line naming the problem, exit 1, nothing written; bugs as
/// "internal error", exit 2; bombs stay under 500 MB (a child process under an address-space data limit).
/// </summary>
public sealed class HostileInputTests : IDisposable
{
    static string Micro => Path.Combine(Golden.SharedDir, "golden", "sam2.1-micro");
    static string MicroPt => Path.Combine(Micro, "model.pt");
    static string MicroYaml => Path.Combine(Micro, "config.yaml");
    static string Truck => Path.Combine(Golden.SharedDir, "samples", "images", "truck.jpg");

    readonly string dir = TestCli.TempDir("sam2-hostile-");
    public void Dispose() => Directory.Delete(dir, true);

    string Write(string name, byte[] bytes) { var p = Path.Combine(dir, name); File.WriteAllBytes(p, bytes); return p; }
    string WriteText(string name, string text) { var p = Path.Combine(dir, name); File.WriteAllText(p, text); return p; }

    /// <summary>Runs <c>sam2 image</c> with one click into dir/out.png and asserts a one-line user error containing <paramref name="expected"/> and no output.</summary>
    void ImageFails(string expected, string checkpoint = "", string config = "", string image = "", params string[] extra)
    {
        var output = Path.Combine(dir, "out.png");
        var args = new List<string> { "image", "--checkpoint", checkpoint == "" ? MicroPt : checkpoint, "--config", config == "" ? MicroYaml : config,
            "--image", image == "" ? Truck : image, "--output", output };
        args.AddRange(extra.Length > 0 ? extra : ["--point", "500,375"]);
        var (rc, err) = TestCli.RunCapturingErrors(ImageCommand.Create(), [.. args]);
        AssertOneLine(rc, err, expected);
        Assert.False(File.Exists(output), "an output was written");
    }

    static void AssertOneLine(int rc, string err, string expected, int code = 1)
    {
        Assert.True(rc == code, $"exit {rc}: {err}");
        Assert.Single(err.Trim().Split('\n'));
        Assert.StartsWith("error: ", err);
        Assert.Contains(expected, err);
    }

    // ------------------------------------------------------------------ configs

    string MicroYamlWith(string name, string find, string replace)
    {
        var text = File.ReadAllText(MicroYaml);
        Assert.Contains(find, text);
        return WriteText(name, text.Replace(find, replace));
    }

    [Theory]
    [InlineData("embed_dim: 24", "embed_dim: 0", "model.image_encoder.trunk.embed_dim: 0 is out of range")]
    [InlineData("embed_dim: 24", "embed_dim: -5", "model.image_encoder.trunk.embed_dim: -5 is out of range")]
    [InlineData("num_heads: 1\n      stages", "num_heads: 0\n      stages", "model.image_encoder.trunk.num_heads: 0 is out of range")]
    [InlineData("stages: [1, 2, 3, 2]", "stages: []", "model.image_encoder.trunk.stages: expected 1 to 8 values, got 0")]
    [InlineData("stages: [1, 2, 3, 2]", "stages: [1, 0, 3, 2]", "model.image_encoder.trunk.stages: 0 is out of range")]
    [InlineData("image_size: 256", "image_size: 0", "model.image_size: 0 is out of range")]
    [InlineData("image_size: 256", "image_size: -256", "model.image_size: -256 is out of range")]
    [InlineData("image_size: 256", "image_size: 16384", "model.image_size: 16384 is out of range (allowed 32 to 2048)")]
    [InlineData("image_size: 256", "image_size: 100", "model.image_size: 100 must be a multiple of the trunk's stride (32)")]
    [InlineData("image_size: 256", "image_size: 99999999999", "model.image_size: expected an integer")]
    [InlineData("image_size: 256", "image_size: big", "model.image_size: expected an integer")]
    [InlineData("num_maskmem: 7", "num_maskmem: 7\n  num_maskmen: 3", "model.num_maskmen: unknown key")]
    [InlineData("d_model: 32\n      backbone", "d_model: 32\n      dmodel: 3\n      backbone", "model.image_encoder.neck.dmodel: unknown key")]
    [InlineData("_target_: sam2.modeling.backbones.hieradet.Hiera", "_target_: os.system", "model.image_encoder.trunk._target_: 'os.system' is not supported here")]
    [InlineData("fpn_interp_model: nearest", "fpn_interp_model: magic", "fpn_interp_model: 'magic' is not one of")]
    [InlineData("num_heads: 1\n        downsample_rate", "num_heads: 5\n        downsample_rate", "self_attention.num_heads")]
    public void ConfigValuesAreValidatedByKey(string find, string replace, string expected)
    {
        var cfg = MicroYamlWith("bad.yaml", find, replace);
        var e = Assert.Throws<Sam2Exception>(() => ConfigLoader.Load(cfg));
        Assert.Contains(expected, e.Message);
        ImageFails(expected, config: cfg);
    }

    [Fact]
    public void ConfigMissingSectionIsNamed()
    {
        var text = File.ReadAllText(MicroYaml);
        int a = text.IndexOf("  memory_attention:", StringComparison.Ordinal), b = text.IndexOf("  memory_encoder:", StringComparison.Ordinal);
        var cfg = WriteText("nomem.yaml", text.Remove(a, b - a));
        Assert.Contains("model.memory_attention is missing", Assert.Throws<Sam2Exception>(() => ConfigLoader.Load(cfg)).Message);
    }

    [Fact]
    public void DeeplyNestedConfigIsRefusedWithoutOverflowingTheStack()
    {
        var cfg = WriteText("deep.yaml", "model:\n  image_encoder: " + new string('[', 40000) + new string(']', 40000) + "\n");
        ImageFails("nested deeper than 32 levels", config: cfg);
        var map = WriteText("deepmap.yaml", "model: " + string.Concat(Enumerable.Repeat("{a: ", 40000)) + "1" + new string('}', 40000) + "\n");
        ImageFails("nested deeper than 32 levels", config: map);
        Assert.Contains("nested deeper than 32 levels", Assert.Throws<Sam2Exception>(() => Training.TrainRunConfig.Load(cfg)).Message);
    }

    [Fact]
    public void OversizedConfigAndNonRegularConfigAreRefused()
    {
        var big = WriteText("big.yaml", "# " + new string('x', YamlInput.MaxBytes + 10) + "\n");
        ImageFails("larger than 1 MB", config: big);
        ImageFails("is a folder, not a file", config: dir);
        var fifo = Path.Combine(dir, "fifo.yaml");
        Process.Start("mkfifo", fifo).WaitForExit();
        ImageFails("is a FIFO (named pipe), not a regular file", config: fifo);
    }

    [Fact]
    public void EveryBuiltInConfigPassesValidation()
    {
        foreach (var name in BuiltinConfigs.Names) ConfigValidation.Validate(BuiltinConfigs.Get(name));
        foreach (var folder in Golden.Folders()) ConfigLoader.Load(Path.Combine(folder, "config.yaml"));
    }

    // ------------------------------------------------------------------ checkpoints

    [Fact]
    public void CheckpointFileKindsAreNamed()
    {
        ImageFails("is empty", checkpoint: Write("empty.pt", []));
        ImageFails("is not a checkpoint: neither a PyTorch zip archive nor a safetensors file", checkpoint: WriteText("text.pt", "hello, not a model\n"));
        ImageFails("is not a checkpoint", checkpoint: Write("random.pt", Enumerable.Range(0, 4096).Select(i => (byte)(i * 7919 % 251)).ToArray()));
        ImageFails("is a plain Python pickle", checkpoint: Write("plain.pt", HostileFiles.NonePickle()));
        ImageFails("is a folder, not a file", checkpoint: dir);
        ImageFails("checkpoint file not found", checkpoint: Path.Combine(dir, "absent.pt"));
        var none = Path.Combine(dir, "none.pt");
        HostileFiles.WriteTorchZip(none, HostileFiles.NonePickle());
        ImageFails("holds None, not a state dict", checkpoint: none);
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("subprocess", "Popen")]
    [InlineData("posix", "system")]
    public void PythonObjectsThatAreNotTensorsAreRefused(string module, string name)
    {
        var path = Path.Combine(dir, "evil.pt");
        HostileFiles.WriteTorchZip(path, HostileFiles.CallingPickle(module, name));
        var e = Assert.Throws<Sam2Exception>(() => Checkpoint.ReadStateDict(path));
        Assert.Equal($"checkpoint {path}: the checkpoint contains a Python object that is not a tensor (`{module}.{name}`); refusing to load it", e.Message);
        Assert.DoesNotContain("IObjectConstructor", e.Message);
        ImageFails($"(`{module}.{name}`); refusing to load it", checkpoint: path);
    }

    [Fact]
    public void DeclaredShapesAreCheckedBeforeAnyDataIsRead()
    {
        // 40000² float32 declared (6.4 GB), with no data at all: refused by the cap, nothing inflated.
        var huge = Path.Combine(dir, "huge.pt");
        HostileFiles.WriteTorchZip(huge, HostileFiles.StateDictPickle([("image_encoder.trunk.pos_embed", [40000, 40000])]), 0);
        Assert.Contains("declares shape [40000,40000], more than", Assert.Throws<Sam2Exception>(() => Checkpoint.ReadStateDict(huge)).Message);
        // Within the cap but not the model's shape: refused by name before its data is read.
        var wrong = Path.Combine(dir, "wrong.pt");
        HostileFiles.WriteTorchZip(wrong, HostileFiles.StateDictPickle([("image_encoder.trunk.pos_embed", [2, 3])]), 24);
        ImageFails("wrong shapes: image_encoder.trunk.pos_embed [2,3] (model has [1,24,7,7])", checkpoint: wrong);
        // A storage shorter than its tensor, and an archive entry shorter than its storage.
        var past = Path.Combine(dir, "past.pt");
        HostileFiles.WriteTorchZip(past, HostileFiles.StateDictPickle([("x", [4, 4])]).Select(b => b).ToArray(), 4);
        Assert.Contains("'x': the archive holds 4 bytes, its storage needs 64", Assert.Throws<Sam2Exception>(() => Checkpoint.ReadStateDict(past)).Message);
    }

    [Fact]
    public void InferConfigIgnoresKeysThatDoNotParse()
    {
        var shapes = new Dictionary<string, long[]>
        {
            ["image_encoder.trunk.patch_embed.proj.weight"] = [96, 3, 7, 7],
            ["image_encoder.trunk.blocks.x.attn"] = [1], ["image_encoder.trunk.blocks."] = [1],
            ["image_encoder.trunk.blocks.99999999999.mlp"] = [1], ["image_encoder.trunk.blocks.-3.mlp"] = [1],
        };
        Assert.Contains("matches no built-in config", Assert.Throws<Sam2Exception>(() => Checkpoint.InferConfig(shapes, "odd")).Message);
        var pt = Path.Combine(dir, "odd.pt");
        HostileFiles.WriteTorchZip(pt, HostileFiles.StateDictPickle([("image_encoder.trunk.patch_embed.proj.weight", [2]), ("image_encoder.trunk.blocks.", [1])]), 8, 4);
        var (rc, err) = TestCli.RunCapturingErrors(ImageCommand.Create(), "image", "--checkpoint", pt, "--image", Truck, "--point", "1,1", "--output", Path.Combine(dir, "o.png"));
        AssertOneLine(rc, err, "matches no built-in config");
    }

    [Fact]
    public void NonFiniteWeightsAreRefusedByName()
    {
        var path = Path.Combine(dir, "nan.pt");
        using (var model = Sam2Builder.Load(MicroYaml, MicroPt))
        {
            using (no_grad()) model.state_dict()["no_mem_embed"].fill_(float.NaN);
            Checkpoint.Save(model, path);
        }
        ImageFails("tensor 'no_mem_embed' contains NaN or infinite values", checkpoint: path);
    }

    [Fact]
    public void SafetensorsCheckpointsLoadAsTheSameModel()
    {
        var st = Path.Combine(dir, "model.safetensors");
        var pt = Checkpoint.ReadStateDict(MicroPt);
        Safetensors.SaveStateDict(st, pt);
        var back = Checkpoint.ReadStateDict(st);
        Assert.Equal(pt.Keys.Order(), back.Keys.Order());
        foreach (var (k, t) in pt) Assert.True(Golden.MaxAbsDiff(t, back[k]) == 0, k);
        using var fs = File.OpenRead(st);
        using var model = Sam2Builder.Load(MicroYaml, fs, "model.safetensors");
        foreach (var (k, t) in model.state_dict()) Assert.True(Golden.MaxAbsDiff(t, pt[k]) == 0, k);
    }

    // ------------------------------------------------------------------ images and prompts

    [Fact]
    public void ImageHeaderBombsAreRefusedBeforeDecoding()
    {
        var bomb = Write("bomb.png", HostileFiles.PngHeaderBomb(60000, 60000));
        ImageFails("is 60000×60000 (3600 Mpx), more than the limit of 179 Mpx", image: bomb);
        Assert.Contains("more than the limit", Assert.Throws<Sam2Exception>(() => PalettePng.Read(bomb)).Message);
        var tall = Write("tall.png", HostileFiles.PngHeaderBomb(20000, 20000));
        Assert.Contains("more than the limit of 1 Mpx",
            Assert.Throws<Sam2Exception>(() => RgbImage.Load(File.OpenRead(tall), "tall.png", new ImageLimits { MaxPixels = 1_000_000 })).Message);
        // Under the limit but without its data: PalettePng refuses before allocating the rows.
        Assert.Contains("truncated PNG image data", Assert.Throws<Sam2Exception>(() => PalettePng.Read(Write("t.png", HostileFiles.PngHeaderBomb(12000, 12000)))).Message);
    }

    [Fact]
    public void DeviceFilesAreNotReadAsImages()
    {
        ImageFails("image /dev/zero is a character device, not a regular file", image: "/dev/zero");
        ImageFails("checkpoint /dev/zero is a character device, not a regular file", checkpoint: "/dev/zero");
    }

    [Fact]
    public void NonFiniteMaskInputIsRefused()
    {
        var path = Path.Combine(dir, "mask.safetensors");
        Safetensors.SaveStateDict(path, new Dictionary<string, Tensor> { ["mask_input"] = full(1, 64, 64, float.NaN) });
        ImageFails($"--mask-input {path} tensor 'mask_input' contains NaN or infinite values", extra: ["--mask-input", path]);
    }

    [Fact]
    public void SeveralBoxesWithPointsSayWhatIsAllowed()
    {
        ImageFails("2 boxes with 1 set(s) of points: points join boxes one set per box",
            extra: ["--box", "100,100,600,500", "--box", "700,300,1200,900", "--point", "500,375"]);
    }

    [Fact]
    public void WriteFailuresEndAsOneLine()
    {
        var file = WriteText("a-file", "x");
        var (rc, err) = TestCli.RunCapturingErrors(ImageCommand.Create(), "image", "--checkpoint", MicroPt, "--config", MicroYaml,
            "--image", Truck, "--point", "500,375", "--output", Path.Combine(file, "mask.png"));
        AssertOneLine(rc, err, "a-file");
        (rc, err) = TestCli.RunCapturingErrors(ImageCommand.Create(), "image", "--checkpoint", MicroPt, "--config", MicroYaml,
            "--image", Truck, "--point", "500,375", "--save-tensors", Path.Combine(file, "t.safetensors"));
        AssertOneLine(rc, err, "a-file");
    }

    [Fact]
    public void UnexpectedExceptionsAreInternalErrorsWithExitTwo()
    {
        var err = new StringWriter();
        var old = Console.Error;
        Console.SetError(err);
        int rc;
        try { rc = Sam2Sharp.Cli.Commands.Cli.Run(() => throw new InvalidOperationException("boom\nsecond line")); }
        finally { Console.SetError(old); }
        AssertOneLine(rc, err.ToString(), "error: internal error: InvalidOperationException: boom (run with --verbose for details)", Sam2Sharp.Cli.Commands.Cli.InternalError);
    }

    // ------------------------------------------------------------------ vos and eval

    [Fact]
    public void VosRefusesNamesOutsideItsFoldersAndChecksEveryVideoFirst()
    {
        string videos = Path.Combine(dir, "videos"), masks = Path.Combine(dir, "masks"), output = Path.Combine(dir, "out");
        foreach (var v in new[] { "a", "b" }) Directory.CreateDirectory(Path.Combine(videos, v));
        Directory.CreateDirectory(Path.Combine(masks, "a"));
        Directory.CreateDirectory(Path.Combine(dir, "x"));
        string Run(string list, string expected)
        {
            var (rc, err) = TestCli.RunCapturingErrors(VosCommand.Create(), "vos", "--checkpoint", MicroPt, "--config", MicroYaml,
                "--base-video-dir", videos, "--input-mask-dir", masks, "--output-mask-dir", output, "--video-list-file", WriteText("list.txt", list));
            AssertOneLine(rc, err, expected);
            Assert.False(Directory.Exists(output), "the output folder was made");
            return err;
        }
        Run("a\n../x\n", "line 2: '../x' is not a video folder name");
        Run("a\n/etc\n", "line 2: '/etc' is not a video folder name");
        Run("a\nb\n", $"in video b: no input masks, folder {Path.Combine(masks, "b")} not found");
        var (rc2, err2) = TestCli.RunCapturingErrors(VosCommand.Create(), "vos", "--checkpoint", MicroPt, "--config", MicroYaml,
            "--base-video-dir", videos, "--input-mask-dir", masks, "--output-mask-dir", Path.Combine(WriteText("f", ""), "out"));
        AssertOneLine(rc2, err2, "is a file, not a folder");
    }

    [Fact]
    public void EvalNamesAVideoWithAMissingFrame()
    {
        string gt = Path.Combine(dir, "gt"), pred = Path.Combine(dir, "pred");
        var mask = new byte[16];
        mask[5] = mask[6] = 1;
        foreach (var root in new[] { gt, pred })
            foreach (var v in new[] { "a", "b" })
                for (int f = 0; f < 3; f++)
                {
                    Directory.CreateDirectory(Path.Combine(root, v));
                    if (root == pred && v == "a" && f == 1) continue;
                    PalettePng.WriteIndexed(Path.Combine(root, v, $"{f:D5}.png"), mask, 4, 4, PalettePng.DavisPalette);
                }
        var output = new StringWriter();
        var oldOut = Console.Out;
        Console.SetOut(output);
        int rc;
        try { rc = TestCli.Run(EvalCommand.Create(), "eval", "--gt-root", gt, "--pred-root", pred, "--skip-first-and-last", "false", "-q", "-n", "1"); }
        finally { Console.SetOut(oldOut); }
        Assert.Equal(0, rc);
        Assert.Contains("Not in the score (1 of 2 videos): a (frame 00001.png missing)", output.ToString());
        var (rcs, err) = TestCli.RunCapturingErrors(EvalCommand.Create(), "eval", "--gt-root", gt, "--pred-root", pred, "--skip-first-and-last", "false", "--strict", "true", "-q");
        AssertOneLine(rcs, err, "00001.png");
    }

    // ------------------------------------------------------------------ peak memory

    /// <summary>
    /// The bombs, each run by the real CLI in a child process whose writable data is capped at 500 MB (RLIMIT_DATA,
    /// which .NET's reserved-but-unused address space does not count against): each must end as its one-line error,
    /// not as an out-of-memory failure.
    /// </summary>
    [Fact]
    public void BombsStayUnder500MegabytesInAChildProcess()
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "sam2.dll");
        var deflated = Path.Combine(dir, "deflated.pt"); // 512 MB of zeros in a ~0.5 MB file, declared for a 1×24×7×7 parameter
        HostileFiles.WriteTorchZip(deflated, HostileFiles.StateDictPickle([("image_encoder.trunk.pos_embed", [8192, 16384])]), 8192L * 16384 * 4);
        Assert.True(new FileInfo(deflated).Length < 4 << 20);
        var bomb = Write("bomb.png", HostileFiles.PngHeaderBomb(20000, 20000));
        var size = MicroYamlWith("size.yaml", "image_size: 256", "image_size: 16384");
        var cases = new (string[] Args, string Expected)[]
        {
            (["--checkpoint", deflated, "--config", MicroYaml, "--image", Truck], "wrong shapes: image_encoder.trunk.pos_embed [8192,16384]"),
            (["--checkpoint", MicroPt, "--config", MicroYaml, "--image", bomb], "more than the limit of 179 Mpx"),
            (["--checkpoint", MicroPt, "--config", size, "--image", Truck], "model.image_size: 16384 is out of range"),
        };
        foreach (var (args, expected) in cases)
        {
            var psi = new ProcessStartInfo("prlimit", ["--data=524288000", "dotnet", cli, "image", .. args, "--point", "1,1", "--output", Path.Combine(dir, "o.png")])
            { RedirectStandardError = true, RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEnd();
            p.StandardOutput.ReadToEnd();
            Assert.True(p.WaitForExit(120_000), "the CLI did not finish");
            AssertOneLine(p.ExitCode, err, expected);
        }
        // The limit does bite: the same process with 60 MB cannot even run a good case.
        var good = Process.Start(new ProcessStartInfo("prlimit", ["--data=60000000", "dotnet", cli, "image", "--checkpoint", MicroPt, "--config", MicroYaml,
            "--image", Truck, "--point", "1,1", "--output", Path.Combine(dir, "o.png")]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        good.StandardOutput.ReadToEnd(); good.StandardError.ReadToEnd();
        good.WaitForExit(120_000);
        Assert.False(File.Exists(Path.Combine(dir, "o.png")) && good.ExitCode == 0, "a 60 MB limit did not stop the CLI, so it does not measure anything");
    }
}
