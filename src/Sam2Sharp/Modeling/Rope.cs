using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>
/// Axial rotary position encoding (the reference's compute_axial_cis / apply_rotary_enc), in a real
/// formulation: the reference's complex <c>freqs_cis</c> (N × dim/2) is held as its real view
/// N × dim/2 × 2 (cos, sin), and the channels of q/k are read as adjacent (real, imag) pairs.
/// </summary>
public static class Rope
{
    /// <summary>x and y coordinates (float32) of the end_x·end_y tokens of a row-major grid.</summary>
    public static (Tensor tX, Tensor tY) InitTXY(double endX, double endY, Device? device = null)
    {
        // Doubles because the reference also calls this with sqrt(token count), a float.
        var t = arange(endX * endY, dtype: float32, device: device);
        var tX = t.remainder(endX);
        var tY = t.div(endX, rounding_mode: RoundingMode.floor);
        return (tX, tY);
    }

    /// <summary>
    /// The rotation of every token and channel pair: N × dim/2 × 2 (cos, sin), N = end_x·end_y.
    /// The first dim/4 pairs turn with the x coordinate, the last dim/4 with y.
    /// </summary>
    public static Tensor ComputeAxialCis(int dim, double endX, double endY, double theta = 10000.0, Device? device = null)
    {
        using var scope = NewDisposeScope();
        // Same float32 arithmetic as the reference: theta ** (arange(0, dim, 4)[:dim/4] / dim), inverted.
        var exps = arange(0, dim, 4, dtype: int64, device: device)[TensorIndex.Slice(0, dim / 4)].to_type(float32) / dim;
        var freqs = tensor(theta, device: device).pow(exps).reciprocal();
        var (tX, tY) = InitTXY(endX, endY, device);
        var angles = cat(new[] { outer(tX, freqs), outer(tY, freqs) }, -1);
        return stack(new[] { angles.cos(), angles.sin() }, -1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Rotates queries (… × Nq × D) and keys (… × Nk × D) by <paramref name="freqs"/> (Nq × D/2 × 2).
    /// With <paramref name="repeatFreqsK"/>, keys that are r·Nq long reuse the query rotations r times
    /// (memories of several frames share one grid). Keys of length 0 are returned unchanged.
    /// </summary>
    public static (Tensor q, Tensor k) ApplyRotaryEnc(Tensor xq, Tensor xk, Tensor freqs, bool repeatFreqsK = false)
    {
        using var scope = NewDisposeScope();
        long nq = xq.shape[^2], d = xq.shape[^1];
        if (d % 2 != 0) throw new ArgumentException($"RoPE needs an even channel count, got {d}.");
        if (freqs.dim() != 3 || freqs.shape[0] != nq || freqs.shape[1] != d / 2 || freqs.shape[2] != 2)
            throw new ArgumentException(
                $"RoPE frequencies of shape [{string.Join(",", freqs.shape)}] do not fit {nq} queries of {d} channels.");
        var qOut = Rotate(xq, freqs).to_type(xq.dtype);
        if (xk.shape[^2] == 0)
            return (qOut.MoveToOuterDisposeScope(), xk);

        var kFreqs = freqs;
        if (repeatFreqsK)
        {
            long r = xk.shape[^2] / nq;
            // Tile (not interleave): key j takes the rotation of query j mod Nq.
            kFreqs = freqs.unsqueeze(0).expand(r, -1, -1, -1).reshape(r * nq, d / 2, 2);
        }
        if (kFreqs.shape[0] != xk.shape[^2])
            throw new ArgumentException(
                $"RoPE: {xk.shape[^2]} keys do not match {kFreqs.shape[0]} rotations (queries: {nq}, repeat: {repeatFreqsK}).");
        var kOut = Rotate(xk, kFreqs).to_type(xk.dtype);
        return (qOut.MoveToOuterDisposeScope(), kOut.MoveToOuterDisposeScope());
    }

    /// <summary>Complex product of channel pairs with (cos, sin), computed in float32.</summary>
    private static Tensor Rotate(Tensor x, Tensor freqs)
    {
        var shape = x.shape;
        var pairs = x.to_type(float32).reshape(shape[..^1].Append(shape[^1] / 2).Append(2).ToArray());
        var re = pairs.select(-1, 0);
        var im = pairs.select(-1, 1);
        var f = freqs.to(pairs.device);
        var cos = f.select(-1, 0);
        var sin = f.select(-1, 1);
        var outRe = re * cos - im * sin;
        var outIm = re * sin + im * cos;
        return stack(new[] { outRe, outIm }, -1).reshape(shape);
    }
}
