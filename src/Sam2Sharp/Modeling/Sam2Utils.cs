using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>Small functions shared by the modules (the reference's sam2_utils).</summary>
public static class Sam2Utils
{
    /// <summary>Bytes a tensor's elements take in memory (what a session counts as resident).</summary>
    internal static long TensorBytes(Tensor t) => t.NumberOfElements * t.ElementSize;

    /// <summary>The activation a config names (relu, gelu or glu), as a function.</summary>
    /// <exception cref="ArgumentException">another name.</exception>
    public static Func<Tensor, Tensor> Activation(string name) => name switch
    {
        "relu" => x => nn.functional.relu(x),
        "gelu" => x => nn.functional.gelu(x),
        "glu" => x => nn.functional.glu(x),
        _ => throw new ArgumentException($"activation should be relu/gelu/glu, not {name}"),
    };

    /// <summary>1-D sine positional embedding of positions (as in the original Transformer).</summary>
    public static Tensor Get1dSinePe(Tensor posInds, int dim, double temperature = 10000)
    {
        int peDim = dim / 2;
        var dimT = arange(peDim, dtype: float32, device: posInds.device);
        dimT = tensor(temperature, device: posInds.device).pow(2 * dimT.floor_divide(2) / peDim);
        var pe = posInds.unsqueeze(-1) / dimT;
        return cat(new[] { pe.sin(), pe.cos() }, -1);
    }
}
