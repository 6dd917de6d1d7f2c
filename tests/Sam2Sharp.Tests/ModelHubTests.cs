using System.Security.Cryptography;
using System.Text.Json;
using Sam2Sharp.Hub;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary>The model hub against a loopback HTTP server serving the golden micro checkpoint under a registry with its real SHA-256.</summary>
public sealed class ModelHubTests : IDisposable
{
    public static string MicroFolder => Golden.Folders().First(f => Path.GetFileName(f) == "sam2.1-micro");
    static readonly byte[] Micro = File.ReadAllBytes(Path.Combine(MicroFolder, "model.pt"));
    static readonly string MicroSha = Convert.ToHexStringLower(SHA256.HashData(Micro));

    readonly LoopbackFileServer _server = new();
    readonly string _dir = TestCli.TempDir("sam2-hub-");
    string Cache => Path.Combine(_dir, "cache");

    public void Dispose()
    {
        _server.Dispose();
        Directory.Delete(_dir, true);
    }

    /// <summary>A registry JSON naming one model served at <paramref name="path"/>.</summary>
    public static string WriteRegistry(string dir, string name, string url, string sha, long? size, string? config = null)
    {
        var file = Path.Combine(dir, $"registry-{Guid.NewGuid():N}.json");
        var entry = new Dictionary<string, object?> { ["name"] = name, ["url"] = url, ["sha256"] = sha, ["size"] = size, ["config"] = config };
        File.WriteAllText(file, JsonSerializer.Serialize(new { models = new[] { entry } }));
        return file;
    }

    /// <summary>The micro checkpoint served at /micro.pt and registered as "micro" (with its golden config).</summary>
    public static string ServeMicro(LoopbackFileServer server, string dir, string? sha = null, long? size = -1) =>
        WriteRegistry(dir, "micro", server.Add("/micro.pt", Micro), sha ?? MicroSha, size == -1 ? Micro.Length : size, Path.Combine(MicroFolder, "config.yaml"));

    ModelHub Hub(string registry, bool offline = false, string? baseUrl = null) =>
        new(new ModelHubOptions { CacheFolder = Cache, RegistryFiles = [registry], Offline = offline, BaseUrl = baseUrl });

    /// <summary>Files left in the cache, lock files (empty, kept by design) aside.</summary>
    string[] CacheFiles() => Directory.Exists(Cache)
        ? Directory.GetFiles(Cache, "*", SearchOption.AllDirectories).Where(f => !f.Contains($"{Path.DirectorySeparatorChar}.locks{Path.DirectorySeparatorChar}")).ToArray() : [];

    sealed class Recorder : IProgress<DownloadProgress>
    {
        public readonly List<DownloadProgress> Reports = [];
        public Action<DownloadProgress>? OnReport;
        public void Report(DownloadProgress p) { lock (Reports) Reports.Add(p); OnReport?.Invoke(p); }
    }

    [Fact]
    public async Task DownloadsVerifiesAndCachesOnceWithProgress()
    {
        var registry = ServeMicro(_server, _dir);
        _server.ChunkDelay = TimeSpan.FromMilliseconds(3);
        var progress = new Recorder();
        string path;
        using (var hub = Hub(registry)) path = await hub.GetAsync("micro", progress);
        Assert.Equal(Path.Combine(Cache, "micro.pt"), path);
        Assert.Equal(Micro, File.ReadAllBytes(path));
        Assert.Single(_server.Requests);
        var downloading = progress.Reports.Where(p => p.Stage == DownloadStage.Downloading).ToList();
        Assert.True(downloading.Count >= 2);
        Assert.All(downloading, p => Assert.Equal(Micro.Length, p.TotalBytes));
        Assert.Contains(downloading, p => p.BytesReceived > 0 && p.BytesPerSecond > 0 && p.Eta is not null);
        Assert.Equal(DownloadStage.Done, progress.Reports[^1].Stage);
        Assert.Equal(Micro.Length, progress.Reports[^1].BytesReceived);

        using (var again = Hub(registry)) Assert.Equal(path, await again.GetAsync("micro"));
        Assert.Single(_server.Requests); // the second run is served by the cache
    }

    [Fact]
    public async Task ADroppedConnectionIsResumedWithRange()
    {
        var registry = ServeMicro(_server, _dir);
        _server.DropHalfway = 1;
        using var hub = Hub(registry);
        var path = await hub.GetAsync("micro");
        Assert.Equal(Micro, File.ReadAllBytes(path));
        var requests = _server.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        Assert.Null(requests[0].Range);
        Assert.Matches("^bytes=[1-9][0-9]*-$", requests[1].Range);
        Assert.True(long.Parse(requests[1].Range![6..^1]) <= Micro.Length / 2);
    }

