using System.CommandLine;
using System.Globalization;
using Sam2Sharp.Benchmarking;
using Sam2Sharp.Video;
using static TorchSharp.torch;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 bench-video</c>: speed and peak memory while tracking objects through a long video.</summary>
public static class BenchVideoCommand
{
    public static Command Create()
    {
        var model = new ModelOptions(checkpointRequired: false);
        var video = new Option<string>("--video") { Description = "A folder of frames or a video file (played over and over up to --frames).", Required = true };
        var frames = new Option<int>("--frames") { Description = "Frames to track.", DefaultValueFactory = _ => 600 };
        var objects = new Option<int>("--objects") { Description = "Objects tracked (boxes side by side on frame 0).", DefaultValueFactory = _ => 2 };
        var every = new Option<int>("--report-every") { Description = "Print memory every this many frames.", DefaultValueFactory = _ => 100 };
        var keepAll = new Option<bool>("--keep-all-in-memory") { Description = "Keep the whole memory bank in RAM, as the reference (no spilling to disk)." };
        var cmd = new Command("bench-video", "Track objects through a long video; print ms per frame per object and peak memory.");
        model.AddTo(cmd);
        foreach (var o in new Option[] { video, frames, objects, every, keepAll }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(() =>
        {
            int n = r.GetValue(frames), k = r.GetValue(objects), rep = r.GetValue(every);
            if (n < 2) throw new Sam2Exception("--frames must be at least 2");
            if (k < 1) throw new Sam2Exception("--objects must be at least 1");
            using var sam = model.Load(r, defaultConfig: "sam2.1_hiera_t");
            var predictor = new Sam2VideoPredictor(sam, new Sam2VideoPredictorOptions { SpillMemories = !r.GetValue(keepAll) });
            var samples = VideoBenchmark.Run(predictor, r.GetValue(video)!, n, k, s =>
            {
                if ((s.Frame + 1) % rep == 0 || s.Frame + 1 == n)
                    BenchCommand.Print($"peak_rss_mb_after_{s.Frame + 1}_frames", BenchCommand.F(s.PeakWorkingSetBytes / 1048576.0), "MB");
            });
            // Frame 0 holds the prompts; the tracked frames are the rest.
            var tracked = samples.Skip(1).Select(s => s.Milliseconds).ToList();
            BenchCommand.Print("config", sam.Config.Name, "");
            BenchCommand.Print("frames", n.ToString(CultureInfo.InvariantCulture), "frames");
            BenchCommand.Print("objects", k.ToString(CultureInfo.InvariantCulture), "objects");
            BenchCommand.Print("ms_per_frame", BenchCommand.F(Stats.Median(tracked)), "ms");
            BenchCommand.Print("ms_per_frame_per_object", BenchCommand.F(Stats.Median(tracked) / k), "ms");
            BenchCommand.Print("peak_rss_mb", BenchCommand.F(samples[^1].PeakWorkingSetBytes / 1048576.0), "MB");
            BenchCommand.Print("threads", get_num_threads().ToString(CultureInfo.InvariantCulture), "threads");
            return 0;
        }));
        return cmd;
    }
}
