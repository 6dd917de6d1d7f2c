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
    public PointInputs? PointInputs { get; init; }
    public Tensor? MaskInputs { get; init; }
    /// <summary>Low-resolution mask logits, B×1×S/4×S/4.</summary>
    public required Tensor PredMasks { get; set; }
    /// <summary>Full-resolution logits (S×S); only kept while a step needs them.</summary>
    public Tensor? PredMasksHighRes { get; set; }
    public required Tensor ObjPtr { get; set; }
    public Tensor? ObjectScoreLogits { get; set; }
    public Tensor? MaskmemFeatures { get; set; }
    public IReadOnlyList<Tensor>? MaskmemPosEnc { get; set; }

    /// <summary>Moves the tensors a step computed (not the prompts it was given) out of the current dispose scope.</summary>
    public FrameOutput Keep()
    {
        foreach (var t in Computed()) t.MoveToOuterDisposeScope();
        return this;
    }

    IEnumerable<Tensor> Computed()
    {
        yield return PredMasks;
        if (PredMasksHighRes is { } h) yield return h;
        yield return ObjPtr;
        if (ObjectScoreLogits is { } s) yield return s;
        if (MaskmemFeatures is { } f) yield return f;
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
    }
}

/// <summary>
/// The memory bank of one object (the reference's <c>output_dict</c>): outputs on conditioning
/// frames (those with prompts) and on the frames tracked from them, by frame index.
/// </summary>
public sealed class ObjectMemory
{
    public SortedDictionary<int, FrameOutput> CondFrameOutputs { get; } = new();
    public SortedDictionary<int, FrameOutput> NonCondFrameOutputs { get; } = new();

    public SortedDictionary<int, FrameOutput> Get(bool isCond) => isCond ? CondFrameOutputs : NonCondFrameOutputs;

    public FrameOutput? Find(int frame) =>
        CondFrameOutputs.GetValueOrDefault(frame) ?? NonCondFrameOutputs.GetValueOrDefault(frame);
}
