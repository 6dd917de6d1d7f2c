using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Amg;

/// <summary>
/// Masks and their per-mask data in batched form (the reference's MaskData, typed): every
/// field that is set has one entry per mask along dim 0. Supports filtering and concatenation.
/// <para>
/// Memory: <see cref="Filter(Tensor)"/>, <see cref="Cat"/> and <see cref="ToCpuFloat"/> replace the field
/// tensors with new ones and leave the old ones alone (they may be shared); the new tensors join
/// the current dispose scope. Use <see cref="MoveToOuterDisposeScope"/> /
/// <see cref="DetachFromDisposeScope"/> to keep a MaskData beyond a scope, and
/// <see cref="Dispose"/> to free the current tensors.
/// </para>
/// </summary>
public sealed class MaskData : IDisposable
{
    /// <summary>N×H×W mask logits, or thresholded bool masks.</summary>
    public Tensor? Masks { get; set; }
    /// <summary>N predicted IoUs.</summary>
    public Tensor? IouPreds { get; set; }
    /// <summary>N×2 point prompts (x, y).</summary>
    public Tensor? Points { get; set; }
    /// <summary>N stability scores.</summary>
    public Tensor? StabilityScore { get; set; }
    /// <summary>N×4 XYXY boxes.</summary>
    public Tensor? Boxes { get; set; }
    /// <summary>N×4 XYXY crop boxes.</summary>
    public Tensor? CropBoxes { get; set; }
    /// <summary>N×h×w low-resolution mask logits.</summary>
    public Tensor? LowResMasks { get; set; }
    /// <summary>N uncompressed RLEs.</summary>
    public List<Rle>? Rles { get; set; }

    IEnumerable<(string Name, Tensor? Value)> TensorFields()
    {
        yield return (nameof(Masks), Masks);
        yield return (nameof(IouPreds), IouPreds);
        yield return (nameof(Points), Points);
        yield return (nameof(StabilityScore), StabilityScore);
        yield return (nameof(Boxes), Boxes);
        yield return (nameof(CropBoxes), CropBoxes);
        yield return (nameof(LowResMasks), LowResMasks);
    }

    // Applies f to every set tensor field.
    void MapTensors(Func<Tensor, Tensor> f)
    {
        if (Masks is not null) Masks = f(Masks);
        if (IouPreds is not null) IouPreds = f(IouPreds);
        if (Points is not null) Points = f(Points);
        if (StabilityScore is not null) StabilityScore = f(StabilityScore);
        if (Boxes is not null) Boxes = f(Boxes);
        if (CropBoxes is not null) CropBoxes = f(CropBoxes);
        if (LowResMasks is not null) LowResMasks = f(LowResMasks);
    }

    /// <summary>Number of masks (length of the first field that is set; 0 when none is).</summary>
    public int Count
    {
        get
        {
            foreach (var (_, v) in TensorFields())
                if (v is not null) return (int)v.shape[0];
            return Rles?.Count ?? 0;
        }
    }

    /// <summary>
    /// Keeps the entries selected by <paramref name="keep"/>: a 1-D bool mask or 1-D int64
    /// indices (which may reorder or repeat), applied to every field.
    /// </summary>
    public void Filter(Tensor keep)
    {
        MapTensors(v =>
        {
            using var k = keep.to(v.device);
            return k.dtype == ScalarType.Bool ? v[k] : v.index_select(0, k.to_type(ScalarType.Int64));
        });
        if (Rles is not null)
        {
            if (keep.dtype == ScalarType.Bool)
            {
                var flags = ToArray<bool>(keep);
                Rles = Rles.Where((_, i) => flags[i]).ToList();
            }
            else
            {
                var idx = ToArray<long>(keep.to_type(ScalarType.Int64));
                var src = Rles;
                Rles = idx.Select(i => src[(int)i]).ToList();
            }
        }
    }

    /// <summary>Keeps the entries at the given indices, in that order.</summary>
    public void Filter(long[] keep)
    {
        using var k = tensor(keep, dtype: ScalarType.Int64, device: CPU); // moved to each field's device
        Filter(k);
    }

    /// <summary>
    /// Appends the entries of <paramref name="other"/> field by field (cat along dim 0); a field
    /// this one does not have yet is copied. Fields <paramref name="other"/> lacks are left as they are.
    /// </summary>
    public void Cat(MaskData other)
    {
        Masks = CatField(Masks, other.Masks);
        IouPreds = CatField(IouPreds, other.IouPreds);
        Points = CatField(Points, other.Points);
        StabilityScore = CatField(StabilityScore, other.StabilityScore);
        Boxes = CatField(Boxes, other.Boxes);
        CropBoxes = CatField(CropBoxes, other.CropBoxes);
        LowResMasks = CatField(LowResMasks, other.LowResMasks);
        if (other.Rles is not null)
            Rles = Rles is null ? new List<Rle>(other.Rles) : Rles.Concat(other.Rles).ToList();
    }

    static Tensor? CatField(Tensor? mine, Tensor? theirs)
    {
        if (theirs is null) return mine;
        if (mine is null) return theirs.clone();
        return torch.cat(new[] { mine, theirs }, 0);
    }

    /// <summary>The reference's <c>to_numpy</c>: every tensor becomes float32 on the CPU.</summary>
    public void ToCpuFloat() => MapTensors(v => v.to_type(ScalarType.Float32).cpu());

    /// <summary>Moves the current tensors to the dispose scope outside the current one.</summary>
    public MaskData MoveToOuterDisposeScope()
    {
        MapTensors(v => v.MoveToOuterDisposeScope());
        return this;
    }

    /// <summary>Takes the current tensors out of any dispose scope (free them with <see cref="Dispose"/>).</summary>
    public MaskData DetachFromDisposeScope()
    {
        MapTensors(v => v.DetachFromDisposeScope());
        return this;
    }

    /// <summary>Disposes the current tensors and clears all fields.</summary>
    public void Dispose()
    {
        foreach (var (_, v) in TensorFields()) v?.Dispose();
        Masks = IouPreds = Points = StabilityScore = Boxes = CropBoxes = LowResMasks = null;
        Rles = null;
    }

    static T[] ToArray<T>(Tensor t) where T : unmanaged
    {
        using var c = t.cpu().contiguous();
        return c.data<T>().ToArray();
    }
}
