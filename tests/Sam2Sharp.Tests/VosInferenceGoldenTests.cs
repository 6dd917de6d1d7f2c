using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Evaluation;
using Sam2Sharp.IO;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary><c>sam2 vos</c> on the golden videos against the reference tool's masks, in both layouts.</summary>
public class VosInferenceGoldenTests
{
    static int RunCli(params string[] args) => TestCli.Run(VosCommand.Create(), args);

    static IReadOnlyList<string> VosFolders() =>
        Golden.Folders().Where(f => Directory.Exists(Path.Combine(f, "vos"))).ToList();

    static string TempDir() => TestCli.TempDir("sam2-vos-");

    /// <summary>Object id → on/off pixels of one expected or predicted frame, in either layout.</summary>
    static Dictionary<int, bool[]> FrameMasks(string root, string video, string frame, bool perObj, IEnumerable<int> ids)
    {
        var result = new Dictionary<int, bool[]>();
        if (!perObj)
        {
            var m = PalettePng.ReadMask(Path.Combine(root, video, frame + ".png"));
            foreach (int id in ids) result[id] = m.Values.Select(v => v == id).ToArray();
        }
        else
        {
            foreach (int id in ids)
            {
                var m = PalettePng.ReadMask(Path.Combine(root, video, id.ToString("D3"), frame + ".png"));
                result[id] = m.Values.Select(v => v > 0).ToArray();
            }
        }
        return result;
    }

    static double Iou(bool[] a, bool[] b)
    {
        long inter = 0, union = 0;
        for (int i = 0; i < a.Length; i++) { if (a[i] && b[i]) inter++; if (a[i] || b[i]) union++; }
        return union == 0 ? 1.0 : (double)inter / union;
    }

    /// <summary>The reference's masks in both layouts; tracking each object on its own, or prompting with all mask files
    /// (here only the first frame has any), gives the same masks, since objects do not share memory.</summary>
    [Theory]
    [InlineData("davis", "")]
    [InlineData("sav", "")]
    [InlineData("davis", "--track-object-appearing-later-in-video")]
    [InlineData("sav", "--use-all-masks")]
    public void CommandReproducesReferenceMasks(string layout, string flag)
    {
        var folders = VosFolders();
        Assert.NotEmpty(folders);
        foreach (var folder in folders)
        {
            var vos = Path.Combine(folder, "vos");
            bool perObj = layout == "sav";
            string input = Path.Combine(vos, perObj ? "Annotations_per_object" : "Annotations");
            string expected = Path.Combine(vos, perObj ? "expected_sav" : "expected_davis");
            var output = TempDir();
            try
            {
                var args = new List<string> { "vos", "--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml"),
                    "--base-video-dir", Path.Combine(vos, "JPEGImages"), "--input-mask-dir", input, "--output-mask-dir", output, "-q" };
                if (perObj) args.Add("--per-obj-png-file");
                var videos = Directory.GetDirectories(expected).OrderBy(d => d, StringComparer.Ordinal).ToList();
                if (flag.Length > 0)
                {
                    // The variants run on one video, to keep the test short.
                    videos = videos.Take(1).ToList();
                    var list = Path.Combine(output, "videos.txt");
                    File.WriteAllText(list, Path.GetFileName(videos[0]) + "\n");
                    args.AddRange([flag, "--video-list-file", list]);
                }
                Assert.Equal(0, RunCli(args.ToArray()));

                int compared = 0;
                foreach (var videoDir in videos)
                {
                    var video = Path.GetFileName(videoDir);
                    var ids = perObj
                        ? Directory.GetDirectories(videoDir).Select(d => int.Parse(Path.GetFileName(d))).ToList()
                        : PalettePng.ReadMask(Path.Combine(input, video, "00000.png")).Values.Where(v => v > 0).Distinct().ToList();
                    var frames = Directory.GetFiles(perObj ? Path.Combine(videoDir, ids[0].ToString("D3")) : videoDir, "*.png")
                        .Select(Path.GetFileNameWithoutExtension).Cast<string>().ToList();
                    Assert.NotEmpty(frames);
                    foreach (var frame in frames)
                    {
                        var exp = FrameMasks(expected, video, frame, perObj, ids);
                        var act = FrameMasks(output, video, frame, perObj, ids);
                        foreach (int id in ids)
                        {
                            double iou = Iou(exp[id], act[id]);
                            Assert.True(iou >= 0.99, $"{Path.GetFileName(folder)} {layout} {flag} {video} frame {frame} object {id}: IoU {iou:F4} < 0.99");
                            compared++;
                        }
                    }
                    // Nothing more and nothing less than the reference writes.
                    var outFiles = Directory.GetFiles(Path.Combine(output, video), "*.png", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(output, p)).Order();
                    var expFiles = Directory.GetFiles(videoDir, "*.png", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(expected, p)).Order();
                    Assert.Equal(expFiles, outFiles);
                }
                Assert.True(compared > 0);
            }
            finally { Directory.Delete(output, recursive: true); }
        }
    }

    [Fact]
    public void MissingFoldersAreOneLineErrors()
    {
        var folder = VosFolders().First();
        var vos = Path.Combine(folder, "vos");
        var output = TempDir();
        try
        {
            string[] Args(string videos, string masks, params string[] extra) =>
                new[] { "vos", "--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml"),
                    "--base-video-dir", videos, "--input-mask-dir", masks, "--output-mask-dir", output, "-q" }.Concat(extra).ToArray();
            Assert.Equal(1, RunCli(Args(Path.Combine(vos, "JPEGImages"), Path.Combine(vos, "NoSuchAnnotations"))));
            Assert.Equal(1, RunCli(Args(Path.Combine(vos, "NoSuchVideos"), Path.Combine(vos, "Annotations"))));
            var list = Path.Combine(output, "list.txt");
            File.WriteAllText(list, "no_such_video\n");
            Assert.Equal(1, RunCli(Args(Path.Combine(vos, "JPEGImages"), Path.Combine(vos, "Annotations"), "--video-list-file", list)));

            var e = Assert.Throws<Sam2Exception>(() => VosInference.CheckFolders(new VosInferenceOptions
            {
                BaseVideoDir = Path.Combine(vos, "JPEGImages"),
                InputMaskDir = Path.Combine(vos, "NoSuchAnnotations"),
                OutputMaskDir = output,
            }));
            Assert.DoesNotContain('\n', e.Message);
            Assert.Contains("NoSuchAnnotations", e.Message);
        }
        finally { Directory.Delete(output, recursive: true); }
    }
}
