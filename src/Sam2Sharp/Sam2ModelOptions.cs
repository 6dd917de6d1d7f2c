using Sam2Sharp.Config;
using Sam2Sharp.Hub;
using static TorchSharp.torch;

namespace Sam2Sharp;

/// <summary>The number format the model computes in.</summary>
public enum Sam2Precision
{
    /// <summary>float32 everywhere: the reference's numbers (the golden cases).</summary>
    Float32,
    /// <summary>
    /// bfloat16 weights and activations in the image encoder's blocks, memory attention and memory encoder
    /// (fast on CPUs with AMX or AVX512_BF16); the encoder's stem and FPN neck (convolutions, faster in float32),
    /// norm statistics, softmax, RoPE, the prompt encoder, the mask decoder and its heads, mask upscaling and
    /// thresholds stay float32.
    /// </summary>
    BFloat16,
}

/// <summary>How <see cref="Sam2Builder"/> builds a model.</summary>
public sealed record Sam2ModelOptions
{
    /// <summary>
    /// The post-processing the reference's builders switch on by default (<c>apply_postprocessing=True</c>):
    /// dynamic multimask via stability (delta 0.05, threshold 0.98) and binarized click masks for the memory
    /// encoder. Video predictors on such a model also fill holes of area up to 8 unless their options say otherwise
    /// (see <see cref="Video.Sam2VideoPredictorOptions.FillHoleArea"/>). False builds the config as written.
    /// </summary>
    public bool ApplyPostprocessing { get; init; } = true;

    /// <summary>
    /// Changes to the config applied after the post-processing, as the reference's <c>hydra_overrides_extra</c>
    /// (e.g. a drop-path rate for training); null: none.
    /// </summary>
    public Func<Sam2Config, Sam2Config>? ConfigOverrides { get; init; }
    /// <summary>Where the weights live and every tensor the library makes for this model goes (default: the CPU).
    /// A CUDA device needs the CUDA build of TorchSharp in the application (see the README).</summary>
    public Device Device { get; init; } = CPU;

    /// <summary>Where models given by name come from (registry, cache, network); null: a hub configured from the environment.</summary>
    public ModelHub? Hub { get; init; }

    /// <summary>Receives download progress when a model given by name is fetched.</summary>
    public IProgress<DownloadProgress>? DownloadProgress { get; init; }

    /// <summary>
    /// Parses a device name (<c>cpu</c>, <c>cuda</c>, <c>cuda:N</c>) and checks this process can use it, so a missing
    /// CUDA runtime or GPU is one clear line instead of a native error at the first tensor.
    /// </summary>
    /// <exception cref="Sam2Exception">the name is not a device, or the device is not available here.</exception>
    public static Device ParseDevice(string name)
    {
        string n = name.Trim().ToLowerInvariant();
        if (n == "cpu") return CPU;
        if (n != "cuda" && !(n.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(n[5..], out int ix) && ix >= 0))
            throw new Sam2Exception($"device '{name}': expected cpu, cuda or cuda:N");
        if (!TorchSharp.torch.cuda.is_available())
            throw new Sam2Exception($"device '{name}': no CUDA device is available to this process (the CPU build of TorchSharp, or no GPU); use cpu");
        int index = n == "cuda" ? 0 : int.Parse(n[5..]);
        int count = TorchSharp.torch.cuda.device_count();
        if (index >= count) throw new Sam2Exception($"device '{name}': this machine has {count} CUDA device(s) (cuda:0 to cuda:{count - 1})");
        return new Device(TorchSharp.DeviceType.CUDA, index);
    }

    /// <summary>The config as this model is built from it.</summary>
    internal Sam2Config Apply(Sam2Config config)
    {
        if (ApplyPostprocessing)
            config = config with
            {
                SamMaskDecoderExtraArgs = new()
                {
                    DynamicMultimaskViaStability = true, DynamicMultimaskStabilityDelta = 0.05, DynamicMultimaskStabilityThresh = 0.98,
                },
                BinarizeMaskFromPtsForMemEnc = true,
            };
        return ConfigOverrides is null ? config : ConfigOverrides(config);
    }
    /// <summary>Compute precision; weights are converted once, at load. Default float32.</summary>
    public Sam2Precision Precision { get; init; } = Sam2Precision.Float32;
}
