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

/// <summary>How <see cref="Sam2Builder.Load(string?, string?, Sam2ModelOptions?)"/> builds the model.</summary>
public sealed record Sam2ModelOptions
{
    /// <summary>Compute precision; weights are converted once, at load. Default float32.</summary>
    public Sam2Precision Precision { get; init; } = Sam2Precision.Float32;
}
