namespace Sam2Sharp.Hub;

/// <summary>Where the hub keeps checkpoints, which registries it reads, and whether it may use the network.</summary>
public sealed record ModelHubOptions
{
    /// <summary>The cache folder; null: <see cref="ModelCache.DefaultFolder"/> (<c>SAM2_HOME</c>, XDG, platform).</summary>
    public string? CacheFolder { get; init; }

    /// <summary>Registry JSON files that add or replace entries, applied in order.</summary>
    public IReadOnlyList<string> RegistryFiles { get; init; } = [];

    /// <summary>Replaces <see cref="OfficialModels.DefaultBaseUrl"/> in the official entries (a mirror).</summary>
    public string? BaseUrl { get; init; }

    /// <summary>Never touch the network: a model that is not cached is an error.</summary>
    public bool Offline { get; init; }

    /// <summary>A download with no data for this long is treated as a dropped connection.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The settings from the environment: <c>SAM2_HOME</c>, <c>SAM2_MODELS</c> (a registry file, applied
    /// before <paramref name="registryFile"/>), <c>SAM2_MODEL_BASE_URL</c>, <c>SAM2_OFFLINE=1</c> (or <paramref name="offline"/>).
    /// </summary>
    public static ModelHubOptions FromEnvironment(string? registryFile = null, bool offline = false)
    {
        var files = new List<string>();
        if (Environment.GetEnvironmentVariable("SAM2_MODELS") is { Length: > 0 } env) files.Add(env);
        if (registryFile is not null) files.Add(registryFile);
        var off = Environment.GetEnvironmentVariable("SAM2_OFFLINE")?.Trim().ToLowerInvariant();
        return new ModelHubOptions
        {
            RegistryFiles = files,
            BaseUrl = Environment.GetEnvironmentVariable("SAM2_MODEL_BASE_URL") is { Length: > 0 } b ? b : null,
            Offline = offline || off is "1" or "true" or "yes",
        };
    }
}
