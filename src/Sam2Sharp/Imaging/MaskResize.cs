using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Imaging;

/// <summary>
/// Bilinear resizing of mask logits (torch's <c>interpolate</c>, <c>align_corners=False</c>, no antialias), the step
/// that takes the decoder's 256² logits to the image. On the CPU it rounds as torch's kernel does (the same source
/// indices and weights, the same fused multiply-adds: width first, then height): equal bit for bit at the sizes masks
/// are resized to, within a few ulps on tensors of a few pixels, where torch takes another path. It makes the output in
/// one pass instead of torch's per-pixel index walk, and can threshold as it goes, so the float masks at image size
/// need not be written and read again (a click's three masks at 1024²: 12 ms in torch on 2 cores of an AMD EPYC).
/// </summary>
public static class MaskResize
{
    const int RowsPerItem = 64;

    /// <summary>B×C×h×w logits → B×C×H×W logits, as <c>interpolate(x, (H, W), bilinear, align_corners=False)</c>.</summary>
    public static Tensor Bilinear(Tensor logits, long height, long width) =>
        FastPathApplies(logits) ? Resize(logits, height, width, null, null).Output
            : nn.functional.interpolate(logits, size: [height, width], mode: InterpolationMode.Bilinear, align_corners: false);

    /// <summary>B×C×h×w logits → B×C×H×W bool masks: the resized logits above <paramref name="threshold"/>.</summary>
    public static Tensor BilinearAbove(Tensor logits, long height, long width, double threshold)
    {
        if (FastPathApplies(logits)) return Resize(logits, height, width, (float)threshold, null).Output;
        using var resized = Bilinear(logits, height, width);
        return resized > threshold;
    }

    /// <summary>
    /// <see cref="BilinearAbove"/>, also counting per mask the resized logits above <paramref name="high"/> and above
    /// <paramref name="low"/> (int32, B×C: the automatic mask generator's stability score) in the same pass.
    /// </summary>
    public static (Tensor Masks, Tensor AboveHigh, Tensor AboveLow) BilinearAboveCounting(Tensor logits, long height, long width,
        double threshold, double high, double low)
    {
        if (FastPathApplies(logits))
        {
            var (masks, counts) = Resize(logits, height, width, (float)threshold, ((float)high, (float)low));
            var shape = logits.shape[..2];
            return (masks, tensor(counts!.Select(c => c.High).ToArray(), device: logits.device).view(shape),
                tensor(counts!.Select(c => c.Low).ToArray(), device: logits.device).view(shape));
        }
        using var resized = Bilinear(logits, height, width);
        var (aboveHigh, aboveLow) = Amg.AmgUtils.CountAbove(resized, high, low);
        return (resized > threshold, aboveHigh, aboveLow);
    }

    /// <summary>Float32, contiguous, four dimensions, in CPU memory, no gradient to record, and a CPU with AVX2 and FMA.</summary>
    internal static bool FastPathApplies(Tensor x) =>
        Avx2.IsSupported && Fma.IsSupported && CpuKernel.Reads(x, ScalarType.Float32, 4) && x.dim() == 4
        && !(x.requires_grad && is_grad_enabled());

    /// <summary>Per plane, the resized logits above the two thresholds of a counting resize.</summary>
    sealed class PlaneCounts { public int High, Low; }

    static unsafe (Tensor Output, (int High, int Low)[]? Counts) Resize(Tensor x, long height, long width, float? threshold,
        (float High, float Low)? count)
    {
        int h = checked((int)x.shape[2]), w = checked((int)x.shape[3]), outH = checked((int)height), outW = checked((int)width);
        int planes = checked((int)(x.shape[0] * x.shape[1]));
        var output = empty([x.shape[0], x.shape[1], outH, outW], threshold is null ? ScalarType.Float32 : ScalarType.Bool, x.device);
        var counts = count is null ? null : Enumerable.Range(0, planes).Select(_ => new PlaneCounts()).ToArray();
        if (output.numel() > 0)
        {
            var rows = Axis.Of(h, outH);
            var cols = Axis.Of(w, outW);
            int itemsPerPlane = (outH + RowsPerItem - 1) / RowsPerItem;
            fixed (byte* src = x.bytes)
            fixed (byte* dst = output.bytes)
            {
                nint source = (nint)src, target = (nint)dst;
                Parallel.For(0, planes * itemsPerPlane, CpuKernel.TorchThreads, item =>
                {
                    int plane = item / itemsPerPlane, firstRow = item % itemsPerPlane * RowsPerItem;
                    long first = plane * (long)outH * outW;
                    var rowsOut = threshold is { } t
                        ? new RowsOut(null, (bool*)target + first, t, count ?? default, counts?[plane])
                        : new RowsOut((float*)target + first, null, 0, default, null);
                    ResizeRows((float*)source + (long)plane * h * w, w, rows, cols, firstRow, Math.Min(outH, firstRow + RowsPerItem), rowsOut);
                });
            }
        }
        return (output, counts?.Select(c => (c.High, c.Low)).ToArray());
    }

    /// <summary>Where one plane's rows go: floats, or bools above Threshold (with Counts, counting above CountAbove's two).</summary>
    readonly unsafe struct RowsOut(float* @float, bool* @bool, float threshold, (float High, float Low) countAbove, PlaneCounts? counts)
    {
        public readonly float* Float = @float;
        public readonly bool* Bool = @bool;
        public readonly float Threshold = threshold;
        public readonly (float High, float Low) CountAbove = countAbove;
        public readonly PlaneCounts? Counts = counts;
    }

