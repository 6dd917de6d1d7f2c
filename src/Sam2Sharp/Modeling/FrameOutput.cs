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
    private Spillable predMasks = null!;
    private Spillable? maskmemFeatures;

    /// <summary>Low-resolution mask logits, B×1×S/4×S/4 (read back from disk when spilled).</summary>
    public required Tensor PredMasks { get => predMasks.Get(); set => predMasks = new Spillable(value); }
    /// <summary>Full-resolution logits (S×S); only kept while a step needs them.</summary>
    public Tensor? PredMasksHighRes { get; set; }
    /// <summary>The object pointer, B×C: the token memory attention reads for this frame.</summary>
    public required Tensor ObjPtr { get; set; }
    /// <summary>Whether the object is on the frame, B×1 (positive: present).</summary>
    public Tensor? ObjectScoreLogits { get; set; }
    /// <summary>The encoded memory, bfloat16 in the video predictor (read back from disk when spilled).</summary>
    public Tensor? MaskmemFeatures { get => maskmemFeatures?.Get(); set => maskmemFeatures = value is null ? null : new Spillable(value); }

    /// <summary>Whether the large tensors were moved to disk (a long video's old frames); reading them loads a copy.</summary>
    public bool IsSpilled => predMasks.IsSpilled;

    /// <summary>
    /// Moves the mask logits and memory features to files of <paramref name="folder"/>, keeping the small
    /// pointer and score in memory, so that a long video's memory bank does not grow in RAM.
    /// Reading them afterwards loads a copy into the current dispose scope.
    /// </summary>
    internal void Spill(SpillFolder folder)
    {
        predMasks.Spill(folder);
        maskmemFeatures?.Spill(folder);
    }
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
        if (predMasks.InMemory is { } p) yield return p;
        if (PredMasksHighRes is { } h) yield return h;
        yield return ObjPtr;
        if (ObjectScoreLogits is { } s) yield return s;
        if (maskmemFeatures?.InMemory is { } f) yield return f;
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
        predMasks.Delete();
        maskmemFeatures?.Delete();
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
