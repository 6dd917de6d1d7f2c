using Sam2Sharp.Cli.Commands;
using TorchSharp;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary><c>--model</c> and <c>sam2 models</c> against a loopback server, with the cache in a scratch SAM2_HOME.</summary>
public sealed class ModelsCommandTests : IDisposable
{
    static readonly string[] HubVariables = ["SAM2_HOME", "SAM2_MODELS", "SAM2_OFFLINE", "SAM2_MODEL_BASE_URL"];
    readonly string? _xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
    readonly Dictionary<string, string?> _saved = HubVariables.ToDictionary(v => v, Environment.GetEnvironmentVariable);
    readonly LoopbackFileServer _server = new();
    readonly string _dir = TestCli.TempDir("sam2-models-");
    string Home => Path.Combine(_dir, "home");

    public ModelsCommandTests()
    {
        foreach (var v in HubVariables) Environment.SetEnvironmentVariable(v, null);
        Environment.SetEnvironmentVariable("SAM2_HOME", Home);
    }

    public void Dispose()
    {
        foreach (var (k, v) in _saved) Environment.SetEnvironmentVariable(k, v);
        _server.Dispose();
        Directory.Delete(_dir, true);
    }

    static (int Code, string Stderr) Models(params string[] args) => TestCli.RunCapturingErrors(ModelsCommand.Create(), ["models", .. args]);

    static string ErrorLine(string stderr)
    {
        var errors = stderr.Split('\n').Where(l => l.StartsWith("error: ")).ToList();
        return Assert.Single(errors);
    }

    [Fact]
    public void ModelDownloadsVerifiesCachesAndSegmentsTheGoldenCaseThenUsesTheCache()
    {
        var folder = ModelHubTests.MicroFolder;
        var name = Golden.Cases(folder).GetProperty("cases").EnumerateArray().First(c => c.GetProperty("kind").GetString() == "image_predict").GetProperty("name").GetString()!;
        var registry = ModelHubTests.ServeMicro(_server, _dir);
        for (int run = 1; run <= 2; run++)
        {
            var file = Path.Combine(_dir, $"out{run}.safetensors");
            var (rc, err) = TestCli.RunCapturingErrors(ImageCommand.Create(), ["image", "--model", "micro", "--models", registry, .. ImageCommandGoldenTests.CaseArgs(folder, name, file)]);
            Assert.True(rc == 0, err);
            ImageCommandGoldenTests.AssertMatchesCase(folder, name, file);
            Assert.Single(_server.Requests); // run 2: no request at all
            Assert.Equal(run == 1, err.Contains("SHA-256 verified"));
        }
        Assert.True(File.Exists(Path.Combine(Home, "micro.pt")));
    }

    [Fact]
    public void VideoChecksItsStepsBeforeFetchingTheModel()
    {
        var registry = ModelHubTests.ServeMicro(_server, _dir);
        var steps = Path.Combine(_dir, "steps.json");
        File.WriteAllText(steps, "[{\"op\": \"add_points\", \"frame\": 0}]"); // no obj_id
        var frames = Path.Combine(ModelHubTests.MicroFolder, "inputs", "video");
        var (rc, err) = TestCli.RunCapturingErrors(VideoCommand.Create(),
            ["video", "--model", "micro", "--models", registry, "--input", frames, "--prompts", steps, "--output", Path.Combine(_dir, "masks")]);
        Assert.Equal(1, rc);
        Assert.Contains(steps, ErrorLine(err));
        Assert.Empty(_server.Requests);
        Assert.False(File.Exists(Path.Combine(Home, "micro.pt")));
    }

    [Fact]
    public void NotFoundAndRefusedConnectionsGiveOneLineErrors()
    {
        var missing = ModelHubTests.WriteRegistry(_dir, "gone", _server.BaseUrl + "/gone.pt", new string('a', 64), null);
        var (rc, err) = Models("download", "gone", "--models", missing);
        Assert.Equal(1, rc);
        Assert.Equal($"error: downloading gone from {_server.BaseUrl}/gone.pt failed: HTTP 404 Not Found", err.Trim());

        var refused = ModelHubTests.WriteRegistry(_dir, "nobody", $"http://127.0.0.1:{LoopbackFileServer.FreePort()}/x.pt", new string('a', 64), null);
        (rc, err) = Models("download", "nobody", "--models", refused);
        Assert.Equal(1, rc);
        Assert.DoesNotContain('\n', err.Trim());
        Assert.StartsWith("error: cannot download nobody from http://127.0.0.1:", err);
        Assert.Contains("refused", err);
        Assert.Contains($"(--checkpoint FILE), point SAM2_MODEL_BASE_URL at a mirror, or copy nobody.pt into {Home}", err);
        Assert.Empty(Directory.GetFiles(Home));
    }

