using System.CommandLine;
using System.Globalization;
using Sam2Sharp.Training;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 synth</c>: writes a synthetic VOS dataset in the DAVIS layout (see <see cref="SyntheticVos"/>).</summary>
public static class SynthCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--output") { Description = "Dataset folder to create (must be empty or absent): JPEGImages/, Annotations/, ImageSets/", Required = true };
        var videos = new Option<int>("--videos") { Description = "Training videos (synth_0000, …)", DefaultValueFactory = _ => 4 };
        var frames = new Option<int>("--frames") { Description = "Frames per video", DefaultValueFactory = _ => 8 };
        var size = new Option<string>("--size") { Description = "Frame size WxH", DefaultValueFactory = _ => "320x240" };
        var seed = new Option<int>("--seed") { Description = "Random seed; the same seed and options give the same files", DefaultValueFactory = _ => 0 };
        var objects = new Option<int>("--objects") { Description = "Objects per video (palette ids 1…K; higher ids are in front)", DefaultValueFactory = _ => 3 };
        var backgrounds = new Option<string[]>("--backgrounds")
        {
            Description = "Background image files or folders (repeatable). A folder of numbered frames (00000.jpg…) is used as a video, any other folder as stills. Default: procedural backgrounds",
            AllowMultipleArgumentsPerToken = true,
        };
        var splitVal = new Option<int>("--split-val")
        {
            Description = "Extra validation videos (synth_val_0000, …) in the same folders; the split is written as ImageSets/train.txt and ImageSets/val.txt",
            DefaultValueFactory = _ => 0,
        };
        var cmd = new Command("synth", "Write a synthetic video object segmentation dataset (DAVIS layout) of moving textured shapes over real or procedural backgrounds");
        foreach (var o in new Option[] { output, videos, frames, size, seed, objects, backgrounds, splitVal }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(() =>
        {
            var (w, h) = ParseSize(r.GetValue(size)!);
            var result = SyntheticVos.Generate(r.GetValue(output)!, new SyntheticVosOptions
            {
                Videos = r.GetValue(videos), Frames = r.GetValue(frames), Width = w, Height = h, Seed = r.GetValue(seed),
                Objects = r.GetValue(objects), Backgrounds = r.GetValue(backgrounds) ?? [], ValVideos = r.GetValue(splitVal),
            });
            Console.WriteLine($"Wrote {result.TrainVideos.Count} training and {result.ValVideos.Count} validation videos of {r.GetValue(frames)} frames ({w}x{h}) to {result.Root}");
            return 0;
        }));
        return cmd;
    }

    static (int W, int H) ParseSize(string s)
    {
        var parts = s.ToLowerInvariant().Split('x');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int w)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int h) && w > 0 && h > 0)
            return (w, h);
        throw new Sam2Exception($"--size must be WIDTHxHEIGHT (e.g. 320x240), got '{s}'");
    }
}
