using Sam2Sharp.Benchmarking;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Backbones;

/// <summary>
/// Output of the image encoder: FPN features and their position encodings, highest resolution
/// first; VisionFeatures is the last (lowest resolution) kept level.
/// </summary>
public sealed record BackboneOutput(Tensor VisionFeatures, IReadOnlyList<Tensor> VisionPosEnc, IReadOnlyList<Tensor> BackboneFpn)
    : IDisposable
{
    /// <summary>Frees every feature and position-encoding tensor it holds.</summary>
    public void Dispose()
    {
        foreach (var t in BackboneFpn) t.Dispose();
        foreach (var t in VisionPosEnc) t.Dispose();
        VisionFeatures.Dispose();
    }
}

/// <summary>Trunk + FPN neck; scalp drops that many of the lowest resolution levels.</summary>
public sealed class ImageEncoder : nn.Module<Tensor, BackboneOutput>
{
    private readonly Hiera trunk;
    private readonly FpnNeck neck;

    /// <summary>How many of the lowest-resolution levels are dropped after the neck (1 in SAM 2: the stride-32 level is not used).</summary>
    public int Scalp { get; }
    /// <summary>The Hiera trunk.</summary>
    public Hiera Trunk => trunk;
    /// <summary>The FPN neck.</summary>
    public FpnNeck Neck => neck;

    /// <summary>Joins a trunk and a neck whose channel lists match.</summary>
    /// <exception cref="ArgumentException">the trunk's <see cref="Hiera.ChannelList"/> differs from the neck's <see cref="FpnNeck.BackboneChannelList"/>.</exception>
    public ImageEncoder(Hiera trunk, FpnNeck neck, int scalp = 0) : base(nameof(ImageEncoder))
    {
        if (!trunk.ChannelList.SequenceEqual(neck.BackboneChannelList))
            throw new ArgumentException($"Channel dims of trunk and neck do not match. Trunk: [{string.Join(", ", trunk.ChannelList)}], neck: [{string.Join(", ", neck.BackboneChannelList)}]");
        this.trunk = trunk;
        this.neck = neck;
        Scalp = scalp;
        RegisterComponents();
    }

    /// <summary>B×3×S×S normalised image → the kept FPN levels (highest resolution first) and their position encodings.</summary>
    public override BackboneOutput forward(Tensor sample) => Forward(sample, null);

    /// <summary>
    /// <see cref="forward"/>, reporting to <paramref name="progress"/> after each trunk block and after the neck
    /// (<see cref="Sam2Progress"/> in "encoder steps": the trunk's depth + 1).
    /// </summary>
    public BackboneOutput Forward(Tensor sample, IProgress<Sam2Progress>? progress)
    {
        using var scope = NewDisposeScope();
        int total = trunk.Depth + 1;
        var levels = trunk.Forward(sample, progress is null ? null : done => progress.Report(new Sam2Progress(done, total, "encoder steps")));
        IReadOnlyList<Tensor> features, pos;
        using (Profiler.Time("encoder.neck")) (features, pos) = neck.forward(levels);
        progress?.Report(new Sam2Progress(total, total, "encoder steps"));
        int keep = features.Count - Scalp;
        var f = features.Take(keep).Select(t => t.MoveToOuterDisposeScope()).ToArray();
        var p = pos.Take(keep).Select(t => t.MoveToOuterDisposeScope()).ToArray();
        return new BackboneOutput(f[^1], p, f);
    }
}
