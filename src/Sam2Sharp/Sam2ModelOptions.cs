using Sam2Sharp.Hub;

namespace Sam2Sharp;

/// <summary>The number format the model computes in.</summary>
public enum Sam2Precision
{
    /// <summary>float32 everywhere: the reference's numbers (the golden cases).</summary>
    Float32,
    /// <summary>
    /// bfloat16 weights and activations in the image encoder, memory attention and memory encoder
    /// (fast on CPUs with AMX or AVX512_BF16); norm statistics, softmax, RoPE, the prompt encoder,
    /// the mask decoder and its heads, mask upscaling and thresholds stay float32.
    /// </summary>
    BFloat16,
}

/// <summary>How <see cref="Sam2Builder"/> builds a model.</summary>
public sealed record Sam2ModelOptions
{
    /// <summary>Where models given by name come from (registry, cache, network); null: a hub configured from the environment.</summary>
    public ModelHub? Hub { get; init; }

    /// <summary>Receives download progress when a model given by name is fetched.</summary>
    public IProgress<DownloadProgress>? DownloadProgress { get; init; }

    /// <summary>Compute precision; weights are converted once, at load. Default float32.</summary>
    public Sam2Precision Precision { get; init; } = Sam2Precision.Float32;
}
