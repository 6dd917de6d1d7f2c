using System.Runtime;

namespace Sam2Sharp;

/// <summary>
/// Keeps the garbage collector from running during a unit of tensor work (one tracked frame, one
/// prompt batch). TorchSharp 0.107 passes implicit <c>Scalar</c> arguments (every <c>a + b</c> has one)
/// to native code without keeping them alive, so a collection triggered on another thread during a
/// long native call can finalize a Scalar still in use — a rare use-after-free that ended long
/// tracking runs ("Expected false to be true" from c10::Scalar). With no collection inside the
/// unit, nothing in flight can be finalized; collections happen between units.
/// </summary>
public readonly struct GcPause : IDisposable
{
    // Managed allocations of one unit are small (tensor wrappers, one decoded frame); past this
    // budget the runtime collects anyway and ends the pause.
    const long Budget = 96L * 1024 * 1024;

    private readonly bool started;

    private GcPause(bool started) => this.started = started;

    public static GcPause Start()
    {
        if (GCSettings.LatencyMode == GCLatencyMode.NoGCRegion) return new GcPause(false); // nested: the outer one holds
        try { return new GcPause(GC.TryStartNoGCRegion(Budget)); }
        catch (Exception e) when (e is InvalidOperationException or ArgumentOutOfRangeException) { return new GcPause(false); }
    }

    public void Dispose()
    {
        if (started && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
        {
            try { GC.EndNoGCRegion(); }
            catch (InvalidOperationException) { /* the budget ran out and the runtime ended it */ }
        }
    }
}

/// <summary>
/// One unit of inference as every entry point of the predictors runs it: no garbage collection (see
/// <see cref="GcPause"/>), no gradients, and a dispose scope for the unit's temporaries — opened in this one place
/// so that no entry point forgets the pause.
/// </summary>
internal sealed class InferenceScope : IDisposable
{
    private readonly GcPause pause = GcPause.Start();
    private readonly IDisposable noGrad = TorchSharp.torch.no_grad();
    private readonly TorchSharp.DisposeScope scope = TorchSharp.torch.NewDisposeScope();

    private InferenceScope() { }

    /// <summary>Opens the unit; dispose it to close it (temporaries freed, collections allowed again).</summary>
    public static InferenceScope Start() => new();

    public void Dispose()
    {
        scope.Dispose();
        noGrad.Dispose();
        pause.Dispose();
    }
}
