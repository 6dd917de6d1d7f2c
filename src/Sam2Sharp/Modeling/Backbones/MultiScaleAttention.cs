using Sam2Sharp.Benchmarking;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Backbones;

/// <summary>
/// Multi-head self-attention over a B×H×W×C map whose queries may be pooled (stage change),
/// so that the output has the pooled spatial size and dimension dimOut.
/// </summary>
public sealed class MultiScaleAttention : nn.Module<Tensor, Tensor>
{
    private readonly Linear qkv;
    private readonly Linear proj;
    private readonly nn.Module<Tensor, Tensor>? q_pool;
    private readonly int numHeads;

    /// <summary>Input channels.</summary>
    public int Dim { get; }
    /// <summary>Output channels (larger than <see cref="Dim"/> in a stage's first block).</summary>
    public int DimOut { get; }

    /// <summary>Attention with a fused qkv projection to <paramref name="dimOut"/> channels.</summary>
    /// <param name="dim">Input channels.</param>
    /// <param name="dimOut">Output channels.</param>
    /// <param name="numHeads">Attention heads.</param>
    /// <param name="qPool">Pools the queries (a max pool of q_stride) at a stage change; null otherwise.</param>
    public MultiScaleAttention(int dim, int dimOut, int numHeads, nn.Module<Tensor, Tensor>? qPool = null)
        : base(nameof(MultiScaleAttention))
    {
        Dim = dim;
        DimOut = dimOut;
        this.numHeads = numHeads;
        q_pool = qPool;
        qkv = nn.Linear(dim, dimOut * 3);
        proj = nn.Linear(dimOut, dimOut);
        RegisterComponents();
    }

    /// <summary>Applies a 2-D pooling to a channels-last B×H×W×C map (then an optional norm).</summary>
    public static Tensor DoPool(Tensor x, nn.Module<Tensor, Tensor>? pool, nn.Module<Tensor, Tensor>? norm = null)
    {
        if (pool is null) return x;
        using var scope = NewDisposeScope();
        var y = pool.forward(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1);
        if (norm is not null) y = norm.forward(y);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>B×H×W×dim (a window batch or the whole map) → B×H'×W'×dimOut, H'×W' the pooled size when the queries are pooled.</summary>
    public override Tensor forward(Tensor x) => Forward(x, null);

    /// <summary><see cref="forward"/>, timing its parts under the block's profiler sections when given.</summary>
    internal Tensor Forward(Tensor x, BlockSections? sec)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], h = x.shape[1], w = x.shape[2];
        // B×HW×3×heads×hd → 3×B×heads×HW×hd: q, k, v come out in SDPA's layout without copies.
        Tensor qkvT;
        using (Profiler.Time(sec?.Qkv)) qkvT = qkv.forward(x).reshape(b, h * w, 3, numHeads, -1).permute(2, 0, 3, 1, 4);
        var q = qkvT[0];
        var k = qkvT[1];
        var v = qkvT[2];
        if (q_pool is not null)
        using (Profiler.Time(sec?.QPool))
        {
            // B×heads×HW×hd → B×H×W×(heads·hd), pool, and back.
            var qMap = q.transpose(1, 2).reshape(b, h, w, -1);
            qMap = DoPool(qMap, q_pool);
            h = qMap.shape[1];
            w = qMap.shape[2];
            q = qMap.reshape(b, h * w, numHeads, -1).transpose(1, 2);
        }
        Tensor o;
        using (Profiler.Time(sec?.Attention)) o = nn.functional.scaled_dot_product_attention(q, k, v);
        using (Profiler.Time(sec?.Proj)) o = proj.forward(o.transpose(1, 2).reshape(b, h, w, -1));
        return o.MoveToOuterDisposeScope();
    }
}
