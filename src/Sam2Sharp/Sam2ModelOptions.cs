using Sam2Sharp.Hub;

namespace Sam2Sharp;

/// <summary>How <see cref="Sam2Builder"/> builds a model.</summary>
public sealed record Sam2ModelOptions
{
    /// <summary>Where models given by name come from (registry, cache, network); null: a hub configured from the environment.</summary>
    public ModelHub? Hub { get; init; }

    /// <summary>Receives download progress when a model given by name is fetched.</summary>
    public IProgress<DownloadProgress>? DownloadProgress { get; init; }
}
