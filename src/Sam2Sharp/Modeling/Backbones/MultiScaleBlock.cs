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
        var shortcut = x; // B×H×W×C
        x = norm1.forward(x);
        if (Dim != DimOut)
            shortcut = MultiScaleAttention.DoPool(proj!.forward(x), pool);

        long h = x.shape[1], w = x.shape[2];
        int ws = windowSize;
        (long, long) padHW = (h, w);
        if (ws > 0) (x, padHW) = WindowUtils.WindowPartition(x, ws);

        x = attn.forward(x);
        if (qStride is { } s)
        {
            // The queries were pooled: windows and map shrank by the stride.
            ws = windowSize / s.Item1;
            h = shortcut.shape[1];
            w = shortcut.shape[2];
            long padH = ws > 0 ? (ws - h % ws) % ws : 0, padW = ws > 0 ? (ws - w % ws) % ws : 0;
            padHW = (h + padH, w + padW);
        }
        if (windowSize > 0) x = WindowUtils.WindowUnpartition(x, ws, padHW, (h, w));

        x = shortcut + drop_path.forward(x);
        x = x + drop_path.forward(mlp.forward(norm2.forward(x)));
        return x.MoveToOuterDisposeScope();
    }
}
