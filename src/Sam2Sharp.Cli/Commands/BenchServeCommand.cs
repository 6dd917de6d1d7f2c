using System.CommandLine;
using System.Globalization;
using Sam2Sharp.Benchmarking;
using Sam2Sharp.Server;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 bench-serve</c>: a bounded loopback load on the annotator server, with click-to-mask latency percentiles.</summary>
public static class BenchServeCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var image = new Option<string>("--image") { Description = "Image the clients open.", Required = true };
        var video = new Option<string>("--video") { Description = "Video (file or frame folder) the propagations open.", Required = true };
        var clients = new Option<int>("--clients") { DefaultValueFactory = _ => 8, Description = "Concurrent clients, each with its own image session." };
        var prompts = new Option<int>("--prompts") { DefaultValueFactory = _ => 20, Description = "Clicks each client sends, one after another." };
        var propagations = new Option<int>("--propagations") { DefaultValueFactory = _ => 2, Description = "Concurrent video propagations." };
        var frames = new Option<int>("--frames") { DefaultValueFactory = _ => 30, Description = "Frames each propagation tracks." };
        var cmd = new Command("bench-serve", "Load the annotator server on 127.0.0.1 (clients clicking while videos propagate) and print p50/p95 click-to-mask latency.");
        model.AddTo(cmd);
        foreach (var o in new Option[] { image, video, clients, prompts, propagations, frames }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(() =>
        {
            string img = Path.GetFullPath(r.GetValue(image)!), vid = Path.GetFullPath(r.GetValue(video)!);
            if (!File.Exists(img)) throw new Sam2Exception($"--image {img}: no such file");
            if (!File.Exists(vid) && !Directory.Exists(vid)) throw new Sam2Exception($"--video {vid}: no such file or folder");
            int c = r.GetValue(clients), p = r.GetValue(prompts), n = r.GetValue(propagations), f = r.GetValue(frames);
            if (c < 1 || p < 1 || n < 0 || f < 1) throw new Sam2Exception("--clients, --prompts and --frames must be at least 1, --propagations at least 0");
            using var sam = model.Load(r);
            return Run(sam, img, vid, c, p, n, f).GetAwaiter().GetResult();
        }));
        return cmd;
    }

    static async Task<int> Run(Modeling.Sam2Base sam, string image, string video, int clients, int prompts, int propagations, int frames)
    {
        // The video is opened by path: the data folder is its parent.
        string data = Path.GetDirectoryName(video)!;
        await using var server = new Sam2Server(sam, new ServeOptions { Port = 0, DataDir = data, MaxSessions = clients + propagations });
        await server.StartAsync();
        var res = await LoadBenchmark.RunAsync(server.Url, server.Token, image, Path.GetFileName(video), clients, prompts, propagations, frames);
        string F(double v) => v.ToString("F1", CultureInfo.InvariantCulture);
        Console.WriteLine($"clients {clients} × {prompts} prompts, {propagations} propagations × {frames} frames");
        Console.WriteLine($"prompts_ok {res.PromptMs.Count}");
        Console.WriteLine($"propagated_frames {res.PropagatedFrames}");
        Console.WriteLine($"errors {res.Errors.Count}");
        foreach (var e in res.Errors.Take(5)) Console.WriteLine($"  {e}");
        if (res.PromptMs.Count > 0)
        {
            Console.WriteLine($"click_to_mask_p50 {F(Stats.Percentile(res.PromptMs, 50))} ms");
            Console.WriteLine($"click_to_mask_p95 {F(Stats.Percentile(res.PromptMs, 95))} ms");
        }
        Console.WriteLine($"wall {F(res.WallSeconds)} s");
        return res.Errors.Count == 0 ? 0 : 1;
    }
}
