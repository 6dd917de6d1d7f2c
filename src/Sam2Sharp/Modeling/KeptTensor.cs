using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>
/// A tensor a module computes from its own weights for a key (a position encoding for a grid size), kept between calls
/// made without gradients and reused while the key and the weights it was made from are unchanged: they are compared
/// with copies taken then (values, dtype, device), so loaded or trained weights are seen. A kept result is owned here,
/// outside any dispose scope: callers must not dispose it.
/// </summary>
internal sealed class KeptTensor<TKey> : IDisposable where TKey : IEquatable<TKey>
{
    sealed record Entry(TKey Key, Tensor Value, Tensor[] Sources);
    readonly object gate = new();
    Entry? entry;

    /// <summary>The kept value for <paramref name="key"/> made from <paramref name="sources"/>, or a new one from <paramref name="make"/>.</summary>
    public Tensor GetOrMake(TKey key, Tensor[] sources, Func<Tensor> make)
    {
        bool keep = !is_grad_enabled();
        lock (gate)
            if (keep && entry is { } e && e.Key.Equals(key) && MadeFrom(e, sources)) return e.Value;
        using var scope = NewDisposeScope();
        var value = make();
        if (!keep) return value.MoveToOuterDisposeScope();
        // A replaced entry is left to the finalizer: another thread may still be using it.
        var made = new Entry(key, value.DetachFromDisposeScope(), sources.Select(s => s.detach().clone().DetachFromDisposeScope()).ToArray());
        lock (gate) entry = made;
        return made.Value;
    }

    static bool MadeFrom(Entry e, Tensor[] sources) =>
        e.Sources.Length == sources.Length && e.Sources.Zip(sources).All(p =>
            p.First.dtype == p.Second.dtype && p.First.device_type == p.Second.device_type && p.First.device_index == p.Second.device_index
            && p.First.allclose(p.Second, rtol: 0, atol: 0));

    /// <summary>Frees the kept tensors.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (entry is null) return;
            entry.Value.Dispose();
            foreach (var s in entry.Sources) s.Dispose();
            entry = null;
        }
    }
}
