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
    /// (memories of several frames share one grid). Keys of length 0 are returned unchanged. The inputs are not changed.
    /// </summary>
    public static (Tensor q, Tensor k) ApplyRotaryEnc(Tensor xq, Tensor xk, Tensor freqs, bool repeatFreqsK = false)
    {
        CheckRotations(xq, xk, freqs, repeatFreqsK);
        var signedSin = SignedSin(freqs);
        var qOut = RotateInPlace(xq.to_type(float32, copy: true), freqs, signedSin).to_type(xq.dtype);
        var kOut = xk.shape[^2] == 0 ? xk : RotateInPlace(xk.to_type(float32, copy: true), freqs, signedSin).to_type(xk.dtype);
        signedSin.Dispose();
        return (qOut, kOut);
    }

    /// <summary>Throws unless <paramref name="freqs"/> fits the queries, and the keys (as many, or r·Nq with <paramref name="repeatFreqsK"/>).</summary>
    public static void CheckRotations(Tensor xq, Tensor xk, Tensor freqs, bool repeatFreqsK)
    {
        long nq = xq.shape[^2], d = xq.shape[^1], nk = xk.shape[^2];
        if (d % 2 != 0) throw new ArgumentException($"RoPE needs an even channel count, got {d}.");
        if (freqs.dim() != 3 || freqs.shape[0] != nq || freqs.shape[1] != d / 2 || freqs.shape[2] != 2)
            throw new ArgumentException(
                $"RoPE frequencies of shape [{string.Join(",", freqs.shape)}] do not fit {nq} queries of {d} channels.");
        if (nk != 0 && (repeatFreqsK ? nk % nq != 0 : nk != nq))
            throw new ArgumentException($"RoPE: {nk} keys do not match the rotations of {nq} queries (repeat: {repeatFreqsK}).");
    }

    /// <summary>The sines with the sign each channel of a pair takes (−sin for the real one, +sin for the imaginary one): N × D/2 × 2.</summary>
    public static Tensor SignedSin(Tensor freqs)
    {
        using var sin = freqs.select(-1, 1);
        using var neg = sin.neg();
        return stack(new[] { neg, sin }, -1);
    }

    /// <summary>
    /// Rotates the channel pairs of a float32 tensor x (… × N × D) in place and returns it: token j takes rotation
    /// j mod Nq of <paramref name="freqs"/> (Nq × D/2 × 2), so keys r·Nq long reuse the grid of the queries r times,
    /// broadcast rather than tiled. <paramref name="signedSin"/> is <see cref="SignedSin"/> of the same rotations.
    /// (re, im) becomes (re·cos − im·sin, im·cos + re·sin), the same float32 products and sums as the reference's complex
    /// product, with one temporary of x's size instead of six halves, a stack and the tiled table.
    /// </summary>
    public static Tensor RotateInPlace(Tensor x, Tensor freqs, Tensor signedSin)
    {
        if (x.dtype != float32) throw new ArgumentException($"RoPE rotates float32 in place, got {x.dtype}.");
        long n = x.shape[^2], d = x.shape[^1], nq = freqs.shape[0];
        if (n == 0) return x;
        // … × r × Nq × D/2 × 2: a view, so the rotation writes into x.
        var pairs = x.view(x.shape[..^2].Concat(new[] { n / nq, nq, d / 2, 2 }).ToArray());
        using var cos = freqs.select(-1, 0).unsqueeze(-1).to(x.device);
        using var sin = signedSin.to(x.device);
        using var swapped = pairs.flip(-1);   // (im, re)
        swapped.mul_(sin);                    // (−im·sin, re·sin)
        pairs.mul_(cos).add_(swapped);
        pairs.Dispose();
        return x;
    }
}
