using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.IO;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary><c>sam2 video</c> run in-process: golden sessions replayed from a steps file, the PNG and video outputs, and user errors.</summary>
public sealed class VideoCommandTests : IDisposable
{
    readonly string tmp = Path.Combine(Path.GetTempPath(), "sam2-videocmd-" + Guid.NewGuid().ToString("N"));
    public VideoCommandTests() => Directory.CreateDirectory(tmp);
    public void Dispose() { if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true); }

    static (int Code, string Stderr) RunCli(params string[] args) => TestCli.RunCapturingErrors(VideoCommand.Create(), args);

    string Dir(string name) => Directory.CreateDirectory(Path.Combine(tmp, name)).FullName;

    static string WriteSteps(string dir, IEnumerable<JsonNode> steps)
    {
        var path = Path.Combine(dir, "steps.json");
        File.WriteAllText(path, new JsonObject { ["steps"] = new JsonArray(steps.ToArray()) }.ToJsonString());
        return path;
    }

    /// <summary>The label map of saved logits, by the library's one rule (checked on its own in <see cref="LabelMapTests"/>).</summary>
    static int[] LabelMap(Tensor logits, IReadOnlyList<int> objIds) =>
        Sam2Sharp.IO.LabelMap.FromLogits(logits, objIds).Select(v => (int)v).ToArray();

    [Theory]
    [MemberData(nameof(VideoCases))]
    public void GoldenSessionFromStepsFile(string folder, string name)
    {
        var c = Golden.Case(folder, name);
        // The command builds the model with the reference video builder's defaults; the case must have been made with them.
        var pp = c.GetProperty("postprocessing");
        Assert.Equal("true", pp.GetProperty("sam_mask_decoder_extra_args.dynamic_multimask_via_stability").GetString());
        Assert.Equal(0.05, double.Parse(pp.GetProperty("sam_mask_decoder_extra_args.dynamic_multimask_stability_delta").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0.98, double.Parse(pp.GetProperty("sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("true", pp.GetProperty("binarize_mask_from_pts_for_mem_enc").GetString());
        Assert.Equal("8", pp.GetProperty("fill_hole_area").GetString());

        // One step per call: the outputs of one propagation share their call number.
        var entries = c.GetProperty("prompts").GetProperty("steps").EnumerateArray().ToList();
        var steps = new List<JsonNode>();
        int? lastCall = null;
        foreach (var e in entries)
        {
            int call = e.GetProperty("call").GetInt32();
            if (call == lastCall) continue;
            lastCall = call;
            var st = JsonNode.Parse(e.GetProperty("step").GetRawText())!.AsObject();
            if (st["op"]!.GetValue<string>() == "add_mask" && st["mask"]!.GetValue<string>() != "empty")
                st["mask"] = Path.Combine(folder, st["mask"]!.GetValue<string>());
            steps.Add(st);
        }
        var stepsFile = WriteSteps(Dir("in"), steps);
        string outDir = Path.Combine(tmp, "masks"), tensors = Path.Combine(tmp, "out.safetensors");
        var (code, err) = RunCli("video", "--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml"),
            "--input", Path.Combine(folder, c.GetProperty("video").GetString()!), "--prompts", stepsFile,
            "--output", outDir, "--save-tensors", tensors);
        Assert.True(code == 0, err);

        var exp = Golden.Tensors(Path.Combine(folder, c.GetProperty("expected").GetString()!));
        var act = Safetensors.LoadStateDict(tensors);
        Assert.Equal(entries.Count, act.Count);
        var lastOfFrame = new Dictionary<int, (int K, IReadOnlyList<int> Ids)>();
        for (int k = 0; k < entries.Count; k++)
        {
            string key = entries[k].GetProperty("key").GetString()!;
            Assert.True(act.ContainsKey($"s{k:D2}_logits"), $"output {k} missing");
            VideoPredictorGoldenTests.AssertStep(key, exp[$"{key}_logits"], act[$"s{k:D2}_logits"]);
            lastOfFrame[entries[k].GetProperty("frame").GetInt32()] = (k, entries[k].GetProperty("obj_ids").EnumerateArray().Select(v => v.GetInt32()).ToList());
        }

        // --output: each frame's last state, as an indexed PNG with the DAVIS palette and value = object id.
        var frameNames = Directory.GetFiles(Path.Combine(folder, c.GetProperty("video").GetString()!)).Select(Path.GetFileNameWithoutExtension).Order().ToList();
        Assert.Equal(lastOfFrame.Keys.Select(f => frameNames[f] + ".png").Order(), Directory.GetFiles(outDir).Select(Path.GetFileName).Order());
        foreach (var (frame, (k, ids)) in lastOfFrame)
        {
            var png = PalettePng.Read(Path.Combine(outDir, frameNames[frame] + ".png"));
            Assert.Equal(PngColorType.Indexed, png.ColorType);
            Assert.Equal(PalettePng.DavisPalette, png.Palette);
            var values = png.Samples.Select(v => (int)v).ToArray();
            // Exactly the label map of the saved logits (which match the reference's above).
            Assert.Equal(LabelMap(act[$"s{k:D2}_logits"], ids), values);
            Assert.Contains(values, v => v != 0);
        }
        Assert.DoesNotContain(Directory.GetFiles(tmp), f => Path.GetFileName(f).StartsWith('.'));
    }

    [Fact]
    public void Mp4InputWithOverlayVideo()
    {
        var folder = Golden.Folders()[0];
        string video = Path.Combine(Golden.SharedDir, "samples", "videos", "01_dog.mp4");
        Assert.True(File.Exists(video), video);
        var stepsFile = WriteSteps(Dir("in"), [
            JsonNode.Parse("""{"op":"add_points","frame":0,"obj_id":1,"points":[[640,400],[100,100]],"labels":[1,0]}""")!,
            JsonNode.Parse("""{"op":"add_box","frame":0,"obj_id":2,"box":[800,100,1200,500]}""")!,
            JsonNode.Parse("""{"op":"propagate","max_frames":3}""")!,
        ]);
        string outDir = Path.Combine(tmp, "masks"), tensors = Path.Combine(tmp, "t.safetensors"), mp4 = Path.Combine(tmp, "overlay.mp4");
        var (code, err) = RunCli("video", "--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml"),
            "--input", video, "--prompts", stepsFile, "--output", outDir, "--save-tensors", tensors, "--overlay-video", mp4);
        Assert.True(code == 0, err);

        var act = Safetensors.LoadStateDict(tensors);
        Assert.Equal(Enumerable.Range(0, 6).Select(k => $"s{k:D2}_logits"), act.Keys.Order());
        Assert.Equal(new long[] { 1, 720, 1280 }, act["s00_logits"].shape);
        for (int k = 1; k < 6; k++) Assert.Equal(new long[] { 2, 720, 1280 }, act[$"s{k:D2}_logits"].shape);
        Assert.Equal(new[] { "00000.png", "00001.png", "00002.png", "00003.png" }, Directory.GetFiles(outDir).Select(Path.GetFileName).Order());
        for (int f = 0; f < 4; f++)
        {
            var png = PalettePng.Read(Path.Combine(outDir, $"{f:D5}.png"));
            Assert.Equal((1280, 720), (png.Width, png.Height));
            Assert.Equal(LabelMap(act[$"s{f + 2:D2}_logits"], [1, 2]), png.Samples.Select(v => (int)v).ToArray());
        }

        var probe = Process.Start(new ProcessStartInfo("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0",
            "-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0", mp4]) { RedirectStandardOutput = true })!;
        string info = probe.StandardOutput.ReadToEnd().Trim();
        probe.WaitForExit();
        Assert.Equal("1280,720,4", info);
        Assert.DoesNotContain(Directory.GetFiles(tmp), f => Path.GetFileName(f).StartsWith('.'));
    }

    public static IEnumerable<object[]> VideoCases() => Golden.CasesOfKind("video");

    public static IEnumerable<object[]> ErrorCases() => new[]
    {
        new object[] { """{"op":"jump","frame":0}""", "step 1 (jump), field 'op': unknown op 'jump'" },
        new object[] { """{"op":"add_points","frame":0,"obj_id":2,"points":[[10,10]]}""", "step 1 (add_points), field 'labels': missing" },
        new object[] { """{"op":"add_box","frame":"3","obj_id":2,"box":[1,2,30,40]}""", "step 1 (add_box), field 'frame': must be an integer" },
        new object[] { """{"op":"add_points","frame":0,"obj_id":2,"points":[[10,10]],"labels":[true]}""", "step 1 (add_points), field 'labels'" },
        new object[] { """{"op":"add_box","frame":10,"obj_id":2,"box":[1,2,30,40]}""", "step 1 (add_box), field 'frame': frame 10 is outside the video (frames 0 to 9)" },
        new object[] { """{"op":"propagate","start_frame":-1}""", "step 1 (propagate), field 'start_frame': frame -1 is outside" },
        new object[] { """{"op":"remove_object","obj_id":7}""", "step 1 (remove_object), field 'obj_id': object 7 was never added" },
        new object[] { """{"op":"clear_prompts","frame":0,"obj_id":7}""", "step 1 (clear_prompts), field 'obj_id': object 7 was never added" },
        new object[] { """{"op":"add_mask","frame":0,"obj_id":2,"mask":"nope.png"}""", "step 1 (add_mask), field 'mask': mask file not found" },
        new object[] { """{"op":"add_mask","frame":0,"obj_id":2,"mask":"small.png"}""", "step 1 (add_mask), field 'mask': …small.png is 10×10, but the video is 320×180" },
        new object[] { """{"op":"add_mask","frame":0,"obj_id":2,"mask":"labels.png","mask_value":3}""", "step 1 (add_mask), field 'mask_value': no pixel of …labels.png has the value 3" },
        new object[] { """{"op":"add_mask","frame":0,"obj_id":2,"mask":"labels.png","mask_value":0}""", "step 1 (add_mask), field 'mask_value': must be a palette index or gray level of at least 1" },
        new object[] { """{"op":"add_mask","frame":0,"obj_id":2,"mask":"empty","mask_value":1}""", "step 1 (add_mask), field 'mask_value': cannot go with \"empty\"" },
        new object[] { """{"op":"add_points","frame":0,"obj_id":2,"points":[[10,10]],"labels":[1],"colour":"red"}""", "step 1 (add_points), field 'colour': unknown field" },
        new object[] { """{"op":"reset"},{"op":"propagate"}""", "step 2 (propagate): no object has a prompt" },
    };

    [Theory]
    [MemberData(nameof(ErrorCases))]
    public void InvalidStepsFailBeforeTheModelAndWriteNothing(string secondStep, string message)
    {
        var folder = Golden.Folders()[0];
        var inDir = Dir("in");
        PalettePng.WriteGray(Path.Combine(inDir, "small.png"), new byte[100], 10, 10);
        WriteLabels(Path.Combine(inDir, "labels.png"));
        var stepsFile = Path.Combine(inDir, "steps.json");
        File.WriteAllText(stepsFile, $$"""{"steps":[{"op":"add_points","frame":0,"obj_id":1,"points":[[100,80]],"labels":[1]},{{secondStep}}]}""");
        var outRoot = Dir("out");
        // An unreadable checkpoint: the steps must be refused before it is ever opened.
        var fakeCheckpoint = Path.Combine(inDir, "model.pt");
        File.WriteAllText(fakeCheckpoint, "not a checkpoint");
        var (code, err) = RunCli("video", "--checkpoint", fakeCheckpoint, "--config", Path.Combine(folder, "config.yaml"),
            "--input", Path.Combine(folder, "inputs", "video"), "--prompts", stepsFile,
            "--output", Path.Combine(outRoot, "masks"), "--save-tensors", Path.Combine(outRoot, "t.safetensors"), "--overlay-video", Path.Combine(outRoot, "o.mp4"));
        Assert.Equal(1, code);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        foreach (var part in message.Split('…')) Assert.Contains(part, lines[0]);
        Assert.Empty(Directory.GetFileSystemEntries(outRoot));
    }

    /// <summary>A 320×180 palette annotation of the golden video's size: object 1 on the left, object 2 on the right.</summary>
    static byte[] WriteLabels(string path)
    {
        var v = new byte[320 * 180];
        for (int y = 40; y < 120; y++)
            for (int x = 0; x < 320; x++)
                v[y * 320 + x] = x is >= 60 and < 120 ? (byte)1 : x is >= 180 and < 260 ? (byte)2 : (byte)0;
        PalettePng.WriteIndexed(path, v, 320, 180, PalettePng.DavisPalette);
        return v;
    }

    [Fact]
    public void MaskValuePromptsOneObjectOfALabelImage()
    {
        var folder = Golden.Folders()[0];
        var inDir = Dir("labels");
        var labels = WriteLabels(Path.Combine(inDir, "labels.png"));
        PalettePng.WriteGray(Path.Combine(inDir, "two.png"), labels.Select(v => v == 2 ? (byte)255 : (byte)0).ToArray(), 320, 180);
        Tensor Run(string name, string mask, string extra)
        {
            var steps = Path.Combine(inDir, name + ".json");
            File.WriteAllText(steps, $$"""{"steps":[{"op":"add_mask","frame":0,"obj_id":5,"mask":"{{mask}}"{{extra}}},{"op":"propagate","max_frames":2}]}""");
            var t = Path.Combine(inDir, name + ".safetensors");
            var (code, err) = RunCli("video", "--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml"),
                "--input", Path.Combine(folder, "inputs", "video"), "--prompts", steps, "--save-tensors", t);
            Assert.True(code == 0, err);
            return cat(Safetensors.LoadStateDict(t).OrderBy(kv => kv.Key).Select(kv => kv.Value).ToArray());
        }
        var byValue = Run("value", "labels.png", ",\"mask_value\":2");
        var byFile = Run("file", "two.png", "");
        var union = Run("union", "labels.png", "");
        Assert.Equal(0.0, Golden.MaxAbsDiff(byValue, byFile));
        Assert.True(Golden.MaxAbsDiff(byValue, union) > 0, "without mask_value every labelled pixel is the object");
    }

    [Fact]
    public void ErrorWhileRunningLeavesNoOutput()
    {
        var folder = Golden.Folders()[0];
        // Valid on paper, but after the clear the object's only prompt is a correction on a tracked frame,
        // so it has no conditioning frame and the predictor fails when it tracks that frame.
        var stepsFile = WriteSteps(Dir("in"), [
            JsonNode.Parse("""{"op":"add_points","frame":0,"obj_id":1,"points":[[144,108]],"labels":[1]}""")!,
            JsonNode.Parse("""{"op":"propagate","max_frames":1}""")!,
            JsonNode.Parse("""{"op":"clear_prompts","frame":0,"obj_id":1}""")!,
            JsonNode.Parse("""{"op":"add_points","frame":1,"obj_id":1,"points":[[144,108]],"labels":[1]}""")!,
            JsonNode.Parse("""{"op":"propagate"}""")!,
        ]);
        var outRoot = Dir("out");
        var (code, err) = RunCli("video", "--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml"),
            "--input", Path.Combine(folder, "inputs", "video"), "--prompts", stepsFile,
            "--output", Path.Combine(outRoot, "masks"), "--save-tensors", Path.Combine(outRoot, "t.safetensors"));
        Assert.Equal(1, code);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: step 3 (add_points): ", lines[0]);
        Assert.Empty(Directory.GetFileSystemEntries(outRoot));
    }

    [Fact]
    public void NonEmptyOutputFolderIsRefused()
    {
        var folder = Golden.Folders()[0];
        var stepsFile = WriteSteps(Dir("in"), [JsonNode.Parse("""{"op":"add_points","frame":0,"obj_id":1,"points":[[144,108]],"labels":[1]}""")!]);
        var masks = Dir("masks");
        File.WriteAllText(Path.Combine(masks, "keep.txt"), "mine");
        var (code, err) = RunCli("video", "--checkpoint", Path.Combine(folder, "model.pt"), "--input", Path.Combine(folder, "inputs", "video"),
            "--prompts", stepsFile, "--output", masks);
        Assert.Equal(1, code);
        Assert.Contains("is not empty", err);
        Assert.Equal(new[] { "keep.txt" }, Directory.GetFiles(masks).Select(Path.GetFileName));
    }

    /// <summary>Runs one add_points step with an unreadable checkpoint: a refusal naming an output came before the model.</summary>
    (int Code, string Line) RunBeforeModel(params string[] outputs)
    {
        var folder = Golden.Folders()[0];
        var inDir = Dir("in");
        var stepsFile = WriteSteps(inDir, [JsonNode.Parse("""{"op":"add_points","frame":0,"obj_id":1,"points":[[144,108]],"labels":[1]}""")!]);
        var fake = Path.Combine(inDir, "model.pt");
        File.WriteAllText(fake, "not a checkpoint");
        var (code, err) = RunCli(["video", "--checkpoint", fake, "--config", Path.Combine(folder, "config.yaml"),
            "--input", Path.Combine(folder, "inputs", "video"), "--prompts", stepsFile, .. outputs]);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        return (code, lines[0]);
    }

    [Fact]
    public void OutputsThatAreNotRegularFilesAreRefusedAndKept()
    {
        var outRoot = Dir("out");
        File.WriteAllText(Path.Combine(outRoot, "real"), "keep");
        File.CreateSymbolicLink(Path.Combine(outRoot, "t.safetensors"), Path.Combine(outRoot, "real"));
        StagedOutputsTests.MakeFifo(Path.Combine(outRoot, "o.mp4"));
        foreach (var (option, path, kind) in new[] {
            ("--save-tensors", Path.Combine(outRoot, "t.safetensors"), "a symbolic link"),
            ("--overlay-video", Path.Combine(outRoot, "o.mp4"), "a FIFO (named pipe)"),
            ("--save-tensors", "/dev/full", "a character device") })
        {
            var (code, line) = RunBeforeModel("--output", Path.Combine(outRoot, "masks"), option, path);
            Assert.Equal(1, code);
            Assert.Equal($"error: {option} {path} exists and is {kind}; refusing to replace it (give a new name)", line);
        }
        Assert.Equal(["o.mp4", "real", "t.safetensors"], Directory.GetFileSystemEntries(outRoot).Select(Path.GetFileName).Order());
        Assert.Equal("keep", File.ReadAllText(Path.Combine(outRoot, "t.safetensors")));
        Assert.Equal(FileKindType.CharacterDevice, FileKind.Of("/dev/full"));
    }

    [Theory]
    [InlineData("1e300")]
    [InlineData("0")]
    [InlineData("NaN")]
    public void AbsurdFrameRateIsRefusedBeforeTheModel(string fps)
    {
        var outRoot = Dir("out");
        var (code, line) = RunBeforeModel("--overlay-video", Path.Combine(outRoot, "o.mp4"), "--fps", fps);
        Assert.Equal(1, code);
        Assert.StartsWith("error: --fps must be a number above 0 and at most 1000", line);
        Assert.Empty(Directory.GetFileSystemEntries(outRoot));
    }

    [Fact]
    public void UnwritableOutputFolderIsRefusedBeforeTheModel()
    {
        var (code, line) = RunBeforeModel("--save-tensors", "/proc/sam2-t.safetensors");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --save-tensors /proc/sam2-t.safetensors: cannot write in the folder /proc", line);
    }

    [Fact]
    public void ASecondRunWritingTheSameNamesFails()
    {
        var outRoot = Dir("out");
        string tensors = Path.Combine(outRoot, "t.safetensors");
        using (StagedOutputs.Open([new OutputTarget("another run", tensors)]))
        {
            var (code, line) = RunBeforeModel("--output", Path.Combine(outRoot, "masks"), "--save-tensors", tensors);
            Assert.Equal(1, code);
            Assert.StartsWith($"error: --save-tensors {tensors} is being written by another run", line);
        }
        Assert.Empty(Directory.GetFileSystemEntries(outRoot));
    }
}
