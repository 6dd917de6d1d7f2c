using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Backbones;

/// <summary>
/// Simplified FPN neck: a lateral conv per trunk level to dModel channels, plus top-down
/// (2× upsampled) features added only on the levels in fpnTopDownLevels; each output gets a
/// sine position encoding. Input and outputs are ordered highest resolution first.
/// </summary>
public sealed class FpnNeck : nn.Module<IReadOnlyList<Tensor>, (IReadOnlyList<Tensor> features, IReadOnlyList<Tensor> pos)>
{
    private readonly nn.Module<Tensor, Tensor> position_encoding;
    private readonly ModuleList<Sequential> convs;
    private readonly InterpolationMode interpMode;
    private readonly bool fuseAvg;
    private readonly HashSet<int> topDownLevels;

    /// <summary>Channels of every neck output (d_model, 256 in the official configs): the width the SAM heads and memory attention work in.</summary>
    public int DModel { get; }
    /// <summary>The trunk's channels per level, lowest resolution first; must equal <see cref="Hiera.ChannelList"/>.</summary>
    public IReadOnlyList<int> BackboneChannelList { get; }
    /// <summary>The levels (0 = highest resolution) that add the 2× upsampled coarser output to their lateral convolution; SAM 2 uses only the two coarsest (2, 3), so the stride-4 and stride-8 features stay local.</summary>
    public IReadOnlyList<int> FpnTopDownLevels { get; }

    /// <summary>The neck of the official configs (FpnNeck): one 1×1 lateral convolution per trunk level, top-down fusion on <paramref name="fpnTopDownLevels"/>.</summary>
    /// <param name="positionEncoding">The position encoding of each output (a <see cref="PositionEmbeddingSine"/>).</param>
    /// <param name="dModel">Output channels of every level.</param>
    /// <param name="kernelSize">Kernel of the lateral convolutions.</param>
    /// <param name="stride">Stride of the lateral convolutions.</param>
    /// <param name="padding">Padding of the lateral convolutions.</param>
    /// <param name="backboneChannelList">Trunk channels, lowest resolution first (Hiera.ChannelList).</param>
    /// <param name="fpnInterpModel">nearest, bilinear, bicubic, ... (a torch interpolate mode).</param>
    /// <param name="fuseType">sum or avg.</param>
    /// <param name="fpnTopDownLevels">Levels that receive top-down features; null for all.</param>
    public FpnNeck(nn.Module<Tensor, Tensor> positionEncoding, int dModel, int[] backboneChannelList,
                   int kernelSize = 1, int stride = 1, int padding = 0, string fpnInterpModel = "bilinear",
                   string fuseType = "sum", int[]? fpnTopDownLevels = null) : base(nameof(FpnNeck))
    {
        position_encoding = positionEncoding;
        DModel = dModel;
        BackboneChannelList = backboneChannelList.ToArray();
        convs = new ModuleList<Sequential>();
        foreach (var dim in backboneChannelList)
            convs.Add(nn.Sequential(("conv", (nn.Module<Tensor, Tensor>)nn.Conv2d(dim, dModel, kernelSize, stride: stride, padding: padding))));
        interpMode = fpnInterpModel switch
        {
            "nearest" => InterpolationMode.Nearest,
            "nearest-exact" => InterpolationMode.NearestExact,
            "linear" => InterpolationMode.Linear,
            "bilinear" => InterpolationMode.Bilinear,
            "bicubic" => InterpolationMode.Bicubic,
            "trilinear" => InterpolationMode.Trilinear,
            "area" => InterpolationMode.Area,
            _ => throw new ArgumentException($"unknown interpolation mode {fpnInterpModel}", nameof(fpnInterpModel)),
        };
        if (fuseType != "sum" && fuseType != "avg") throw new ArgumentException("fuseType must be sum or avg", nameof(fuseType));
        fuseAvg = fuseType == "avg";
        FpnTopDownLevels = (fpnTopDownLevels ?? Enumerable.Range(0, backboneChannelList.Length).ToArray()).ToArray();
        topDownLevels = new HashSet<int>(FpnTopDownLevels);
        RegisterComponents();
    }

    /// <summary>
    /// The trunk's maps (highest resolution first, B×C_i×h_i×w_i) → the same levels with d_model channels, and their
    /// position encodings (B×d_model×h_i×w_i, in the features' dtype).
    /// </summary>
    /// <exception cref="ArgumentException">the number of maps is not the number of trunk levels.</exception>
    public override (IReadOnlyList<Tensor> features, IReadOnlyList<Tensor> pos) forward(IReadOnlyList<Tensor> xs)
    {
        int count = convs.Count;
        if (xs.Count != count) throw new ArgumentException($"expected {count} trunk levels, got {xs.Count}");
        using var scope = NewDisposeScope();
        var outs = new Tensor[count];
        var pos = new Tensor[count];
        Tensor? prev = null;
        int n = count - 1;
        // Top-down: lowest resolution (last input) first; convs are ordered the same way.
        for (int i = n; i >= 0; i--)
        {
            // A bf16 trunk feeds a float32 neck (1×1 convolutions, faster in float32 on CPUs; its outputs go to the decoder in float32).
            var conv = convs[n - i];
            var dt = conv.parameters().First().dtype;
            var lateral = conv.forward(xs[i].dtype == dt ? xs[i] : xs[i].to_type(dt));
            if (topDownLevels.Contains(i) && prev is not null)
            {
                // The reference upcasts to float32 before interpolating.
                var topDown = nn.functional.interpolate(prev.to_type(float32), scale_factor: new[] { 2.0, 2.0 }, mode: interpMode,
                    align_corners: interpMode is InterpolationMode.Nearest or InterpolationMode.NearestExact or InterpolationMode.Area ? null : false,
                    antialias: false);
                prev = lateral + topDown;
                if (fuseAvg) prev = prev / 2;
            }
            else prev = lateral;
            outs[i] = prev.MoveToOuterDisposeScope();
            pos[i] = position_encoding.forward(prev).to_type(prev.dtype).MoveToOuterDisposeScope();
        }
        return (outs, pos);
    }
}
