using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Sam;

/// <summary>
/// Attention with axial rotary position encoding of queries and keys (the reference's RoPEAttention).
/// The rotations are cached for one token count: feat_sizes (W, H) at first, and recomputed for a
/// square grid of √N × √N when a forward brings N ≠ the cached count.
/// </summary>
public sealed class RoPEAttention : Attention
{
    // Not a Tensor field, so that the cached rotations never become a buffer of the state dict.
    private sealed class FreqsCache { public Tensor? Freqs, SignedSin; }

    private readonly FreqsCache cache = new();
    private readonly double ropeTheta;
    private readonly bool ropeKRepeat;
    private readonly int headDim;

    public RoPEAttention(int embeddingDim, int numHeads, int downsampleRate = 1, double dropout = 0.0,
                         int? kvInDim = null, double ropeTheta = 10000.0, bool ropeKRepeat = false,
                         IReadOnlyList<int>? featSizes = null)
        : base(embeddingDim, numHeads, downsampleRate, dropout, kvInDim, nameof(RoPEAttention))
    {
        featSizes ??= new[] { 64, 64 };
        if (featSizes.Count != 2) throw new ArgumentException("feat_sizes must be [w, h].");
        this.ropeTheta = ropeTheta;
        this.ropeKRepeat = ropeKRepeat;
        headDim = internalDim / numHeads;
        cache.Freqs = ComputeCis(featSizes[0], featSizes[1]);
    }

    public bool RopeKRepeat => ropeKRepeat;

    /// <summary>The rotations in use (N × head_dim/2 × 2, cos and sin), for inspection.</summary>
    public Tensor FreqsCis => cache.Freqs!;

    private Tensor ComputeCis(double endX, double endY, Device? device = null)
    {
        // Outlives any caller's dispose scope: owned by this module until replaced.
        return Rope.ComputeAxialCis(headDim, endX, endY, ropeTheta, device).DetachFromDisposeScope();
    }

    /// <summary>Rotates the fresh projections q and k in place (in float32, also for bfloat16 ones), the trailing
    /// <paramref name="numKExcludeRope"/> keys left as they are.</summary>
    protected override (Tensor q, Tensor k) PositionQueriesAndKeys(Tensor q, Tensor k, int numKExcludeRope)
    {
        long nq = q.shape[^2], nk = k.shape[^2];
        var freqs = cache.Freqs!;
        if (freqs.shape[0] != nq || freqs.device_type != q.device_type || freqs.device_index != q.device_index)
        {
            var fresh = freqs.shape[0] != nq ? ComputeCis(Math.Sqrt(nq), Math.Sqrt(nq), q.device) : freqs.to(q.device).DetachFromDisposeScope();
            freqs.Dispose();
            cache.SignedSin?.Dispose();
            cache.Freqs = freqs = fresh;
            cache.SignedSin = null;
        }
        var signedSin = cache.SignedSin ??= Rope.SignedSin(freqs).DetachFromDisposeScope();
        if (nq != nk && !ropeKRepeat)
            throw new ArgumentException($"RoPE attention without rope_k_repeat needs as many keys as queries ({nk} vs {nq}).");
        if (numKExcludeRope < 0 || numKExcludeRope > nk)
            throw new ArgumentOutOfRangeException(nameof(numKExcludeRope), $"{numKExcludeRope} of {nk} keys.");

        // The last numKExcludeRope keys (object pointers) keep no position: only the first ones are rotated.
        long numKRope = nk - numKExcludeRope;
        Rope.CheckRotations(q, k.narrow(-2, 0, numKRope), freqs, ropeKRepeat);
        return (Rotated(q, nq), Rotated(k, numKRope));

        // One grid of nq tokens at a time (a memory frame's keys), written back into x, so that the float32 copy
        // (in bfloat16) and the temporary of the rotation are one frame's size, not all the memories'.
        Tensor Rotated(Tensor x, long count)
        {
            for (long start = 0; start < count; start += nq)
            {
                using var part = x.narrow(-2, start, Math.Min(nq, count - start));
                if (x.dtype == ScalarType.Float32) { Rope.RotateInPlace(part, freqs, signedSin); continue; }
                using var f = part.to_type(ScalarType.Float32);
                part.copy_(Rope.RotateInPlace(f, freqs, signedSin));
            }
            return x;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) { cache.Freqs?.Dispose(); cache.SignedSin?.Dispose(); cache.Freqs = cache.SignedSin = null; }
        base.Dispose(disposing);
    }
}
