using System.CommandLine;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Imaging;
using Sam2Sharp.IO;
using Sam2Sharp.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

public sealed class TrainingDataTests : IDisposable
{
    readonly string tmp = Path.Combine(Path.GetTempPath(), "sam2-traindata-" + Guid.NewGuid().ToString("N"));
    public void Dispose() { if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true); }

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();

    static string Samples => Path.Combine(Golden.SharedDir, "samples");
    static string[] Backgrounds => [Path.Combine(Samples, "videos", "bedroom"), Path.Combine(Samples, "images", "groceries.jpg")];
    static string GoldenVos => Path.Combine(Golden.SharedDir, "golden", "sam2.1-micro", "vos");

    SyntheticVosResult Synth(string name, int videos = 3, int frames = 5, int w = 64, int h = 48, int objects = 2, int seed = 7, int val = 0,
        IReadOnlyList<string>? backgrounds = null) =>
        SyntheticVos.Generate(Path.Combine(tmp, name), new SyntheticVosOptions
        {
            Videos = videos, Frames = frames, Width = w, Height = h, Objects = objects, Seed = seed, ValVideos = val,
            Backgrounds = backgrounds ?? Backgrounds,
        });

    [Fact]
    public void Synthetic_dataset_is_read_back_with_its_split()
    {
        var s = Synth("d", videos: 3, frames: 5, objects: 2, val: 1);
        var train = VosRawDataset.Open(s.ImageFolder, s.AnnotationFolder, new VosRawDatasetOptions { FileList = s.TrainList });
        var val = VosRawDataset.Open(s.ImageFolder, s.AnnotationFolder, new VosRawDatasetOptions { FileList = s.ValList });
        var all = VosRawDataset.OpenRoot(s.Root);
        Assert.Equal(VosLayout.Palette, train.Layout);
        Assert.Equal(new[] { "synth_0000", "synth_0001", "synth_0002" }, train.Videos.Select(v => v.Name));
        Assert.Equal(new[] { "synth_val_0000" }, val.Videos.Select(v => v.Name));
        Assert.Equal(4, all.Videos.Count);
        foreach (var v in all.Videos)
        {
            Assert.Equal((64, 48), (v.Width, v.Height));
            Assert.Equal(new[] { 0, 1, 2, 3, 4 }, v.Frames.Select(f => f.FrameId));
            Assert.Equal(new[] { 1, 2 }, v.Frames[0].VisibleObjectIds); // every object shows on the first frame
            using var m = v.LoadMasks(0, new[] { 2, 1 });
            Assert.Equal(new long[] { 2, 48, 64 }, m.shape);
            Assert.True(m.sum(new long[] { 1, 2 }).ge(16).all().item<bool>());
            Assert.Equal(0L, (m[0] * m[1]).sum().item<long>()); // palette masks do not overlap
        }
        // The annotation is a palette PNG with the DAVIS palette, the frame a JPEG.
        var png = PalettePng.Read(Path.Combine(s.AnnotationFolder, "synth_0000", "00000.png"));
        Assert.Equal(PngColorType.Indexed, png.ColorType);
        Assert.Equal(PalettePng.DavisPalette, png.Palette);
        var jpg = File.ReadAllBytes(Path.Combine(s.ImageFolder, "synth_0000", "00000.jpg"));
        Assert.Equal(new byte[] { 0xFF, 0xD8 }, jpg[..2]);
    }

    [Fact]
    public void Synthetic_generation_is_deterministic_and_moves_objects()
    {
        var a = Synth("a", videos: 2, frames: 4, seed: 11, val: 1);
        var b = Synth("b", videos: 2, frames: 4, seed: 11); // no val: the training videos do not depend on it
        var c = Synth("c", videos: 2, frames: 4, seed: 12);
        foreach (var v in b.TrainVideos)
            for (int t = 0; t < 4; t++)
            {
                string f = $"{t:D5}";
                Assert.Equal(File.ReadAllBytes(Path.Combine(a.ImageFolder, v, f + ".jpg")), File.ReadAllBytes(Path.Combine(b.ImageFolder, v, f + ".jpg")));
                Assert.Equal(File.ReadAllBytes(Path.Combine(a.AnnotationFolder, v, f + ".png")), File.ReadAllBytes(Path.Combine(b.AnnotationFolder, v, f + ".png")));
            }
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(a.AnnotationFolder, "synth_0000", "00000.png")),
                        File.ReadAllBytes(Path.Combine(c.AnnotationFolder, "synth_0000", "00000.png")));
        // Objects move: the masks of the first and last frame differ.
        var m0 = PalettePng.ReadMask(Path.Combine(a.AnnotationFolder, "synth_0000", "00000.png")).Values;
        var m3 = PalettePng.ReadMask(Path.Combine(a.AnnotationFolder, "synth_0000", "00003.png")).Values;
        Assert.NotEqual(m0, m3);
    }

    [Fact]
    public void Synth_command_writes_a_dataset_and_refuses_bad_options()
    {
        var outDir = Path.Combine(tmp, "cli");
        var root = new RootCommand { SynthCommand.Create() };
        int rc = root.Parse(["synth", "--output", outDir, "--videos", "2", "--frames", "3", "--size", "40x32", "--seed", "5", "--objects", "2",
            "--backgrounds", Backgrounds[1], "--split-val", "1"]).Invoke();
        Assert.Equal(0, rc);
        var ds = VosRawDataset.OpenRoot(outDir);
        Assert.Equal(3, ds.Videos.Count);
        Assert.Equal(new[] { "synth_0000", "synth_0001" }, File.ReadAllLines(Path.Combine(outDir, "ImageSets", "train.txt")));
        Assert.Equal(new[] { "synth_val_0000" }, File.ReadAllLines(Path.Combine(outDir, "ImageSets", "val.txt")));
        Assert.Equal((40, 32), (ds.Videos[0].Width, ds.Videos[0].Height));
        Assert.Equal(1, root.Parse(["synth", "--output", Path.Combine(tmp, "bad"), "--size", "40by32"]).Invoke());
        Assert.Equal(1, root.Parse(["synth", "--output", outDir]).Invoke()); // not empty
    }

    VosDataset TrainSet(string name, int batch = 2, int frames = 3, int objects = 2, int size = 32)
    {
        var s = Synth(name, videos: 3, frames: 5, objects: 3);
        var raw = VosRawDataset.OpenRoot(s.Root);
        return new VosDataset(raw, new VosSampler(frames, objects), VosTransforms.Train(size), batchSize: batch, multiplier: 2);
    }

    [Fact]
    public void Batches_have_the_shapes_and_dtypes_of_BatchedVideoDatapoint()
    {
        IVosBatchSource source = TrainSet("shapes");
        using var batch = source.Next(0, new Random(1));
        Assert.Equal(new long[] { 3, 2, 3, 32, 32 }, batch.ImgBatch.shape);
        Assert.Equal(ScalarType.Float32, batch.ImgBatch.dtype);
        Assert.Equal(ScalarType.Int32, batch.ObjToFrameIdx.dtype);
        Assert.Equal(ScalarType.Bool, batch.Masks.dtype);
        long o = batch.ObjToFrameIdx.shape[1];
        Assert.Equal(4, o); // 2 videos × min(3 visible, 2)
        Assert.Equal(new long[] { 3, o, 2 }, batch.ObjToFrameIdx.shape);
        Assert.Equal(new long[] { 3, o, 32, 32 }, batch.Masks.shape);
        var idx = batch.ObjToFrameIdx.data<int>().ToArray();
        for (int t = 0; t < 3; t++)
            for (int k = 0; k < o; k++)
            {
                Assert.Equal(t, idx[(t * o + k) * 2]);
                Assert.Equal(k < 2 ? 0 : 1, idx[(t * o + k) * 2 + 1]);
            }
        // Every object is visible on the first frame of its clip; pictures are normalised (ImageNet mean/std).
        Assert.True(batch.Masks[0].flatten(1).any(1).all().item<bool>());
        double mean = batch.ImgBatch.mean().item<float>();
        Assert.InRange(mean, -2.2, 2.7);
        Assert.True(batch.ImgBatch.min().item<float>() >= -2.12f && batch.ImgBatch.max().item<float>() <= 2.65f);
        using var flat = batch.FlatObjToImgIdx;
        Assert.Equal(new long[] { 3, o }, flat.shape);
    }

    [Fact]
    public void Batches_are_deterministic_with_a_seed()
    {
        var ds1 = TrainSet("det1");
        var ds2 = new VosDataset(ds1.Raw, ds1.Sampler, ds1.Transforms, batchSize: 2, multiplier: 2);
        for (int i = 0; i < 2; i++)
        {
            var r1 = new Random(42 + i); var r2 = new Random(42 + i);
            using var a = ds1.Next(i, r1);
            using var b = ds2.Next(i, r2);
            Assert.True(Same(a.ImgBatch, b.ImgBatch));
            Assert.True(Same(a.Masks, b.Masks));
            Assert.True(Same(a.ObjToFrameIdx, b.ObjToFrameIdx));
        }
        var ds3 = new VosDataset(ds1.Raw, ds1.Sampler, ds1.Transforms, batchSize: 2, multiplier: 2);
        using var c = ds3.Next(0, new Random(43));
        var ds4 = new VosDataset(ds1.Raw, ds1.Sampler, ds1.Transforms, batchSize: 2, multiplier: 2);
        using var d = ds4.Next(0, new Random(44));
        Assert.False(Same(c.ImgBatch, d.ImgBatch));
    }

    [Fact]
    public void An_epoch_visits_every_video_multiplier_times()
    {
        var s = Synth("epoch", videos: 3, frames: 3, w: 32, h: 32, objects: 1, backgrounds: []);
        var ds = new VosDataset(VosRawDataset.OpenRoot(s.Root), new VosSampler(2, 1), VosTransforms.Eval(16), batchSize: 2, multiplier: 2);
        Assert.Equal(6, ds.Length);
        var rng = new Random(3);
        var names = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            var clips = ds.NextClips(i, rng);
            names.AddRange(clips.Select(c => c.VideoName));
            foreach (var c in clips) c.Dispose();
        }
        Assert.All(s.TrainVideos, v => Assert.Equal(2, names.Count(n => n == v)));
    }

    [Fact]
    public void A_step_draws_the_same_videos_whether_or_not_earlier_steps_ran()
    {
        var s = Synth("resume-order", videos: 5, frames: 3, w: 32, h: 32, objects: 1, backgrounds: []);
        var raw = VosRawDataset.OpenRoot(s.Root);
        VosDataset Make(int seed) => new(raw, new VosSampler(2, 1), VosTransforms.Eval(16), batchSize: 2, multiplier: 1, shuffleSeed: seed);
        List<string> Videos(VosDataset ds, long step)
        {
            var clips = ds.NextClips(step, new Random(0));
            try { return clips.Select(c => c.VideoName).ToList(); }
            finally { foreach (var c in clips) c.Dispose(); }
        }
        var straight = Make(7);
        var seen = Enumerable.Range(0, 8).Select(step => Videos(straight, step)).ToList();
        var resumed = Make(7); // a new process resuming at step 6 (epoch 2, straddling into epoch 3 at step 7)
        Assert.Equal(seen[6], Videos(resumed, 6));
        Assert.Equal(seen[7], Videos(resumed, 7));
        Assert.Equal(seen[2], Videos(resumed, 2));
        // Epochs are reshuffled, and the shuffle follows the seed.
        var epochs = seen.SelectMany(v => v).Chunk(5).Take(3).Select(e => string.Join(",", e)).ToList();
        Assert.True(epochs.Distinct().Count() > 1, string.Join(" | ", epochs));
        var other = Make(8);
        Assert.NotEqual(string.Join(",", seen.SelectMany(v => v)), string.Join(",", Enumerable.Range(0, 8).SelectMany(step => Videos(other, step))));
    }

    [Fact]
    public void Sampler_draws_consecutive_frames_forwards_or_backwards_and_at_most_M_objects()
    {
        var s = Synth("sampler", videos: 1, frames: 6, w: 32, h: 32, objects: 3, backgrounds: []);
        var video = VosRawDataset.OpenRoot(s.Root).Videos[0];
        var rng = new Random(4);
        var forward = new VosSampler(4, 2);
        var backward = new VosSampler(4, 5, reverseTimeProb: 1.0);
        var starts = new HashSet<int>();
        for (int i = 0; i < 30; i++)
        {
            var f = forward.Sample(video, rng);
            Assert.Equal(Enumerable.Range(f.FrameIndices[0], 4), f.FrameIndices);
            Assert.Equal(2, f.ObjectIds.Count);
            Assert.Equal(2, f.ObjectIds.Distinct().Count());
            Assert.All(f.ObjectIds, id => Assert.Contains(id, video.Frames[f.FrameIndices[0]].VisibleObjectIds));
            starts.Add(f.FrameIndices[0]);
            var b = backward.Sample(video, rng);
            Assert.Equal(Enumerable.Range(b.FrameIndices[^1], 4).Reverse(), b.FrameIndices);
            Assert.Equal(video.Frames[b.FrameIndices[0]].VisibleObjectIds.Count, b.ObjectIds.Count);
        }
        Assert.True(starts.Count > 1);
        var e = Assert.Throws<Sam2Exception>(() => new VosSampler(7, 1).Check(video));
        Assert.Contains("synth_0000", e.Message);
    }

    [Fact]
    public void Objects_absent_from_a_later_frame_get_empty_masks()
    {
        var s = Synth("absent", videos: 1, frames: 3, w: 32, h: 32, objects: 2, backgrounds: []);
        var png = Path.Combine(s.AnnotationFolder, "synth_0000", "00002.png");
        var m = PalettePng.ReadMask(png);
        PalettePng.WriteIndexed(png, m.Values.Select(v => v == 2 ? (byte)0 : (byte)v).ToArray(), 32, 32, PalettePng.DavisPalette);
        var ds = new VosDataset(VosRawDataset.OpenRoot(s.Root), new VosSampler(3, 2), VosTransforms.Eval(32));
        var clip = ds.NextClips(0, new Random(0))[0];
        Assert.Equal(new[] { 0, 1, 2 }, clip.FrameIds);
        int k = clip.ObjectIds.ToList().IndexOf(2);
        Assert.Equal(0L, clip.Masks[2][k].sum().item<long>());
        Assert.True(clip.Masks[0][k].sum().item<long>() > 0);
        clip.Dispose();
    }

    /// <summary>A picture red inside a 0/1 mask, blue outside, as a one-frame clip.</summary>
    static VosClip PatternClip(Tensor mask)
    {
        var m = mask.to_type(ScalarType.Float32);
        var pic = torch.stack(new[] { m * 255, torch.zeros_like(m), (1 - m) * 255 }, 0);
        return new VosClip("pattern", 0, new[] { 0 }, new[] { 1 }, [pic], [mask.unsqueeze(0).to_type(ScalarType.Byte)]);
    }

    static void AssertBinaryAndAligned(VosClip clip, double minAgreement)
    {
        var mask = clip.Masks[0][0];
        Assert.True(mask.le(1).all().item<bool>());
        var red = clip.Frames[0][0].gt(127.5);
        var blue = clip.Frames[0][2].gt(127.5);
        long on = mask.sum().item<long>();
        Assert.True(on > 0);
        double inside = red.logical_and(mask.to_type(ScalarType.Bool)).sum().item<long>() / (double)on;
        long offCount = blue.sum().item<long>();
        double outside = blue.logical_and(mask.eq(0)).sum().item<long>() / (double)offCount;
        Assert.True(inside >= minAgreement, $"red on {inside:P1} of the mask");
        Assert.True(outside >= minAgreement, $"blue off the mask on {outside:P1}");
    }

    [Fact]
    public void Flip_moves_picture_and_mask_together()
    {
        var mask = torch.zeros(6, 8, ScalarType.Byte);
        mask[2, 1] = 1; mask[3, 1] = 1; mask[3, 2] = 1;
        using var clip = PatternClip(mask);
        VosTransforms.HorizontalFlip(clip, new Random(0), p: 1.0);
        var expected = torch.zeros(6, 8, ScalarType.Byte);
        expected[2, 6] = 1; expected[3, 6] = 1; expected[3, 5] = 1;
        Assert.True(Same(clip.Masks[0][0], expected));
        Assert.True(Same(clip.Frames[0][0].eq(255), expected.to_type(ScalarType.Bool)));
    }

    [Fact]
    public void Affine_and_resize_keep_masks_binary_and_aligned()
    {
        var mask = torch.zeros(60, 80, ScalarType.Byte);
        mask[TensorIndex.Slice(15, 40), TensorIndex.Slice(20, 55)] = 1;
        mask[TensorIndex.Slice(40, 50), TensorIndex.Slice(30, 35)] = 1;
        using var clip = PatternClip(mask);
        VosTransforms.Affine(clip, 0, new AffineParams(30, 3, -2, 1.1, 15, 0), (123, 116, 103));
        Assert.Equal(new long[] { 1, 60, 80 }, clip.Masks[0].shape);
        AssertBinaryAndAligned(clip, 0.97);
        // A pure translation by whole pixels moves the mask exactly.
        using var clip2 = PatternClip(mask);
        VosTransforms.Affine(clip2, 0, new AffineParams(0, 5, 3, 1, 0, 0), (0, 0, 0));
        Assert.True(Same(clip2.Masks[0][0], torch.roll(mask, new long[] { 3, 5 }, new long[] { 0, 1 })));
        VosTransforms.Resize(clip, 40);
        Assert.Equal(new long[] { 3, 40, 40 }, clip.Frames[0].shape);
        Assert.Equal(new long[] { 1, 40, 40 }, clip.Masks[0].shape);
        AssertBinaryAndAligned(clip, 0.95);
        // The picture outside the warped frame is the fill.
        var corner = clip2.Frames[0][TensorIndex.Colon, 0, 0];
        Assert.Equal(new float[] { 0, 0, 0 }, corner.data<float>().ToArray());
    }

    [Fact]
    public void Affine_is_skipped_when_an_object_would_leave_the_first_frame()
    {
        var mask = torch.zeros(20, 20, ScalarType.Byte);
        mask[0, 0] = 1; // a corner pixel that most rotations move out of the picture
        var o = new VosTransformOptions { Degrees = 45, Shear = 0 };
        var rng = new Random(5);
        int skipped = 0;
        for (int i = 0; i < 20; i++)
        {
            using var clip = PatternClip(mask);
            var before = clip.Frames[0].clone();
            if (VosTransforms.RandomAffine(clip, rng, o)) continue;
            skipped++;
            Assert.True(Same(clip.Masks[0][0], mask));
            Assert.True(Same(clip.Frames[0], before));
        }
        Assert.InRange(skipped, 1, 19);
    }

    [Fact]
    public void Full_training_transforms_keep_masks_binary_and_aligned()
    {
        var mask = torch.zeros(48, 64, ScalarType.Byte);
        mask[TensorIndex.Slice(10, 38), TensorIndex.Slice(12, 44)] = 1;
        var rng = new Random(9);
        for (int k = 0; k < 6; k++)
        {
            using var clip = PatternClip(mask);
            var o = new VosTransformOptions { ColorJitter1 = null, ColorJitter2 = null, GrayscaleProb = 0 };
            VosTransforms.HorizontalFlip(clip, rng, o.FlipProb);
            VosTransforms.RandomAffine(clip, rng, o);
            VosTransforms.Resize(clip, 32);
            AssertBinaryAndAligned(clip, 0.93);
        }
        // With colour jitter and normalisation the masks stay 0/1 and the pictures become normalised floats.
        using var c2 = PatternClip(mask);
        VosTransforms.Train(32).Apply(c2, new Random(2));
        Assert.True(c2.IsNormalized);
        Assert.True(c2.Masks[0].le(1).all().item<bool>());
        Assert.Equal(ScalarType.Byte, c2.Masks[0].dtype);
    }

    [Fact]
    public void Colour_steps_follow_pil_enhance()
    {
        var x = torch.tensor(new float[] { 200, 10, 100, 50 }, new long[] { 1, 2, 2 }).expand(3, 2, 2).contiguous();
        Assert.Equal(new float[] { 220, 11, 110, 55 }, VosTransforms.AdjustBrightness(x, 1.1)[0].flatten().data<float>().ToArray());
        var rgb = torch.tensor(new float[] { 255, 0, 0 }).view(3, 1, 1);
        Assert.Equal(76f, VosTransforms.Luma(rgb).item<float>()); // PIL: L of pure red is 76
        var gray = VosTransforms.AdjustSaturation(rgb, 0);
        Assert.Equal(new float[] { 76, 76, 76 }, gray.flatten().data<float>().ToArray());
    }

    // ------------------------------------------------------------------ validation

    [Fact]
    public void Missing_mask_is_refused_naming_video_and_frame()
    {
        var s = Synth("missing", videos: 3, frames: 3, w: 32, h: 32);
        File.Delete(Path.Combine(s.AnnotationFolder, "synth_0001", "00001.png"));
        var e = Assert.Throws<Sam2Exception>(() => VosRawDataset.OpenRoot(s.Root));
        Assert.Contains("synth_0001", e.Message);
        Assert.Contains("00001", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        // With several broken videos, the first by name is reported (videos are read in parallel).
        File.Delete(Path.Combine(s.AnnotationFolder, "synth_0002", "00000.png"));
        for (int i = 0; i < 3; i++) Assert.Contains("synth_0001", Assert.Throws<Sam2Exception>(() => VosRawDataset.OpenRoot(s.Root)).Message);
        File.Delete(Path.Combine(s.AnnotationFolder, "synth_0002", "00001.png"));
        File.Delete(Path.Combine(s.AnnotationFolder, "synth_0002", "00002.png"));
        // Skipping unannotated frames is an explicit choice.
        var e1 = Assert.Throws<Sam2Exception>(() => VosRawDataset.OpenRoot(s.Root, new VosRawDatasetOptions { SkipUnannotatedFrames = true }));
        Assert.Contains("synth_0002", e1.Message); // a video with no annotation at all
        File.WriteAllLines(Path.Combine(s.Root, "two.txt"), ["synth_0000", "synth_0001"]);
        var ds = VosRawDataset.OpenRoot(s.Root, new VosRawDatasetOptions { SkipUnannotatedFrames = true, FileList = Path.Combine(s.Root, "two.txt") });
        Assert.Equal(new[] { 0, 2 }, ds.Videos[1].Frames.Select(f => f.FrameId));
        var e2 = Assert.Throws<Sam2Exception>(() => new VosDataset(ds, new VosSampler(3, 1), VosTransforms.Eval(16)));
        Assert.Contains("synth_0001", e2.Message);
    }

    [Fact]
    public void Size_mismatch_is_refused()
    {
        var s = Synth("size", videos: 2, frames: 3, w: 32, h: 32);
        PalettePng.WriteIndexed(Path.Combine(s.AnnotationFolder, "synth_0000", "00002.png"), new byte[16 * 16], 16, 16, PalettePng.DavisPalette);
        var e = Assert.Throws<Sam2Exception>(() => VosRawDataset.OpenRoot(s.Root));
        Assert.Contains("synth_0000", e.Message);
        Assert.Contains("00002", e.Message);
        Assert.Contains("16x16", e.Message);
    }

    [Fact]
    public void Video_without_objects_is_refused()
    {
        var s = Synth("noobj", videos: 2, frames: 3, w: 32, h: 32);
        foreach (var f in Directory.GetFiles(Path.Combine(s.AnnotationFolder, "synth_0001")))
            PalettePng.WriteIndexed(f, new byte[32 * 32], 32, 32, PalettePng.DavisPalette);
        var e = Assert.Throws<Sam2Exception>(() => VosRawDataset.OpenRoot(s.Root));
        Assert.Contains("synth_0001", e.Message);
        Assert.Contains("no objects", e.Message);
    }

    static string GoldenMicro => Path.Combine(Golden.SharedDir, "golden", "sam2.1-micro");

    /// <summary>A run YAML beside a synthetic dataset: its training videos (all of them when it has no split).</summary>
    static string WriteRunYaml(SyntheticVosResult s, string rest) =>
        WriteRunYaml(s.Root, "JPEGImages", "Annotations", File.Exists(s.TrainList) ? "ImageSets/train.txt" : null, rest);

    /// <summary>run.yaml in <paramref name="dir"/>: the golden micro model, 2-frame clips of the given folders,
    /// output in out/, then <paramref name="rest"/> (more sections).</summary>
    internal static string WriteRunYaml(string dir, string imgFolder, string gtFolder, string? fileList, string rest)
    {
        var yaml = Path.Combine(dir, "run.yaml");
        File.WriteAllText(yaml, $"""
            model:
              config: {Path.Combine(GoldenMicro, "config.yaml")}
              checkpoint: {Path.Combine(GoldenMicro, "model.pt")}
            data:
              img_folder: {imgFolder}
              gt_folder: {gtFolder}
              {(fileList is null ? "" : "file_list_txt: " + fileList)}
              num_frames: 2
            output: out

            """ + rest);
        return yaml;
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("size")]
    [InlineData("noobj")]
    public void Sam2_train_refuses_a_broken_dataset_in_one_line_before_training(string fault)
    {
        var s = Synth("cli-" + fault, videos: 2, frames: 3, w: 32, h: 32);
        var video = Path.Combine(s.AnnotationFolder, "synth_0001");
        switch (fault)
        {
            case "missing": File.Delete(Path.Combine(video, "00001.png")); break;
            case "size": PalettePng.WriteIndexed(Path.Combine(video, "00001.png"), new byte[16 * 16], 16, 16, PalettePng.DavisPalette); break;
            default:
                foreach (var f in Directory.GetFiles(video)) PalettePng.WriteIndexed(f, new byte[32 * 32], 32, 32, PalettePng.DavisPalette);
                break;
        }
        var yaml = WriteRunYaml(s, """
            run:
              steps: 1
            """);
        var (code, err) = TestCli.RunCapturingErrors(TrainCommand.Create(TrainCommand.OpenVosDataset), "train", "-c", yaml, "-q");
        Assert.Equal(1, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("synth_0001", err);
        Assert.False(Directory.Exists(Path.Combine(s.Root, "out")), "no run folder is made for a dataset that is refused");
    }

    [Fact]
    public void Sam2_train_scores_the_held_out_split_as_sam2_vos_and_sam2_eval_do()
    {
        var s = Synth("heldout", videos: 2, frames: 3, w: 64, h: 48, objects: 2, val: 1);
        var model = GoldenMicro;
        var yaml = WriteRunYaml(s, """
            optim:
              base_lr: 1.0e-3
              vision_lr: 1.0e-3
            run:
              steps: 2
            eval:
              file_list_txt: ImageSets/val.txt
              every: 1
            """);
        var train = TrainCommand.Create(TrainCommand.OpenVosDataset);
        var (code, err) = TestCli.RunCapturingErrors(train, "train", "-c", yaml, "-q");
        Assert.True(code == 0, err);
        var evalLog = Path.Combine(s.Root, "out", "eval", "eval_log.jsonl");
        List<(long Step, double JF)> Lines() => File.ReadAllLines(evalLog).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement)
            .Select(e => (e.GetProperty("step").GetInt64(), e.GetProperty("J&F").GetDouble())).ToList();
        var lines = Lines();
        Assert.Equal(new long[] { 0, 1, 2 }, lines.Select(l => l.Step));
        Assert.All(lines, l => Assert.InRange(l.JF, 0, 100));
        Assert.Equal(new[] { "synth_val_0000" }, Directory.GetDirectories(Path.Combine(s.Root, "out", "eval", "step_000002")).Select(Path.GetFileName));

        // The last evaluation is what the two commands give for the saved checkpoint.
        var pred = Path.Combine(s.Root, "pred");
        Assert.Equal(0, TestCli.Run(VosCommand.Create(), "vos", "--checkpoint", Path.Combine(s.Root, "out", "checkpoint.pt"),
            "--config", Path.Combine(model, "config.yaml"), "--base-video-dir", s.ImageFolder, "--input-mask-dir", s.AnnotationFolder,
            "--video-list-file", s.ValList, "--output-mask-dir", pred, "-q"));
        var scored = Sam2Sharp.Evaluation.VosBenchmark.Run(s.AnnotationFolder, pred, new() { Strict = false });
        Assert.Equal(Math.Round(scored.GlobalJF, 4), lines[2].JF, 6);
        foreach (var png in Directory.GetFiles(Path.Combine(pred, "synth_val_0000")))
            Assert.Equal(File.ReadAllBytes(png), File.ReadAllBytes(Path.Combine(s.Root, "out", "eval", "step_000002", "synth_val_0000", Path.GetFileName(png))));

        // Resuming the finished run redoes only the final evaluation.
        Assert.Equal(0, TestCli.Run(train, "train", "-c", yaml, "-q", "--resume"));
        Assert.Equal(lines, Lines());
    }

    [Fact]
    public void Empty_dataset_is_refused()
    {
        var root = Path.Combine(tmp, "empty");
        Directory.CreateDirectory(Path.Combine(root, "JPEGImages"));
        Directory.CreateDirectory(Path.Combine(root, "Annotations"));
        var e = Assert.Throws<Sam2Exception>(() => VosRawDataset.OpenRoot(root));
        Assert.Contains("empty dataset", e.Message);
        File.WriteAllText(Path.Combine(root, "list.txt"), "\n");
        var e2 = Assert.Throws<Sam2Exception>(() => VosRawDataset.OpenRoot(root, new VosRawDatasetOptions { FileList = Path.Combine(root, "list.txt") }));
        Assert.Contains("empty dataset", e2.Message);
        var e3 = Assert.Throws<Sam2Exception>(() => VosRawDataset.OpenRoot(Path.Combine(tmp, "nowhere")));
        Assert.Contains("not found", e3.Message);
    }

    // ------------------------------------------------------------------ golden folder

    [Fact]
    public void Golden_vos_folder_loads_in_both_layouts()
    {
        // Only the first frame is annotated there (it is a prompt for inference): by default that is refused …
        var e = Assert.Throws<Sam2Exception>(() => VosRawDataset.OpenRoot(GoldenVos));
        Assert.Contains("bedroom_a", e.Message);
        Assert.Contains("00001", e.Message);
        // … and with unannotated frames skipped, each video gives one-frame clips.
        var opts = new VosRawDatasetOptions { SkipUnannotatedFrames = true };
        var davis = VosRawDataset.OpenRoot(GoldenVos, opts);
        var sav = VosRawDataset.Open(Path.Combine(GoldenVos, "JPEGImages"), Path.Combine(GoldenVos, "Annotations_per_object"), opts);
        Assert.Equal(VosLayout.Palette, davis.Layout);
        Assert.Equal(VosLayout.PerObject, sav.Layout);
        Assert.Equal(new[] { "bedroom_a", "bedroom_b" }, davis.Videos.Select(v => v.Name));
        for (int i = 0; i < 2; i++)
        {
            var (d, s) = (davis.Videos[i], sav.Videos[i]);
            Assert.Single(d.Frames);
            var (w, h) = RgbImage.ReadSize(d.Frames[0].ImagePath);
            Assert.Equal((w, h), (d.Width, d.Height));
            Assert.Equal(d.ObjectIds.Count, s.ObjectIds.Count);
            using var md = d.LoadMasks(0, d.ObjectIds);
            using var ms = s.LoadMasks(0, s.ObjectIds);
            Assert.True(md.sum(new long[] { 1, 2 }).gt(0).all().item<bool>());
            Assert.True(Same(md, ms), "palette and per-object annotations of the golden video agree");
        }
        var ds = new VosDataset(davis, new VosSampler(1, 3), VosTransforms.Eval(64), batchSize: 2);
        using var batch = ds.Next(0, new Random(0));
        Assert.Equal(new long[] { 1, 2, 3, 64, 64 }, batch.ImgBatch.shape);
        Assert.Equal(davis.Videos.Sum(v => v.ObjectIds.Count), (int)batch.Masks.shape[1]);
    }
}
