using Sam2Sharp.IO;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>Point prompts in model-input pixels: B×P×2 coordinates, B×P int32 labels
/// (1 positive, 0 negative, 2/3 box corners, -1 padding).</summary>
public sealed record PointInputs(Tensor Coords, Tensor Labels)
{
    /// <summary>Appends points after the existing ones (concat_points).</summary>
    public static PointInputs Concat(PointInputs? old, Tensor coords, Tensor labels) => old is null
        ? new(coords, labels)
        : new(cat(new[] { old.Coords, coords }, 1), cat(new[] { old.Labels, labels }, 1));
}

/// <summary>
/// What tracking keeps for one object on one frame: the prediction, the object pointer and
/// score, and the encoded memory (stored in bfloat16, as the reference does).
/// </summary>
public sealed class FrameOutput : IDisposable
{
    /// <summary>The clicks and box the step was given (not owned: the session keeps its prompts).</summary>
    public PointInputs? PointInputs { get; init; }
    /// <summary>The mask prompt the step was given (not owned).</summary>
    public Tensor? MaskInputs { get; init; }
    private Spillable predMasks = null!, objPtr = null!;
    private Spillable? maskmemFeatures, objectScore;

    /// <summary>Low-resolution mask logits, B×1×S/4×S/4 (read back from disk when spilled).</summary>
    public required Tensor PredMasks { get => predMasks.Get(); set => predMasks = new Spillable(value); }
    /// <summary>Full-resolution logits (S×S); only kept while a step needs them.</summary>
    public Tensor? PredMasksHighRes { get; set; }
    /// <summary>The object pointer, B×C: the token memory attention reads for this frame (read back from disk when spilled).</summary>
    public required Tensor ObjPtr { get => objPtr.Get(); set => objPtr = new Spillable(value); }
    /// <summary>Whether the object is on the frame, B×1 (positive: present; read back from disk when spilled).</summary>
    public Tensor? ObjectScoreLogits { get => objectScore?.Get(); set => objectScore = value is null ? null : new Spillable(value); }
    /// <summary>The encoded memory, bfloat16 in the video predictor (read back from disk when spilled).</summary>
    public Tensor? MaskmemFeatures { get => maskmemFeatures?.Get(); set => maskmemFeatures = value is null ? null : new Spillable(value); }

    /// <summary>Whether the large tensors were moved to disk (a long video's old frames); reading them loads a copy.</summary>
    public bool IsSpilled => predMasks.IsSpilled;

    /// <summary>
    /// Moves every tensor the step computed (mask logits, memory features, and the small pointer and score too) to
    /// files of <paramref name="folder"/>, so that what a long video keeps in RAM does not grow with its length.
    /// Reading them afterwards loads a copy into the current dispose scope.
    /// </summary>
    internal void Spill(SpillFolder folder)
    {
        foreach (var t in Spillables()) t.Spill(folder);
    }

    IEnumerable<Spillable> Spillables()
    {
        yield return predMasks;
        yield return objPtr;
        if (maskmemFeatures is not null) yield return maskmemFeatures;
        if (objectScore is not null) yield return objectScore;
    }

    /// <summary>Bytes of the computed tensors held in memory (not the spilled ones, the prompts or the shared position encoding).</summary>
    internal long ResidentBytes => Computed().Sum(Sam2Utils.TensorBytes);
    /// <summary>The memory's position encoding (shared by every frame of a session: not owned).</summary>
    public IReadOnlyList<Tensor>? MaskmemPosEnc { get; set; }

    /// <summary>
    /// Object <paramref name="k"/> of a batched output (batch size 1, its own copies, in the current dispose scope),
    /// so that each object's memory bank owns and frees its own tensors.
    /// </summary>
    internal FrameOutput Object(int k)
    {
        Tensor One(Tensor t) => t[TensorIndex.Slice(k, k + 1)].clone();
        return new FrameOutput
        {
            PointInputs = PointInputs,
            MaskInputs = MaskInputs,
            PredMasks = One(PredMasks),
            PredMasksHighRes = PredMasksHighRes is null ? null : One(PredMasksHighRes),
            ObjPtr = One(ObjPtr),
            ObjectScoreLogits = ObjectScoreLogits is null ? null : One(ObjectScoreLogits),
            MaskmemFeatures = MaskmemFeatures is null ? null : One(MaskmemFeatures),
            MaskmemPosEnc = MaskmemPosEnc?.Select(One).ToList(),
        };
    }

    /// <summary>Moves the tensors a step computed (not the prompts it was given) out of the current dispose scope.</summary>
    public FrameOutput Keep()
    {
        foreach (var t in Computed()) t.MoveToOuterDisposeScope();
        return this;
    }

    // The tensors held in memory that a step computed (spilled ones are files).
    IEnumerable<Tensor> Computed()
    {
        if (PredMasksHighRes is { } h) yield return h;
        foreach (var t in Spillables())
            if (t.InMemory is { } m) yield return m;
    }

    /// <summary>Detaches the computed tensors from all dispose scopes: the memory bank owns them.</summary>
    public FrameOutput Own()
    {
        foreach (var t in Computed()) t.DetachFromDisposeScope();
        return this;
    }

    /// <summary>Frees the computed tensors (not the prompts, nor the shared position encoding).</summary>
    public void Dispose()
    {
        foreach (var t in Computed()) t.Dispose();
        foreach (var t in Spillables()) t.Delete();
    }
}

/// <summary>A tensor held in memory, or spilled to a file and reloaded on each access.</summary>
internal sealed class Spillable(Tensor value)
{
    private Tensor? inMemory = value;
    private SpilledTensor? spilled;

    public Tensor? InMemory => inMemory;
    public bool IsSpilled => inMemory is null;

    public Tensor Get() => inMemory ?? spilled!.Load();

    public void Spill(SpillFolder folder)
    {
        if (inMemory is null) return;
        spilled = folder.Write(inMemory);
        inMemory.Dispose();
        inMemory = null;
    }

    /// <summary>Removes the spilled copy, if any.</summary>
    public void Delete() => spilled?.Delete();
}
