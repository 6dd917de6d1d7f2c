using Sam2Sharp.Hub;
using static TorchSharp.torch;

namespace Sam2Sharp;

/// <summary>How <see cref="Sam2Builder"/> builds a model.</summary>
public sealed record Sam2ModelOptions
{
    /// <summary>Where the weights live and every tensor the library makes for this model goes (default: the CPU).
    /// A CUDA device needs the CUDA build of TorchSharp in the application (see the README).</summary>
    public Device Device { get; init; } = CPU;

    /// <summary>Where models given by name come from (registry, cache, network); null: a hub configured from the environment.</summary>
    public ModelHub? Hub { get; init; }

    /// <summary>Receives download progress when a model given by name is fetched.</summary>
    public IProgress<DownloadProgress>? DownloadProgress { get; init; }
}