    /// <summary>Output rows [firstRow, lastRow) of one plane: the source rows they read, resized across, then combined down.</summary>
    static unsafe void ResizeRows(float* input, int w, Axis rows, Axis cols, int firstRow, int lastRow, RowsOut o)
    {
        int outW = cols.Size, top = rows.I0[firstRow], bottom = rows.I1[lastRow - 1];
        var across = ArrayPool<float>.Shared.Rent((bottom - top + 1) * outW);
        var line = o.Bool is null ? null : ArrayPool<float>.Shared.Rent(outW);
        int high = 0, low = 0;
        try
        {
            fixed (float* a = across)
            fixed (float* l = line)
            {
                for (int r = top; r <= bottom; r++) ResizeAcross(input + (long)r * w, cols, a + (long)(r - top) * outW);
                for (int y = firstRow; y < lastRow; y++)
                {
                    float* row = o.Bool is null ? o.Float + (long)y * outW : l;
                    Combine(a + (long)(rows.I0[y] - top) * outW, a + (long)(rows.I1[y] - top) * outW, rows.W0[y], rows.W1[y], row, outW);
                    if (o.Bool is null) continue;
                    Threshold(l, o.Bool + (long)y * outW, outW, o.Threshold);
                    if (o.Counts is not null)
                    {
                        var (hi, lo) = Amg.ThresholdCounts.CountMask(new ReadOnlySpan<float>(l, outW), o.CountAbove.High, o.CountAbove.Low);
                        high += hi; low += lo;
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(across);
            if (line is not null) ArrayPool<float>.Shared.Return(line);
        }
        if (o.Counts is { } counts)
        {
            Interlocked.Add(ref counts.High, high);
            Interlocked.Add(ref counts.Low, low);
        }
    }

    /// <summary>One source row resized to the output width: x[i0]·w0 + x[i1]·w1, the second product rounded, the sum fused (as torch).</summary>
    static unsafe void ResizeAcross(float* row, Axis cols, float* o)
    {
        int n = cols.Size, i = 0;
        fixed (int* i0 = cols.I0, i1 = cols.I1)
        fixed (float* w0 = cols.W0, w1 = cols.W1)
        {
            for (; i <= n - 8; i += 8)
            {
                var a = Avx2.GatherVector256(row, Avx.LoadVector256(i0 + i), 4);
                var b = Avx2.GatherVector256(row, Avx.LoadVector256(i1 + i), 4);
                Avx.Store(o + i, Fma.MultiplyAdd(a, Avx.LoadVector256(w0 + i), Avx.Multiply(b, Avx.LoadVector256(w1 + i))));
            }
            for (; i < n; i++) o[i] = MathF.FusedMultiplyAdd(row[i0[i]], w0[i], row[i1[i]] * w1[i]);
        }
    }

    /// <summary>Two resized rows combined down: a·w0 + b·w1, in the same order of rounding.</summary>
    static unsafe void Combine(float* a, float* b, float w0, float w1, float* o, int n)
    {
        int i = 0;
        var v0 = Vector256.Create(w0);
        var v1 = Vector256.Create(w1);
        for (; i <= n - 8; i += 8)
            Avx.Store(o + i, Fma.MultiplyAdd(Avx.LoadVector256(a + i), v0, Avx.Multiply(Avx.LoadVector256(b + i), v1)));
        for (; i < n; i++) o[i] = MathF.FusedMultiplyAdd(a[i], w0, b[i] * w1);
    }

    static unsafe void Threshold(float* x, bool* o, int n, float threshold)
    {
        int i = 0;
        var t = Vector256.Create(threshold);
        var one = Vector256.Create((byte)1);
        for (; i <= n - 32; i += 32)
        {
            var s0 = Vector256.Narrow(Vector256.GreaterThan(Avx.LoadVector256(x + i), t).AsInt32(), Vector256.GreaterThan(Avx.LoadVector256(x + i + 8), t).AsInt32());
            var s1 = Vector256.Narrow(Vector256.GreaterThan(Avx.LoadVector256(x + i + 16), t).AsInt32(), Vector256.GreaterThan(Avx.LoadVector256(x + i + 24), t).AsInt32());
            (Vector256.Narrow(s0, s1).AsByte() & one).Store((byte*)o + i);
        }
        for (; i < n; i++) o[i] = x[i] > threshold;
    }

    /// <summary>Source indices and weights of each output position along one axis, as torch's linear interpolation computes them.</summary>
    sealed record Axis(int Size, int[] I0, int[] I1, float[] W0, float[] W1)
    {
        public static Axis Of(int inSize, int outSize)
        {
            var a = new Axis(outSize, new int[outSize], new int[outSize], new float[outSize], new float[outSize]);
            float scale = (float)inSize / outSize;
            for (int d = 0; d < outSize; d++)
            {
                if (inSize == outSize) { a.I0[d] = a.I1[d] = d; a.W0[d] = 1; continue; }
                // torch: scale·(d + ½) − ½ (a fused multiply-add in its compiled kernel), at least 0.
                float source = Math.Max(MathF.FusedMultiplyAdd(scale, d + 0.5f, -0.5f), 0f);
                int i = Math.Min((int)MathF.Floor(source), inSize - 1);
                float lambda = Math.Clamp(source - i, 0f, 1f);
                a.I0[d] = i;
                a.I1[d] = i < inSize - 1 ? i + 1 : i;
                a.W1[d] = lambda;
                a.W0[d] = 1f - lambda;
            }
            return a;
        }
    }
}
