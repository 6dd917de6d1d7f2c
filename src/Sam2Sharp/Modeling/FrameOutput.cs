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
    private Spillable predMasks = null!;
    private Spillable? maskmemFeatures;

    /// <summary>Low-resolution mask logits, B×1×S/4×S/4 (read back from disk when spilled).</summary>
    public required Tensor PredMasks { get => predMasks.Get(); set => predMasks = new Spillable(value); }
    /// <summary>Full-resolution logits (S×S); only kept while a step needs them.</summary>
    public Tensor? PredMasksHighRes { get; set; }
    public required Tensor ObjPtr { get; set; }
    public Tensor? ObjectScoreLogits { get; set; }
    /// <summary>The encoded memory, bfloat16 in the video predictor (read back from disk when spilled).</summary>
    public Tensor? MaskmemFeatures { get => maskmemFeatures?.Get(); set => maskmemFeatures = value is null ? null : new Spillable(value); }

    /// <summary>Whether the large tensors live on disk (see <see cref="Spill"/>).</summary>
    public bool IsSpilled => predMasks.IsSpilled;

    /// <summary>
    /// Moves the mask logits and memory features to files under <paramref name="dir"/>, keeping the
    /// small pointer and score in memory, so that a long video's memory bank does not grow in RAM.
    /// Reading them afterwards loads a copy into the current dispose scope.
    /// </summary>
    public void Spill(string dir)
    {
        var stem = Path.Combine(dir, Guid.NewGuid().ToString("N"));
        predMasks.Spill(stem + ".mask");
        maskmemFeatures?.Spill(stem + ".mem");
    }
    public IReadOnlyList<Tensor>? MaskmemPosEnc { get; set; }

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
        predMasks.DeleteFile();
        maskmemFeatures?.DeleteFile();
    }
}

/// <summary>A tensor held in memory, or spilled to a file of its raw bytes and reloaded on each access.</summary>
internal sealed class Spillable(Tensor value)
{
    private Tensor? inMemory = value;
    private string? path;
    private readonly long[] shape = value.shape;
    private readonly ScalarType dtype = value.dtype;
    private readonly Device device = value.device;

    public Tensor? InMemory => inMemory;
    public bool IsSpilled => inMemory is null;

    public Tensor Get()
    {
        if (inMemory is not null) return inMemory;
        var t = empty(shape, dtype, CPU);
        t.bytes = File.ReadAllBytes(path!);
        if (device.type == TorchSharp.DeviceType.CPU) return t;
        using (t) return t.to(device);
    }

    public void Spill(string file)
    {
        if (inMemory is null) return;
        using (var host = inMemory.cpu()) File.WriteAllBytes(file, host.bytes.ToArray());
        path = file;
        inMemory.Dispose();
        inMemory = null;
    }

    public void DeleteFile()
    {
        if (path is not null && File.Exists(path)) File.Delete(path);
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
