namespace Sam2Sharp.Hub;

/// <summary>
/// Official (and registered) checkpoints by name: looks them up, downloads and verifies them once
/// into the cache, and hands back the cached path. Safe against other processes fetching the same
/// model (a lock file per model).
/// </summary>
public sealed class ModelHub : IDisposable
{
    readonly HttpClient _http;
    readonly ModelDownloader _downloader;

    /// <summary>A hub with <paramref name="options"/>; null: <see cref="ModelHubOptions.FromEnvironment"/>.</summary>
    public ModelHub(ModelHubOptions? options = null)
    {
        Options = options ?? ModelHubOptions.FromEnvironment();
        Registry = new ModelRegistry(Options.BaseUrl, Options.RegistryFiles);
        Cache = new ModelCache(Options.CacheFolder ?? ModelCache.DefaultFolder());
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(30), AutomaticDecompression = System.Net.DecompressionMethods.None })
        {
            Timeout = TimeSpan.FromMinutes(2), // until the headers; the body has the stall timeout
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("Sam2Sharp");
        _downloader = new ModelDownloader(_http, Options.StallTimeout);
    }

    /// <summary>The settings in effect (base URL, cache folder, offline mode, …).</summary>
    public ModelHubOptions Options { get; }
    /// <summary>The models known by name: the official ones and any from registry files.</summary>
    public ModelRegistry Registry { get; }
    /// <summary>The cache folder the checkpoints are kept in.</summary>
    public ModelCache Cache { get; }

    /// <summary>Every registered model with where it is cached and whether it is there (verified, no hashing).</summary>
    public IReadOnlyList<(ModelEntry Entry, string Path, bool Cached)> List() =>
        Registry.Entries.Select(e => (e, Cache.PathOf(e), Cache.IsVerified(e))).ToList();

    /// <summary>
    /// The cached checkpoint of <paramref name="name"/>, downloaded and verified first if it is not
    /// cached yet. A cached file without a hash record (copied in by hand) is hashed once.
    /// </summary>
    public async Task<string> GetAsync(string name, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var e = Registry.Find(name);
        var path = Cache.PathOf(e);
        if (Cache.IsVerified(e)) return path;
        if (Options.Offline && !File.Exists(path))
            throw new Sam2Exception($"{e.Name} is not in the model cache and offline mode (--offline or SAM2_OFFLINE) forbids downloading it; give a local checkpoint (--checkpoint FILE) or copy {e.FileName} into {Cache.Folder}");
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Cache.LockPath(e))!);
            using var held = await FileLock.AcquireAsync(Cache.LockPath(e), () =>
                progress?.Report(new DownloadProgress(e.Name, DownloadStage.WaitingForLock, 0, e.Size, 0, null)), cancellationToken).ConfigureAwait(false);
            if (Cache.IsVerified(e)) return path; // another process finished it while we waited
            if (File.Exists(path) && (e.Size is null || new FileInfo(path).Length == e.Size))
            {
                if (Cache.Verify(e, cancellationToken)!.Ok) return path; // copied in by hand, or a record lost
                if (Options.Offline)
                    throw new Sam2Exception($"{e.Name}: the cached {e.FileName} did not match SHA-256 {e.Sha256} and was removed; offline mode forbids downloading it again");
            }
            if (Options.Offline)
                throw new Sam2Exception($"{e.Name}: the cached {e.FileName} has the wrong size and offline mode forbids downloading it again; give --checkpoint FILE or copy the right file into {Cache.Folder}");
            await _downloader.DownloadAsync(e, Cache, progress, cancellationToken).ConfigureAwait(false);
            return path;
        }
        catch (Exception x) when (IoErrors.IsReadOnly(x))
        {
            throw new Sam2Exception($"the model cache {Cache.Folder} is not writable ({x.Message}); set SAM2_HOME to a writable folder or give --checkpoint FILE", x);
        }
        catch (Exception x) when (IoErrors.IsDiskFull(x))
        {
            TryDelete(Cache.PartPath(e));
            throw new Sam2Exception($"the disk of the model cache {Cache.Folder} is full while writing {e.FileName} (the partial file was removed); free some space or set SAM2_HOME to another disk", x);
        }
    }

    /// <summary>Synchronous <see cref="GetAsync"/>.</summary>
    public string Get(string name, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default) =>
        GetAsync(name, progress, cancellationToken).GetAwaiter().GetResult();

    /// <summary>The checkpoint path and config of <paramref name="name"/>, downloading it if needed.</summary>
    public (string CheckpointPath, string? Config) Resolve(string name, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var path = Get(name, progress, cancellationToken);
        return (path, Registry.Find(name).Config);
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Releases the HTTP client.</summary>
    public void Dispose() => _http.Dispose();
}
