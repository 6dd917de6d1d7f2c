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
    private sealed class FreqsCache { public Tensor? Freqs; }

    private readonly FreqsCache cache = new();
    private readonly double ropeTheta;
    private readonly bool ropeKRepeat;
    private readonly int headDim;

    /// <summary>Rotary attention as memory attention builds it.</summary>
    /// <param name="embeddingDim">Width of the queries and of the output.</param>
    /// <param name="numHeads">Heads.</param>
    /// <param name="downsampleRate">Internal width divisor.</param>
    /// <param name="dropout">Attention dropout in training.</param>
    /// <param name="kvInDim">Width of keys and values (the memories' 64 in cross-attention).</param>
    /// <param name="ropeTheta">The rotary frequency base.</param>
    /// <param name="ropeKRepeat">The keys are several frames of the query grid (memories): the queries' rotations are repeated over them.</param>
    /// <param name="featSizes">The token grid [w, h] the rotations are first computed for (64×64: a 1024 px image at stride 16).</param>
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

    /// <summary>Whether the keys may outnumber the queries, their rotations repeating the query grid's (cross-attention to memories of several frames).</summary>
    public bool RopeKRepeat => ropeKRepeat;

    /// <summary>The rotations in use (N × head_dim/2 × 2, cos and sin), for inspection.</summary>
    public Tensor FreqsCis => cache.Freqs!;

    private Tensor ComputeCis(double endX, double endY, Device? device = null)
    {
        // Outlives any caller's dispose scope: owned by this module until replaced.
        return Rope.ComputeAxialCis(headDim, endX, endY, ropeTheta, device).DetachFromDisposeScope();
    }

    /// <summary>Rotates queries and keys by their axial grid positions, recomputing the rotations for a new token count;
    /// the last <paramref name="numKExcludeRope"/> keys (object pointers, which have no place on the grid) stay unrotated.</summary>
    protected override (Tensor q, Tensor k) PositionQueriesAndKeys(Tensor q, Tensor k, int numKExcludeRope)
    {
        long nq = q.shape[^2], nk = k.shape[^2];
        var freqs = cache.Freqs!;
        if (freqs.shape[0] != nq)
        {
            double side = Math.Sqrt(nq);
            var fresh = ComputeCis(side, side, q.device);
            freqs.Dispose();
            cache.Freqs = freqs = fresh;
        }
        if (freqs.device_type != q.device_type || freqs.device_index != q.device_index)
        {
            var moved = freqs.to(q.device).DetachFromDisposeScope();
            freqs.Dispose();
            cache.Freqs = freqs = moved;
        }
        if (nq != nk && !ropeKRepeat)
            throw new ArgumentException($"RoPE attention without rope_k_repeat needs as many keys as queries ({nk} vs {nq}).");
        if (numKExcludeRope < 0 || numKExcludeRope > nk)
            throw new ArgumentOutOfRangeException(nameof(numKExcludeRope), $"{numKExcludeRope} of {nk} keys.");

        // The last numKExcludeRope keys (object pointers) keep no position: they are left unrotated.
        long numKRope = nk - numKExcludeRope;
        var kRope = k.narrow(-2, 0, numKRope);
        var (qOut, kOut) = Rope.ApplyRotaryEnc(q, kRope, freqs, ropeKRepeat);
        if (numKExcludeRope > 0)
            kOut = cat(new[] { kOut, k.narrow(-2, numKRope, numKExcludeRope) }, -2);
        return (qOut, kOut);
    }

    /// <summary>Frees the cached rotations.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing) { cache.Freqs?.Dispose(); cache.Freqs = null; }
        base.Dispose(disposing);
    }
}