    [Fact]
    public void ListDownloadPathVerifyAndRemove()
    {
        var registry = ModelHubTests.ServeMicro(_server, _dir);
        var stdout = new StringWriter();
        var old = Console.Out;
        Console.SetOut(stdout);
        try
        {
            Assert.Equal(0, Models("list", "--models", registry).Code);
            Assert.Matches(@"micro +7\.2 MB +no +" + System.Text.RegularExpressions.Regex.Escape(Path.Combine(Home, "micro.pt")), stdout.ToString());
            Assert.Matches(@"sam2\.1_hiera_large +856\.5 MB +no", stdout.ToString());
            Assert.Equal(1, Models("path", "micro", "--models", registry).Code);
            Assert.Equal(0, Models("download", "micro", "--models", registry).Code);
            stdout.GetStringBuilder().Clear();
            Assert.Equal(0, Models("path", "micro", "--models", registry).Code);
            Assert.Equal(Path.Combine(Home, "micro.pt"), stdout.ToString().Trim());
            Assert.Equal(0, Models("list", "--models", registry).Code);
            Assert.Matches(@"micro +7\.2 MB +yes", stdout.ToString());
            Assert.Equal(0, Models("verify", "--models", registry).Code);
            Assert.Contains("micro: ok", stdout.ToString());
            Assert.Equal(0, Models("remove", "micro", "--models", registry).Code);
            Assert.False(File.Exists(Path.Combine(Home, "micro.pt")));
            Assert.Single(_server.Requests);
        }
        finally { Console.SetOut(old); }
        var (rc, err) = Models("download", "sam2.1_hiera_tyni", "--offline");
        Assert.Equal(1, rc);
        Assert.StartsWith("error: unknown model 'sam2.1_hiera_tyni'; closest: sam2.1_hiera_tiny", ErrorLine(err));
    }

    [Fact]
    public void ModelAndCheckpointAreExclusiveAndOfflineIsHonoured()
    {
        var folder = ModelHubTests.MicroFolder;
        var registry = ModelHubTests.ServeMicro(_server, _dir);
        string[] common = ["--image", Path.Combine(folder, "inputs", "image.png"), "--point", "10,10", "--output", Path.Combine(_dir, "m.png")];
        var (rc, err) = TestCli.RunCapturingErrors(ImageCommand.Create(), ["image", "--model", "micro", "--checkpoint", Path.Combine(folder, "model.pt"), .. common]);
        Assert.Equal(1, rc);
        Assert.Equal("error: give --checkpoint FILE or --model NAME, not both", err.Trim());
        Environment.SetEnvironmentVariable("SAM2_OFFLINE", "1");
        (rc, err) = TestCli.RunCapturingErrors(ImageCommand.Create(), ["image", "--model", "micro", "--models", registry, .. common]);
        Assert.Equal(1, rc);
        Assert.Contains("offline", ErrorLine(err));
        Assert.Empty(_server.Requests);
        Assert.False(File.Exists(Path.Combine(_dir, "m.png")));
    }
    [Fact]
    public void TrainTakesItsStartingWeightsByName()
    {
        var registry = ModelHubTests.ServeMicro(_server, _dir);
        var yaml = TrainerTests.OneStepYaml(_dir);
        var source = TrainerTests.FixedClip.Golden(ModelHubTests.MicroFolder);
        (int, string) Train(params string[] args) => TestCli.RunCapturingErrors(TrainCommand.Create((_, _) => source), ["train", "-c", yaml, "-q", .. args]);

        var (rc, err) = Train("--model", "micro", "--models", registry);
        Assert.Equal(1, rc);
        Assert.Equal($"error: {yaml}: model.checkpoint is given, and so is --model micro: keep one", err.Trim());
        Assert.Empty(_server.Requests);

        File.WriteAllLines(yaml, File.ReadAllLines(yaml).Where(l => !l.TrimStart().StartsWith("checkpoint:")));
        (rc, err) = Train("--model", "micro", "--models", registry);
        Assert.True(rc == 0, err);
        Assert.Single(_server.Requests);
        Assert.True(File.Exists(Path.Combine(_dir, "out", "checkpoint.pt")));
    }

    [Fact]
    public void TheEnvironmentSetsTheRegistryMirrorAndOfflineMode()
    {
        var registry = ModelHubTests.ServeMicro(_server, _dir);
        Environment.SetEnvironmentVariable("SAM2_MODELS", registry);
        Environment.SetEnvironmentVariable("SAM2_MODEL_BASE_URL", "http://127.0.0.1:1/mirror");
        Environment.SetEnvironmentVariable("SAM2_OFFLINE", "1");
        var options = Sam2Sharp.Hub.ModelHubOptions.FromEnvironment();
        Assert.True(options.Offline);
        using var hub = new Sam2Sharp.Hub.ModelHub(options);
        Assert.Equal(Home, hub.Cache.Folder);
        Assert.Equal("http://127.0.0.1:1/mirror/segment_anything_2/092824/sam2.1_hiera_large.pt", hub.Registry.Find("sam2.1_hiera_large").Url.ToString());
        Assert.Equal(_server.BaseUrl + "/micro.pt", hub.Registry.Find("micro").Url.ToString());
        Environment.SetEnvironmentVariable("SAM2_HOME", null);
        Environment.SetEnvironmentVariable("XDG_CACHE_HOME", "/xdg");
        try { Assert.Equal("/xdg/sam2sharp", Sam2Sharp.Hub.ModelCache.DefaultFolder()); }
        finally { Environment.SetEnvironmentVariable("XDG_CACHE_HOME", _xdg); }
    }
}
