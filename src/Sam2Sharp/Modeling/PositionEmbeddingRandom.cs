using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>
/// Positional encoding with random spatial frequencies (Fourier features of the coordinates),
/// used for point prompts and for the dense grid the mask decoder attends to.
/// </summary>
public sealed class PositionEmbeddingRandom : nn.Module<int, int, Tensor>
{
    // A persistent buffer: part of the official state dict.
    private readonly Tensor positional_encoding_gaussian_matrix;

    /// <summary>A random 2×<paramref name="numPosFeats"/> frequency matrix (a buffer of the state dict, so checkpoints restore it).</summary>
    /// <param name="numPosFeats">Frequencies; the encoding has twice as many channels (sin and cos).</param>
    /// <param name="scale">Standard deviation of the frequencies; 1 when null or not positive.</param>
    public PositionEmbeddingRandom(int numPosFeats = 64, double? scale = null) : base(nameof(PositionEmbeddingRandom))
    {
        double s = scale is null || scale <= 0.0 ? 1.0 : scale.Value;
        // A module's buffer must outlive any dispose scope the module happens to be built in.
        positional_encoding_gaussian_matrix = (s * randn(2, numPosFeats)).DetachFromDisposeScope();
        RegisterComponents();
    }

    /// <summary>Encodes coordinates already normalized to [0, 1] (last dim = 2) → (..., 2·numPosFeats).</summary>
    private Tensor PeEncoding(Tensor coords)
    {
        using var scope = NewDisposeScope();
        coords = 2 * coords - 1;
        coords = coords.matmul(positional_encoding_gaussian_matrix);
        coords = 2 * Math.PI * coords;
        return cat(new[] { coords.sin(), coords.cos() }, -1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Encoding of the centres of an h×w grid, as C×h×w (stored channels-last). Without gradients it is kept and reused
    /// while the size and the frequencies are unchanged (<see cref="KeptTensor{TKey}"/>: 2.7 ms a call for the decoder's
    /// 64×64 grid, which every prompt and every tracked object asked for); a kept result must not be disposed.
    /// </summary>
    public override Tensor forward(int h, int w) => grids.GetOrMake((h, w), [positional_encoding_gaussian_matrix], () =>
    {
        var grid = ones(new long[] { h, w }, dtype: float32, device: positional_encoding_gaussian_matrix.device);
        var yEmbed = (grid.cumsum(0) - 0.5) / h;
        var xEmbed = (grid.cumsum(1) - 0.5) / w;
        return PeEncoding(stack(new[] { xEmbed, yEmbed }, -1)).permute(2, 0, 1);
    });

    private readonly KeptTensor<(int, int)> grids = new();

    /// <summary>Frees the kept grid encoding with the module.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing) grids.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>Encodes B×N×2 pixel coordinates (x, y) of an image of size (h, w) → B×N×C.</summary>
    public Tensor forward_with_coords(Tensor coordsInput, (int h, int w) imageSize)
    {
        using var scope = NewDisposeScope();
        var coords = coordsInput.clone();
        coords[.., .., 0] = coords[.., .., 0] / imageSize.w;
        coords[.., .., 1] = coords[.., .., 1] / imageSize.h;
        return PeEncoding(coords.to_type(float32)).MoveToOuterDisposeScope();
    }
}
