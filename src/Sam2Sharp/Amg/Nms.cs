using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Amg;

/// <summary>
/// Non-maximum suppression with torchvision's semantics (torchvision.ops.nms / batched_nms /
/// box_area), computed on the CPU.
/// <para>
/// Order and ties: boxes are visited by score, descending, using libtorch's stable sort (as
/// torchvision's CPU kernel does), so equal scores are visited by ascending index; a box is
/// suppressed when its IoU with an already kept box is strictly greater than the threshold.
/// The IoU is computed in float32 exactly as the kernel does (areas (x2-x1)(y2-y1), no +1).
/// Boxes and scores are converted to float32 (the reference always passes float32).
/// </para>
/// </summary>
public static class Nms
{
    /// <summary>torchvision's <c>box_area</c> of XYXY boxes (N×4); integer boxes stay integer (int32/int64).</summary>
    public static Tensor BoxArea(Tensor boxes)
    {
        using var scope = NewDisposeScope();
        var b = boxes;
        if (b.is_floating_point())
        {
            if (b.dtype != ScalarType.Float32 && b.dtype != ScalarType.Float64) b = b.to_type(ScalarType.Float32);
        }
        else if (b.dtype != ScalarType.Int32 && b.dtype != ScalarType.Int64) b = b.to_type(ScalarType.Int32);
        var area = (b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1));
        return area.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// torchvision's <c>nms</c>: indices (int64) of the kept boxes, by decreasing score.
    /// </summary>
    public static Tensor NonMaxSuppression(Tensor boxes, Tensor scores, double iouThreshold)
    {
        var keep = NmsIndices(boxes, scores, iouThreshold);
        return tensor(keep, dtype: ScalarType.Int64, device: boxes.device);
    }

    /// <summary>
    /// torchvision's <c>batched_nms</c>: NMS done independently per category <paramref name="idxs"/>.
    /// Like torchvision on the CPU, up to 1000 boxes use the coordinate trick (each category's
    /// boxes shifted by category × (max coordinate + 1), one NMS), more boxes one NMS per category
    /// whose union is then sorted by score with libtorch's default (non-stable) sort.
    /// Returns int64 indices by decreasing score.
    /// </summary>
    public static Tensor BatchedNms(Tensor boxes, Tensor scores, Tensor idxs, double iouThreshold)
    {
        using var scope = NewDisposeScope();
        var b = boxes.to_type(ScalarType.Float32);
        var s = scores.to_type(ScalarType.Float32);
        Tensor result;
        if (b.numel() > (b.device_type == DeviceType.CPU ? 4000 : 20000))
        {
            result = BatchedNmsVanilla(b, s, idxs, iouThreshold);
        }
        else if (b.numel() == 0)
        {
            result = empty(0, dtype: ScalarType.Int64, device: boxes.device);
        }
        else
        {
            var maxCoordinate = b.max();
            var offsets = idxs.to_type(b.dtype).to(b.device) * (maxCoordinate + ones(1, dtype: b.dtype, device: b.device));
            var boxesForNms = b + offsets.unsqueeze(1);
            result = NonMaxSuppression(boxesForNms, s, iouThreshold);
        }
        return result.MoveToOuterDisposeScope();
    }

    static Tensor BatchedNmsVanilla(Tensor boxes, Tensor scores, Tensor idxs, double iouThreshold)
    {
        int n = (int)boxes.shape[0];
        var cats = idxs.to_type(ScalarType.Float64).cpu().data<double>().ToArray();
        var keepMask = new bool[n];
        foreach (var cat in cats.Distinct())
        {
            var members = Enumerable.Range(0, n).Where(i => cats[i] == cat).Select(i => (long)i).ToArray();
            using var sel = tensor(members, device: boxes.device);
            using var bSel = boxes.index_select(0, sel);
            using var sSel = scores.index_select(0, sel);
            foreach (var k in NmsIndices(bSel, sSel, iouThreshold)) keepMask[members[k]] = true;
        }
        var keepIndices = tensor(Enumerable.Range(0, n).Where(i => keepMask[i]).Select(i => (long)i).ToArray(),
            device: boxes.device);
        var order = scores.index_select(0, keepIndices).sort(descending: true).Indices;
        return keepIndices.index_select(0, order);
    }

    // The CPU kernel of torchvision.ops.nms on float32 boxes.
    static long[] NmsIndices(Tensor boxes, Tensor scores, double iouThreshold)
    {
        int n = (int)boxes.shape[0];
        if (n == 0) return Array.Empty<long>();
        float[] d;
        long[] order;
        using (var scope = NewDisposeScope())
        {
            d = boxes.to_type(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
            var (_, indices) = scores.to_type(ScalarType.Float32).cpu().sort(0, descending: true, stable: true);
            order = indices.data<long>().ToArray();
        }

        var areas = new float[n];
        for (int i = 0; i < n; i++) areas[i] = (d[4 * i + 2] - d[4 * i]) * (d[4 * i + 3] - d[4 * i + 1]);

        var suppressed = new bool[n];
        var keep = new List<long>();
        for (int oi = 0; oi < n; oi++)
        {
            long i = order[oi];
            if (suppressed[i]) continue;
            keep.Add(i);
            float ix1 = d[4 * i], iy1 = d[4 * i + 1], ix2 = d[4 * i + 2], iy2 = d[4 * i + 3];
            float iarea = areas[i];
            for (int oj = oi + 1; oj < n; oj++)
            {
                long j = order[oj];
                if (suppressed[j]) continue;
                float xx1 = StdMax(ix1, d[4 * j]);
                float yy1 = StdMax(iy1, d[4 * j + 1]);
                float xx2 = StdMin(ix2, d[4 * j + 2]);
                float yy2 = StdMin(iy2, d[4 * j + 3]);
                float w = StdMax(0f, xx2 - xx1);
                float h = StdMax(0f, yy2 - yy1);
                float inter = w * h;
                float ovr = inter / (iarea + areas[j] - inter);
                if (ovr > iouThreshold) suppressed[j] = true;
            }
        }
        return keep.ToArray();
    }

    // std::max / std::min as the kernel uses them (first argument on ties and NaN).
    static float StdMax(float a, float b) => a < b ? b : a;
    static float StdMin(float a, float b) => b < a ? b : a;
}
