using Sam2Sharp.Benchmarking;
using Sam2Sharp.Modeling.Sam;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>
/// Conditions the current frame's features on the memory bank: a stack of
/// <see cref="MemoryAttentionLayer"/>s and a final layer norm. Inputs and output are sequence-first
/// (N × B × C) as SAM2Base passes them; the layers run batch-first when batch_first is set.
/// </summary>
public sealed class MemoryAttention : nn.Module<Tensor, Tensor, Tensor?, Tensor?, int, Tensor>
{
    private readonly ModuleList<MemoryAttentionLayer> layers;
    private readonly LayerNorm norm;
    private readonly bool posEncAtInput;
    private readonly bool batchFirst;

    /// <summary>
    /// Builds numLayers layers with <paramref name="layer"/>. The reference deep-copies one layer, so
    /// every layer starts from the first layer's parameters here too.
    /// </summary>
    public MemoryAttention(int dModel, bool posEncAtInput, Func<MemoryAttentionLayer> layer, int numLayers, bool batchFirst = true)
        : this(dModel, posEncAtInput, Clones(layer, numLayers), batchFirst)
    {
    }

    /// <summary>Takes the layers as built (no copying of parameters).</summary>
    public MemoryAttention(int dModel, bool posEncAtInput, IEnumerable<MemoryAttentionLayer> layers, bool batchFirst = true)
        : base(nameof(MemoryAttention))
    {
        DModel = dModel;
        this.layers = new ModuleList<MemoryAttentionLayer>(layers.ToArray());
        norm = nn.LayerNorm(dModel);
        this.posEncAtInput = posEncAtInput;
        this.batchFirst = batchFirst;
        RegisterComponents();
    }

    /// <summary>The width of the current frame's tokens (d_model, 256).</summary>
    public int DModel { get; }

    static readonly string[] LayerSections = Enumerable.Range(0, 8).Select(i => $"memory_attention.layer{i}").ToArray();
    static string LayerSection(int i) => i < LayerSections.Length ? LayerSections[i] : $"memory_attention.layer{i}";
    /// <summary>How many <see cref="MemoryAttentionLayer"/>s (4 in the official configs).</summary>
    public int NumLayers => layers.Count;

    private static List<MemoryAttentionLayer> Clones(Func<MemoryAttentionLayer> factory, int n)
    {
        var list = new List<MemoryAttentionLayer>();
        for (int i = 0; i < n; i++) list.Add(factory());
        if (n > 1)
        {
            var first = list[0].state_dict();
            using var _ = no_grad();
            for (int i = 1; i < n; i++)
                foreach (var (name, t) in list[i].state_dict())
                    t.copy_(first[name]);
        }
        return list;
    }

    /// <summary>
    /// curr: Nq × B × d_model (current frame), memory: Nk × B × kv_dim, with their positional
    /// encodings; the last numObjPtrTokens memory tokens are object pointers (no RoPE).
    /// Returns Nq × B × d_model.
    /// </summary>
    public override Tensor forward(Tensor curr, Tensor memory, Tensor? currPos, Tensor? memoryPos, int numObjPtrTokens)
    {
        using var scope = NewDisposeScope();
        if (curr.shape[1] != memory.shape[1])
            throw new ArgumentException($"Batch size must be the same for curr ({curr.shape[1]}) and memory ({memory.shape[1]}).");

        var output = curr;
        if (posEncAtInput && currPos is not null)
            output = output + 0.1 * currPos;

        if (batchFirst)
        {
            output = output.transpose(0, 1);
            currPos = currPos?.transpose(0, 1);
            memory = memory.transpose(0, 1);
            memoryPos = memoryPos?.transpose(0, 1);
        }

        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            int exclude = layer.CrossAttention is RoPEAttention ? numObjPtrTokens : 0;
            using (Profiler.Time(LayerSection(i)))
                output = layer.forward(output, memory, memoryPos, currPos, exclude);
        }
        var normed = norm.forward(output);
        if (batchFirst) normed = normed.transpose(0, 1);
        return normed.MoveToOuterDisposeScope();
    }

    /// <summary><see cref="forward"/> with the positions optional and no object pointers by default.</summary>
    public Tensor Forward(Tensor curr, Tensor memory, Tensor? currPos = null, Tensor? memoryPos = null, int numObjPtrTokens = 0) =>
        forward(curr, memory, currPos, memoryPos, numObjPtrTokens);

    /// <summary>The reference also accepts one-element lists of features and positions.</summary>
    public Tensor Forward(IReadOnlyList<Tensor> curr, Tensor memory, IReadOnlyList<Tensor> currPos, Tensor? memoryPos = null, int numObjPtrTokens = 0)
    {
        if (curr.Count != 1 || currPos.Count != 1)
            throw new ArgumentException("curr and curr_pos must hold exactly one tensor each.");
        return forward(curr[0], memory, currPos[0], memoryPos, numObjPtrTokens);
    }
}
