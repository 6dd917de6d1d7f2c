using System.Runtime.Intrinsics;
using Sam2Sharp.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Amg;

/// <summary>
/// Inclusive XYXY boxes of bool masks in one pass over each: the rows with a pixel on give top and bottom, their OR
/// gives left and right. In torch that is two reductions over every mask and eight small tensors per batch.
/// </summary>
internal static class MaskBoxes
{
    /// <summary>Whether <see cref="Of"/> reads <paramref name="masks"/> in place: bool, contiguous, in CPU memory.</summary>
    public static bool Applies(Tensor masks) => CpuKernel.Reads(masks, ScalarType.Bool, 2);

    /// <summary>int64 boxes (x0, y0, x1, y1) of the leading shape × 4; [0, 0, 0, 0] for an empty mask.</summary>
    public static unsafe Tensor Of(Tensor masks)
    {
        int h = checked((int)masks.shape[^2]), w = checked((int)masks.shape[^1]);
        int n = checked((int)(masks.numel() / Math.Max(1L, (long)h * w)));
        var boxes = new long[n * 4];
        fixed (byte* data = masks.bytes)
        {
            nint start = (nint)data;
            Parallel.For(0, n, CpuKernel.TorchThreads, i =>
                Box(new ReadOnlySpan<byte>((byte*)start + (long)i * h * w, h * w), h, w, boxes.AsSpan(i * 4, 4)));
        }
        return tensor(boxes, device: masks.device).view(masks.shape[..^2].Append(4L).ToArray());
    }

    static void Box(ReadOnlySpan<byte> mask, int h, int w, Span<long> box)
    {
        int top = -1, bottom = -1;
        Span<byte> columns = w <= 4096 ? stackalloc byte[w] : new byte[w];
        columns.Clear();
        for (int y = 0; y < h; y++)
        {
            var row = mask.Slice(y * w, w);
            if (row.IndexOfAnyExcept((byte)0) < 0) continue;
            if (top < 0) top = y;
            bottom = y;
            int x = 0;
            for (; x <= w - Vector256<byte>.Count; x += Vector256<byte>.Count)
                (Vector256.Create(columns.Slice(x, 32)) | Vector256.Create(row.Slice(x, 32))).CopyTo(columns.Slice(x, 32));
            for (; x < w; x++) columns[x] |= row[x];
        }
        if (top < 0) return; // empty: [0, 0, 0, 0]
        box[0] = columns.IndexOfAnyExcept((byte)0);
        box[1] = top;
        box[2] = columns.LastIndexOfAnyExcept((byte)0);
        box[3] = bottom;
    }
}
