using System.CommandLine;
using Sam2Sharp.Server;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 serve</c>: the interactive annotator in the browser (Sam2Sharp.Server), until Ctrl-C.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var d = new ServeOptions();
        var host = new Option<string>("--host") { Description = "Address to listen on. Anything but loopback needs a token.", DefaultValueFactory = _ => d.Host };
        var port = new Option<int>("--port") { Description = "TCP port (0: any free one).", DefaultValueFactory = _ => d.Port };
        var data = new Option<string?>("--data") { Description = "Folder whose images, videos and frame folders the page may open by path (without it: uploads only)." };
        var token = new Option<string?>("--token") { Description = "Token every request must carry (generated and printed when --host is not loopback)." };
        var maxSessions = new Option<int>("--max-sessions") { Description = "Sessions open at once.", DefaultValueFactory = _ => d.MaxSessions };
        var idle = new Option<double>("--idle-minutes") { Description = "Close a session after this many idle minutes.", DefaultValueFactory = _ => d.IdleMinutes };
        var maxUpload = new Option<int>("--max-upload-mb") { Description = "Largest upload in MiB.", DefaultValueFactory = _ => d.MaxUploadMb };
        var maxFrames = new Option<int>("--max-frames") { Description = "Most frames a video may have.", DefaultValueFactory = _ => d.MaxFrames };
        var ahead = new Option<int>("--embed-ahead") { Description = "Video frames a session keeps embedded: the current one and those after it are embedded in idle time (1: none ahead).", DefaultValueFactory = _ => d.EmbedAheadFrames };
        var cmd = new Command("serve", "Serve the interactive annotator (images and videos) in the browser, on the library's predictors. Video frames are shrunk to 1280×720 at most.");
        model.AddTo(cmd);
        foreach (var o in new Option[] { host, port, data, token, maxSessions, idle, maxUpload, maxFrames, ahead }) cmd.Options.Add(o);
        cmd.SetAction((r, stop) => Cli.RunAsync(async () =>
        {
            var options = new ServeOptions
            {
                Host = r.GetValue(host)!, Port = r.GetValue(port), DataDir = r.GetValue(data), Token = r.GetValue(token),
                MaxSessions = r.GetValue(maxSessions), IdleMinutes = r.GetValue(idle), MaxUploadMb = r.GetValue(maxUpload),
                MaxFrames = r.GetValue(maxFrames), EmbedAheadFrames = r.GetValue(ahead), ModelName = r.GetValue(model.Model) ?? (r.GetValue(model.Checkpoint) is { } c ? Path.GetFileName(c) : "sam2"),
            };
            options.Validate(); // before the model is loaded
            // One model for image and video sessions: the video post-processing only adds steps the image predictor never runs.
            using var sam = model.Load(r);
            return await Serve(sam, options, stop);
        }));
        return cmd;
    }

    /// <param name="stop">Cancelled by Ctrl-C or SIGTERM (System.CommandLine's handling of an asynchronous action).</param>
    static async Task<int> Serve(Modeling.Sam2Base sam, ServeOptions options, CancellationToken stop)
    {
        await using var server = new Sam2Server(sam, options);
        await server.StartAsync();
        Console.WriteLine($"sam2 serve: {server.Url}{(server.Token is null ? "" : $"?token={server.Token}")}");
        Console.WriteLine("Ctrl-C stops the server (open sessions are closed and their files removed).");
        try { await server.WaitForShutdownAsync(stop); }
        catch (OperationCanceledException) { }
        Console.WriteLine("sam2 serve: stopping");
        return 0;
    }
}
