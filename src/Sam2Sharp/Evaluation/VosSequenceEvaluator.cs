namespace Sam2Sharp.Evaluation;

/// <summary>J and F of one object over the evaluated frames, in percent.</summary>
public sealed record ObjectScore(int ObjectId, double J, double F)
{
    /// <summary>The mean of J and F.</summary>
    public double JF => (J + F) / 2;
}

/// <summary>
/// Accumulates J and F over the frames of one sequence of label maps (the reference's Evaluator): every frame,
/// each object seen so far in the ground truth OR the prediction (from any earlier fed frame on) is scored, so an
/// object enters the averages at the first frame where either side shows it. Only objects that appear in the
/// ground truth are reported; objects only predicted are computed and dropped, as in the reference.
/// </summary>
public sealed class VosSequenceEvaluator
{
    readonly double boundaryThreshold;
    readonly SortedSet<int> objectsInGt = new();
    readonly SortedSet<int> objectsInMasks = new();
    readonly Dictionary<int, List<double>> iou = new();
    readonly Dictionary<int, List<double>> boundaryF = new();

    /// <summary>An evaluator with the boundary tolerance as a fraction of the image diagonal.</summary>
    public VosSequenceEvaluator(double boundaryThreshold = 0.008) => this.boundaryThreshold = boundaryThreshold;

    /// <summary>Scores one frame; <paramref name="mask"/> and <paramref name="gt"/> hold object ids (0 = background).</summary>
    public void FeedFrame(ReadOnlySpan<int> mask, ReadOnlySpan<int> gt, int height, int width)
    {
        if (mask.Length != height * width || gt.Length != height * width)
            throw new ArgumentException("mask and ground truth must both be height × width");
        foreach (var v in gt) if (v != 0) objectsInGt.Add(v);
        foreach (var v in mask) if (v != 0) objectsInMasks.Add(v);

        var all = new SortedSet<int>(objectsInGt);
        all.UnionWith(objectsInMasks);
        var disk = VosMetrics.DiskHalfWidths(VosMetrics.BoundaryRadius(height, width, boundaryThreshold));

        var objMask = new bool[mask.Length];
        var objGt = new bool[gt.Length];
        foreach (int id in all)
        {
            long inter = 0, sum = 0;
            for (int i = 0; i < objMask.Length; i++)
            {
                bool m = mask[i] == id, g = gt[i] == id;
                objMask[i] = m; objGt[i] = g;
                if (m) sum++;
                if (g) sum++;
                if (m && g) inter++;
            }
            Add(iou, id, VosMetrics.Iou(inter, sum));
            Add(boundaryF, id, VosMetrics.BoundaryF(objMask, objGt, height, width, disk));
        }
    }

    static void Add(Dictionary<int, List<double>> d, int id, double v)
    {
        if (!d.TryGetValue(id, out var l)) d[id] = l = new List<double>();
        l.Add(v);
    }

    /// <summary>
    /// Mean J and F (percent) of every object of the ground truth, by increasing id. (The reference iterates a Python
    /// set of ints, which is this order for the usual small ids; the order changes only the listing, not the values.)
    /// </summary>
    public IReadOnlyList<ObjectScore> Conclude() =>
        objectsInGt.Select(id => new ObjectScore(id, VosMetrics.Mean(iou[id]) * 100, VosMetrics.Mean(boundaryF[id]) * 100)).ToList();
}