    [Fact]
    public async Task ACancelledDownloadResumesInALaterRun()
    {
        var registry = ServeMicro(_server, _dir);
        _server.ChunkDelay = TimeSpan.FromMilliseconds(5);
        using var cts = new CancellationTokenSource();
        var progress = new Recorder { OnReport = p => { if (p.BytesReceived > Micro.Length / 4) cts.Cancel(); } };
        using (var hub = Hub(registry))
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hub.GetAsync("micro", progress, cts.Token));
        Assert.False(File.Exists(Path.Combine(Cache, "micro.pt")));
        long partial = new FileInfo(Path.Combine(Cache, "micro.pt.part")).Length;
        Assert.InRange(partial, 1, Micro.Length - 1);

        _server.ChunkDelay = TimeSpan.Zero;
        using (var hub = Hub(registry)) Assert.Equal(Micro, File.ReadAllBytes(await hub.GetAsync("micro")));
        Assert.Equal($"bytes={partial}-", _server.Requests.Last().Range);
        Assert.Single(CacheFiles(), f => f.EndsWith("micro.pt"));
    }

    [Fact]
    public async Task AWrongChecksumIsRefusedAndNothingStaysInTheCache()
    {
        var wrong = new string('0', 64);
        using var hub = Hub(ServeMicro(_server, _dir, sha: wrong));
        var e = await Assert.ThrowsAsync<Sam2Exception>(() => hub.GetAsync("micro"));
        Assert.Contains(wrong, e.Message);
        Assert.Contains(MicroSha, e.Message);
        Assert.Contains("removed", e.Message);
        Assert.Empty(CacheFiles());
    }

    [Fact]
    public async Task TheBaseUrlMovesTheOfficialEntriesAndTheirChecksumsAreChecked()
    {
        // The official sam2_hiera_tiny path on a "mirror" that serves the micro model: fetched from the mirror, then refused.
        _server.Add("/segment_anything_2/072824/sam2_hiera_tiny.pt", Micro);
        using var hub = new ModelHub(new ModelHubOptions { CacheFolder = Cache, BaseUrl = _server.BaseUrl + "/" });
        Assert.Equal(_server.BaseUrl + "/segment_anything_2/092824/sam2.1_hiera_tiny.pt", hub.Registry.Find("sam2.1_hiera_tiny").Url.ToString());
        var e = await Assert.ThrowsAsync<Sam2Exception>(() => hub.GetAsync("sam2_hiera_tiny"));
        Assert.Contains("65b50056e05bcb13694174f51bb6da89c894b57b75ccdf0ba6352c597c5d1125", e.Message);
        Assert.Contains(MicroSha, e.Message);
        // A size known in the registry is checked against the server's before anything is written.
        _server.Add("/segment_anything_2/092824/sam2.1_hiera_tiny.pt", Micro);
        e = await Assert.ThrowsAsync<Sam2Exception>(() => hub.GetAsync("sam2.1_hiera_tiny"));
        Assert.Contains("156008466", e.Message);
        Assert.Empty(CacheFiles());
    }

    [Fact]
    public async Task TwoConcurrentDownloadsOfTheSameModelEndWithOneGoodFile()
    {
        var registry = ServeMicro(_server, _dir);
        _server.ChunkDelay = TimeSpan.FromMilliseconds(5);
        using var first = Hub(registry);
        using var second = Hub(registry);
        var started = new TaskCompletionSource();
        var a = first.GetAsync("micro", new Recorder { OnReport = p => { if (p.BytesReceived > 0) started.TrySetResult(); } });
        await started.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var waits = new Recorder();
        var b = second.GetAsync("micro", waits);
        var paths = await Task.WhenAll(a, b).WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(paths[0], paths[1]);
        Assert.Equal(Micro, File.ReadAllBytes(paths[0]));
        Assert.Single(_server.Requests);
        Assert.Contains(waits.Reports, p => p.Stage == DownloadStage.WaitingForLock);
        Assert.Single(CacheFiles(), f => f.EndsWith("micro.pt"));
    }

    [Fact]
    public async Task OfflineNeverTouchesTheNetworkAndAcceptsAFileCopiedIntoTheCache()
    {
        var registry = ServeMicro(_server, _dir);
        using var hub = Hub(registry, offline: true);
        var e = await Assert.ThrowsAsync<Sam2Exception>(() => hub.GetAsync("micro"));
        Assert.Contains("offline", e.Message);
        Assert.Contains(Cache, e.Message);
        Directory.CreateDirectory(Cache);
        File.WriteAllBytes(Path.Combine(Cache, "micro.pt"), Micro); // what the message says to do
        Assert.Equal(Path.Combine(Cache, "micro.pt"), await hub.GetAsync("micro"));
        Assert.True(hub.Cache.IsVerified(hub.Registry.Find("micro")));
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task VerifyRehashesAndRemovesACorruptedFile()
    {
        using var hub = Hub(ServeMicro(_server, _dir));
        var path = await hub.GetAsync("micro");
        var entry = hub.Registry.Find("micro");
        Assert.True(hub.Cache.Verify(entry)!.Ok);
        using (var f = new FileStream(path, FileMode.Open)) { f.Position = 1000; f.WriteByte((byte)~Micro[1000]); }
        Assert.True(hub.Cache.IsVerified(entry)); // same size: using it does not re-hash
        var v = hub.Cache.Verify(entry)!;
        Assert.False(v.Ok);
        Assert.NotEqual(MicroSha, v.ActualSha256);
        Assert.False(File.Exists(path));
        Assert.Null(hub.Cache.Verify(entry));
    }

    [Fact]
    public void UnknownNamesAndBadRegistryFilesAreNamed()
    {
        var registry = new ModelRegistry();
        var e = Assert.Throws<Sam2Exception>(() => registry.Find("sam2.1_hiera_tny"));
        Assert.StartsWith("unknown model 'sam2.1_hiera_tny'; closest: sam2.1_hiera_tiny", e.Message);
        var bad = WriteRegistry(_dir, "x", "http://127.0.0.1/x.pt", "abc", null);
        e = Assert.Throws<Sam2Exception>(() => new ModelRegistry(null, [bad]));
        Assert.Contains(bad, e.Message);
        Assert.Contains("entry 1 (x): field 'sha256'", e.Message);
        var unsafeName = WriteRegistry(_dir, "../x", "http://127.0.0.1/x.pt", MicroSha, null);
        Assert.Contains("field 'name'", Assert.Throws<Sam2Exception>(() => new ModelRegistry(null, [unsafeName])).Message);
        var ftp = WriteRegistry(_dir, "x", "ftp://127.0.0.1/x.pt", MicroSha, null);
        Assert.Contains("field 'url'", Assert.Throws<Sam2Exception>(() => new ModelRegistry(null, [ftp])).Message);
        // An entry of the same name replaces the built-in one.
        var mine = WriteRegistry(_dir, "sam2.1_hiera_tiny", "http://127.0.0.1/mine.pt", MicroSha, 5, "sam2.1_hiera_t");
        var replaced = new ModelRegistry(null, [mine]);
        Assert.Equal("http://127.0.0.1/mine.pt", replaced.Find("sam2.1_hiera_tiny").Url.ToString());
        Assert.Equal(8, replaced.Entries.Count);
    }

    [Fact]
    public async Task AReadOnlyCacheIsExplained()
    {
        var ro = Path.Combine(_dir, "ro");
        Directory.CreateDirectory(ro);
        File.SetUnixFileMode(ro, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        bool rootCanWrite;
        try { File.WriteAllText(Path.Combine(ro, "probe"), ""); rootCanWrite = true; } catch (UnauthorizedAccessException) { rootCanWrite = false; }
        // As root permissions do not bind; sysfs refuses new folders to everyone.
        var folder = rootCanWrite ? "/sys/sam2sharp-cache-test" : Path.Combine(ro, "cache");
        using var hub = new ModelHub(new ModelHubOptions { CacheFolder = folder, RegistryFiles = [ServeMicro(_server, _dir)] });
        var e = await Assert.ThrowsAsync<Sam2Exception>(() => hub.GetAsync("micro"));
        Assert.Contains($"the model cache {folder} is not writable", e.Message);
        Assert.Empty(_server.Requests);
        File.SetUnixFileMode(ro, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    [Fact]
    public void AFullDiskIsRecognisedAndTooLittleSpaceIsRefusedUpFront()
    {
        using (var full = new FileStream("/dev/full", FileMode.Open, FileAccess.Write))
        {
            var x = Assert.ThrowsAny<IOException>(() => { full.Write(new byte[4096]); full.Flush(); });
            Assert.True(IoErrors.IsDiskFull(x), $"{x.HResult}: {x.Message}");
        }
        var entry = new ModelEntry("big", new Uri("http://127.0.0.1/big.pt"), MicroSha, long.MaxValue / 2);
        var e = Assert.Throws<Sam2Exception>(() => ModelDownloader.EnsureSpace(entry, new ModelCache(_dir), long.MaxValue / 2));
        Assert.StartsWith($"not enough disk space for big in {_dir}", e.Message);
    }

    [Fact]
    public void TheBuilderLoadsAModelByName()
    {
        using var hub = Hub(ServeMicro(_server, _dir));
        using var model = Sam2Builder.LoadByName("micro", options: new Sam2ModelOptions { Hub = hub });
        using var direct = Sam2Builder.Load(Path.Combine(MicroFolder, "config.yaml"), Path.Combine(MicroFolder, "model.pt"));
        Assert.Equal(direct.ImageSize, model.ImageSize);
        var a = model.state_dict();
        var b = direct.state_dict();
        Assert.Equal(b.Count, a.Count);
        foreach (var (k, v) in b) Assert.True(v.eq(a[k]).all().item<bool>(), k);
    }
}
