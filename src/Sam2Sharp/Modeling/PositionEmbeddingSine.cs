using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>
/// Sine/cosine position encoding of a feature map's grid (DETR style), normalised to [0, scale].
/// Returns B×numPosFeats×H×W: the first half encodes rows (y), the second half columns (x).
/// It has no parameters: each grid size is computed once and kept (1×F×H×W, float32) for later calls.
/// </summary>
public sealed class PositionEmbeddingSine : nn.Module<Tensor, Tensor>
{
    private readonly int halfFeats;
    private readonly double temperature;
    private readonly bool normalize;
    private readonly double scale;

    /// <summary>Channels of the encoding (half for rows, half for columns).</summary>
    public int NumPosFeats => 2 * halfFeats;

    // Not Tensor fields, so that the kept grids never become buffers of the state dict.
    private readonly Dictionary<(long H, long W, string Device), Tensor> grids = new();

    /// <param name="numPosFeats">Channels of the encoding; even.</param>
    /// <param name="temperature">The frequency base.</param>
    /// <param name="normalize">Scale the coordinates to [0, <paramref name="scale"/>].</param>
    /// <param name="scale">The normalised range; 2π when null (needs <paramref name="normalize"/>).</param>
    /// <param name="warmupCache">Accepted for config compatibility; the reference only warms a CUDA cache.</param>
    /// <param name="imageSize">Accepted for config compatibility (cache warm-up only).</param>
    /// <param name="strides">Accepted for config compatibility (cache warm-up only).</param>
    public PositionEmbeddingSine(int numPosFeats, double temperature = 10000, bool normalize = true, double? scale = null,
                                 bool warmupCache = true, int imageSize = 1024, int[]? strides = null)
        : base(nameof(PositionEmbeddingSine))
    {
        if (numPosFeats % 2 != 0) throw new ArgumentException("Expecting even model width", nameof(numPosFeats));
        if (scale is not null && !normalize) throw new ArgumentException("normalize should be True if scale is passed");
        halfFeats = numPosFeats / 2;
        this.temperature = temperature;
        this.normalize = normalize;
        this.scale = scale ?? 2 * Math.PI;
        RegisterComponents();
    }

    /// <summary>temperature^(2·floor(i/2)/halfFeats), in float32 as the reference computes it.</summary>
    private Tensor DimT(Device device)
    {
        var dimT = arange(halfFeats, dtype: float32, device: device);
        using var t = tensor(temperature, device: device); // pow(Scalar, Tensor) would make it on the default device
        return t.pow(2 * dimT.floor_divide(2) / halfFeats);
    }

    /// <summary>Interleaves sin of even and cos of odd frequencies along the last dimension.</summary>
    private static Tensor SinCos(Tensor pos)
    {
        var sin = pos[TensorIndex.Ellipsis, TensorIndex.Slice(0, null, 2)].sin();
        var cos = pos[TensorIndex.Ellipsis, TensorIndex.Slice(1, null, 2)].cos();
        return stack(new[] { sin, cos }, dim: -1).flatten(-2);
    }

    /// <summary>The encoding of <paramref name="x"/>'s grid (only its shape and device are used): B×NumPosFeats×H×W in float32.</summary>
    public override Tensor forward(Tensor x)
    {
        long b = x.shape[0], h = x.shape[^2], w = x.shape[^1];
        Tensor grid;
        lock (grids)
        {
            var key = (h, w, x.device.ToString());
            if (!grids.TryGetValue(key, out grid!)) grids[key] = grid = Grid(h, w, x.device).DetachFromDisposeScope();
        }
        // A new handle on the kept grid (or a copy per batch element), owned by the caller's scope.
        return b > 1 ? grid.repeat(b, 1, 1, 1) : grid.alias();
    }

    private Tensor Grid(long h, long w, Device device)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        // Row and column coordinates are separable: encode each 1-D axis once, then broadcast.
        var yEmbed = arange(1, h + 1, dtype: float32, device: device);
        var xEmbed = arange(1, w + 1, dtype: float32, device: device);
        if (normalize)
        {
            const double eps = 1e-6;
            yEmbed = yEmbed / (yEmbed[-1] + eps) * scale;
            xEmbed = xEmbed / (xEmbed[-1] + eps) * scale;
        }
        var dimT = DimT(device);
        var posY = SinCos(yEmbed[.., TensorIndex.None] / dimT);   // H×F
        var posX = SinCos(xEmbed[.., TensorIndex.None] / dimT);   // W×F
        var f = posY.shape[1];
        var pos = cat(new[]
        {
            posY.t()[.., .., TensorIndex.None].expand(f, h, w),
            posX.t()[.., TensorIndex.None, ..].expand(f, h, w),
        }, 0).unsqueeze(0);
        return pos.MoveToOuterDisposeScope();
    }

    /// <summary>Frees the kept grids.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing) lock (grids) { foreach (var t in grids.Values) t.Dispose(); grids.Clear(); }
        base.Dispose(disposing);
    }

    /// <summary>Encodes normalised 1-D coordinates x, y (N each) → (posX, posY), N×numPosFeats/2 each.</summary>
    public (Tensor posX, Tensor posY) EncodeXY(Tensor x, Tensor y)
    {
        if (x.dim() != 1 || y.dim() != 1 || x.shape[0] != y.shape[0]) throw new ArgumentException("x and y must be 1-D of equal length");
        using var scope = NewDisposeScope();
        var dimT = DimT(x.device);
        var px = SinCos((x * scale)[.., TensorIndex.None] / dimT);
        var py = SinCos((y * scale)[.., TensorIndex.None] / dimT);
        return (px.MoveToOuterDisposeScope(), py.MoveToOuterDisposeScope());
    }

    /// <summary>Boxes (centres x, y and sizes w, h, each N) → N×(numPosFeats+2): [pos_y, pos_x, h, w].</summary>
    public Tensor EncodeBoxes(Tensor x, Tensor y, Tensor w, Tensor h)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (px, py) = EncodeXY(x, y);
        return cat(new[] { py, px, h[.., TensorIndex.None], w[.., TensorIndex.None] }, 1).MoveToOuterDisposeScope();
    }

    /// <summary>Points x, y and labels (each B×N) → B×N×(numPosFeats+1): [pos_y, pos_x, label].</summary>
    public Tensor EncodePoints(Tensor x, Tensor y, Tensor labels)
    {
        if (!x.shape.SequenceEqual(y.shape) || !x.shape.SequenceEqual(labels.shape) || x.dim() != 2)
            throw new ArgumentException("x, y and labels must all be B×N");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        long b = x.shape[0], n = x.shape[1];
        var (px, py) = EncodeXY(x.flatten(), y.flatten());
        px = px.reshape(b, n, -1);
        py = py.reshape(b, n, -1);
        return cat(new[] { py, px, labels[.., .., TensorIndex.None].to_type(px.dtype) }, 2).MoveToOuterDisposeScope();
    }
}
