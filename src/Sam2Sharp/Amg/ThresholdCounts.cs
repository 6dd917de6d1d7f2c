using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Sam2Sharp.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Amg;

/// <summary>
/// Per mask of N×H×W logits, the pixels above each of two thresholds, in one pass over the floats. In torch that is two
/// comparisons and two sums, each a pass over the batch: a keep-everything batch of the automatic mask generator is
/// 192 masks at 1024², 768 MB of logits read twice and two 192 MB bool tensors made and read.
/// </summary>
internal static class ThresholdCounts
{
    /// <summary>Whether <see cref="Count"/> reads <paramref name="masks"/> in place: float32, contiguous, in CPU memory.</summary>
    public static bool Applies(Tensor masks) => CpuKernel.Reads(masks, ScalarType.Float32, 2);

    /// <summary>Counts of logits &gt; <paramref name="high"/> and &gt; <paramref name="low"/> per mask, int32 tensors of the leading shape.</summary>
    public static unsafe (Tensor AboveHigh, Tensor AboveLow) Count(Tensor masks, float high, float low)
    {
        int hw = checked((int)(masks.shape[^1] * masks.shape[^2]));
        int n = checked((int)(masks.numel() / Math.Max(hw, 1)));
        var aboveHigh = new int[n];
        var aboveLow = new int[n];
        fixed (byte* data = masks.bytes)
        {
            nint start = (nint)data;
            Parallel.For(0, n, CpuKernel.TorchThreads, i =>
            {
                var mask = new ReadOnlySpan<float>((float*)start + (long)i * hw, hw);
                (aboveHigh[i], aboveLow[i]) = CountMask(mask, high, low);
            });
        }
        var shape = masks.shape[..^2];
        return (tensor(aboveHigh, device: masks.device).view(shape), tensor(aboveLow, device: masks.device).view(shape));
    }

    /// <summary>Logits of one mask (or part of one) above <paramref name="high"/> and above <paramref name="low"/>.</summary>
    internal static (int High, int Low) CountMask(ReadOnlySpan<float> x, float high, float low)
    {
        int i = 0, h = 0, l = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= Vector256<float>.Count)
        {
            // A true comparison is all ones (-1): subtracting it counts per lane (at most hw / 8 each, no overflow).
            Vector256<int> accHigh = default, accLow = default;
            var vHigh = Vector256.Create(high);
            var vLow = Vector256.Create(low);
            ref float first = ref MemoryMarshal.GetReference(x);
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.LoadUnsafe(ref Unsafe.Add(ref first, i));
                accHigh -= Vector256.GreaterThan(v, vHigh).AsInt32();
                accLow -= Vector256.GreaterThan(v, vLow).AsInt32();
            }
            h = Vector256.Sum(accHigh);
            l = Vector256.Sum(accLow);
        }
        for (; i < x.Length; i++)
        {
            if (x[i] > high) h++;
            if (x[i] > low) l++;
        }
        return (h, l);
    }
}
