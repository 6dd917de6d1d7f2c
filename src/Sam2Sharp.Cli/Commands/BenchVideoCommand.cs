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
        var threads = new Option<int?>("--threads") { Description = "Torch intra-op threads (default: torch's choice)." };
        var profile = new Option<bool>("--profile") { Description = "Also print the time of each module per frame once the memory bank is full (encoder stages, memory attention layers, memory encoder, decoder, mask upscaling)." };
        var cmd = new Command("bench-video", "Track objects through a long video; print ms per frame per object and peak memory.");
        model.AddTo(cmd);
        foreach (var o in new Option[] { video, frames, objects, every, keepAll, threads, profile }) cmd.Options.Add(o);
        cmd.SetAction((r, ct) => Cli.Run(() =>
        {
            int n = r.GetValue(frames), k = r.GetValue(objects), rep = r.GetValue(every);
            if (n < 2) throw new Sam2Exception("--frames must be at least 2");
            if (k < 1) throw new Sam2Exception("--objects must be at least 1");
            BenchCommand.SetThreads(r.GetValue(threads));
            using var sam = model.Load(r, defaultConfig: "sam2.1_hiera_t");
            double peak = BenchCommand.PrintMachine(sam.Precision);
            // The bank is full once it holds num_maskmem memories and max_obj_ptrs_in_encoder pointers.
            int fullFrom = Math.Max(sam.NumMaskmem, sam.Config.MaxObjPtrsInEncoder);
            bool profiling = r.GetValue(profile);
            if (profiling && n <= fullFrom) throw new Sam2Exception($"--profile needs more than {fullFrom} frames (the memory bank is full from frame {fullFrom})");
            var predictor = new Sam2VideoPredictor(sam, new Sam2VideoPredictorOptions { SpillMemories = !r.GetValue(keepAll) });
            var samples = VideoBenchmark.Run(predictor, r.GetValue(video)!, n, k, s =>
            {
                if ((s.Frame + 1) % rep == 0 || s.Frame + 1 == n)
                {
                    BenchCommand.Print($"peak_rss_mb_after_{s.Frame + 1}_frames", BenchCommand.F(s.PeakWorkingSetBytes / 1048576.0), "MB");
                    BenchCommand.Print($"session_tensor_mb_after_{s.Frame + 1}_frames", BenchCommand.F(s.SessionTensorBytes / 1048576.0), "MB");
                    BenchCommand.Print($"live_tensors_after_{s.Frame + 1}_frames", s.LiveTensors.ToString(CultureInfo.InvariantCulture), "tensors");
                }
                if (profiling && s.Frame + 1 == fullFrom) Profiler.Start();
            }, ct);
            var sections = profiling ? Profiler.Stop() : [];
            // Frame 0 holds the prompts; the tracked frames are the rest.
            var tracked = samples.Skip(1).Select(s => s.Milliseconds).ToList();
            BenchCommand.Print("config", sam.Config.Name, "");
            BenchCommand.Print("frames", n.ToString(CultureInfo.InvariantCulture), "frames");
            BenchCommand.Print("objects", k.ToString(CultureInfo.InvariantCulture), "objects");
            BenchCommand.Print("ms_per_frame", BenchCommand.F(Stats.Median(tracked)), "ms");
            BenchCommand.Print("ms_per_frame_per_object", BenchCommand.F(Stats.Median(tracked) / k), "ms");
            BenchCommand.Print("peak_rss_mb", BenchCommand.F(samples[^1].PeakWorkingSetBytes / 1048576.0), "MB");
            // Frames tracked with the bank full: their median, and its FLOPs per frame.
            var full = samples.Where(s => s.Frame >= fullFrom).Select(s => s.Milliseconds).ToList();
            if (full.Count > 0)
            {
                int ptrTokens = sam.Config.MaxObjPtrsInEncoder * Math.Max(1, sam.HiddenDim / sam.MemDim);
                double memAttn = ModuleFlops.MemoryAttention(sam.Config, sam.NumMaskmem, ptrTokens);
                double frameFlops = EncoderFlops.Count(sam.Config)
                    + k * (memAttn + ModuleFlops.Decoder(sam.Config, promptTokens: 1) + ModuleFlops.MemoryEncoder(sam.Config));
                BenchCommand.Print("full_bank_frames", full.Count.ToString(CultureInfo.InvariantCulture), "frames");
                BenchCommand.PrintRate("full_bank_frame", Stats.Median(full), frameFlops, peak);
                BenchCommand.Print("memory_attention_gflop_per_object", BenchCommand.F(memAttn / 1e9), "GFLOP");
                if (profiling)
                {
                    var perFrame = sections.Select(x => (x.Name, x.Ms / full.Count, x.Calls / full.Count)).ToList();
                    var flops = BenchCommand.SectionFlops(sam.Config, 0);
                    flops["decoder"] = k * ModuleFlops.Decoder(sam.Config, promptTokens: 1);
                    flops["memory_attention"] = k * memAttn;
                    flops["memory_encoder"] = k * ModuleFlops.MemoryEncoder(sam.Config);
                    for (int l = 0; l < sam.Config.MemoryAttention.NumLayers; l++) flops[$"memory_attention.layer{l}"] = k * memAttn / sam.Config.MemoryAttention.NumLayers;
                    BenchCommand.PrintProfile(perFrame, flops, peak, "frame.");
                }
            }

            return 0;
        }, ct, () => "nothing was written"));
        return cmd;
    }
}
