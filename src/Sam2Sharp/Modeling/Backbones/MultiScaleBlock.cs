using Sam2Sharp.Benchmarking;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Backbones;

/// <summary>
/// Hiera block: (windowed) attention with optional query pooling, then an MLP, both residual.
/// At a stage change the residual is projected to dimOut and pooled like the queries.
/// </summary>
public sealed class MultiScaleBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm norm1;
    private readonly MultiScaleAttention attn;
    private readonly DropPath drop_path;
    private readonly LayerNorm norm2;
    private readonly Mlp mlp;
    private readonly Linear? proj;
    private readonly MaxPool2d? pool;
    private readonly (int, int)? qStride;
    private readonly int windowSize;

    /// <summary>Input channels.</summary>
    public int Dim { get; }
    /// <summary>Output channels (the next stage's width in a stage's first block).</summary>
    public int DimOut { get; }

    /// <summary>Profiler section names of this block's parts (<see cref="Benchmarking.Profiler"/>); set by the trunk per stage.</summary>
    internal BlockSections Sections { get; set; } = BlockSections.For("encoder.block");

    /// <summary>One Hiera block as the reference builds it.</summary>
    /// <param name="dim">Input channels.</param>
    /// <param name="dimOut">Output channels; when different, the residual is projected.</param>
    /// <param name="numHeads">Attention heads.</param>
    /// <param name="mlpRatio">MLP hidden width as a multiple of <paramref name="dimOut"/>.</param>
    /// <param name="dropPath">Stochastic depth rate of both residual branches (training only).</param>
    /// <param name="normLayer">Only <c>LayerNorm</c>, as the official configs.</param>
    /// <param name="qStride">Query pooling stride at a stage change; null otherwise.</param>
    /// <param name="actLayer">The MLP's activation.</param>
    /// <param name="windowSize">Attention window size; 0 for global attention.</param>
    public MultiScaleBlock(int dim, int dimOut, int numHeads, double mlpRatio = 4.0, double dropPath = 0.0,
                           string normLayer = "LayerNorm", (int, int)? qStride = null, string actLayer = "gelu",
                           int windowSize = 0) : base(nameof(MultiScaleBlock))
    {
        if (normLayer != "LayerNorm") throw new ArgumentException($"unsupported norm layer {normLayer}", nameof(normLayer));
        Dim = dim;
        DimOut = dimOut;
        this.windowSize = windowSize;
        this.qStride = qStride;
        norm1 = nn.LayerNorm(dim, eps: 1e-6);
        if (qStride is { } s)
            pool = nn.MaxPool2d((s.Item1, s.Item2), stride: (s.Item1, s.Item2), ceil_mode: false);
        attn = new MultiScaleAttention(dim, dimOut, numHeads, pool);
        drop_path = new DropPath(dropPath);
        norm2 = nn.LayerNorm(dimOut, eps: 1e-6);
        mlp = new Mlp(dimOut, (int)(dimOut * mlpRatio), dimOut, numLayers: 2, activation: actLayer);
        if (dim != dimOut) proj = nn.Linear(dim, dimOut);
        RegisterComponents();
    }

    /// <summary>B×H×W×dim → B×H'×W'×dimOut (H'×W' halved when the block pools its queries).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var sec = Sections;
        var shortcut = x; // B×H×W×C
        using (Profiler.Time(sec.Norm)) x = norm1.forward(x);
        if (Dim != DimOut)
            using (Profiler.Time(sec.Shortcut)) shortcut = MultiScaleAttention.DoPool(proj!.forward(x), pool);

        long h = x.shape[1], w = x.shape[2];
        int ws = windowSize;
        (long, long) padHW = (h, w);
        if (ws > 0) using (Profiler.Time(sec.Window)) (x, padHW) = WindowUtils.WindowPartition(x, ws);

        x = attn.Forward(x, sec);
        if (qStride is { } s)
        {
            // The queries were pooled: windows and map shrank by the stride.
            ws = windowSize / s.Item1;
            h = shortcut.shape[1];
            w = shortcut.shape[2];
            long padH = ws > 0 ? (ws - h % ws) % ws : 0, padW = ws > 0 ? (ws - w % ws) % ws : 0;
            padHW = (h + padH, w + padW);
        }
        if (windowSize > 0) using (Profiler.Time(sec.Window)) x = WindowUtils.WindowUnpartition(x, ws, padHW, (h, w));

        using (Profiler.Time(sec.Residual)) x = shortcut + drop_path.forward(x);
        Tensor y;
        using (Profiler.Time(sec.Norm)) y = norm2.forward(x);
        using (Profiler.Time(sec.Mlp)) y = mlp.forward(y);
        using (Profiler.Time(sec.Residual)) x = x + drop_path.forward(y);
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>The profiler section names of a block's parts under one prefix (names built once, not per call).</summary>
internal sealed record BlockSections(string Norm, string Shortcut, string Window, string Qkv, string QPool, string Attention,
                                     string Proj, string Mlp, string Residual)
{
    public static BlockSections For(string prefix) => new($"{prefix}.norm", $"{prefix}.shortcut", $"{prefix}.window",
        $"{prefix}.qkv", $"{prefix}.q_pool", $"{prefix}.sdpa", $"{prefix}.proj", $"{prefix}.mlp", $"{prefix}.residual");
}
