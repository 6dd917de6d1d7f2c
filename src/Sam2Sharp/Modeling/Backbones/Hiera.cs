using Sam2Sharp.Benchmarking;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Backbones;

/// <summary>
/// Hiera trunk (hierarchical ViT with windowed attention and query pooling between stages).
/// forward: B×3×H×W image → one B×C×h×w map per stage end, highest resolution first
/// (only the last one unless returnIntermLayers).
/// </summary>
public sealed class Hiera : nn.Module<Tensor, IReadOnlyList<Tensor>>
{
    private readonly PatchEmbed patch_embed;
    private readonly Parameter pos_embed;
    private readonly Parameter pos_embed_window;
    private readonly ModuleList<MultiScaleBlock> blocks;
    private readonly int[] stageEnds;
    private readonly bool returnIntermLayers;

    /// <summary>Output channels per returned level, lowest resolution first (as the neck's backboneChannelList).</summary>
    public IReadOnlyList<int> ChannelList { get; }
    /// <summary>The index of each stage's last block; the trunk returns the map after these blocks.</summary>
    public IReadOnlyList<int> StageEnds => stageEnds;
    /// <summary>The attention window size of each stage (a block in <see cref="GlobalAttBlocks"/> attends globally instead).</summary>
    public IReadOnlyList<int> WindowSpec { get; }
    /// <summary>The blocks that attend over the whole map instead of windows (global_att_blocks).</summary>
    public IReadOnlyList<int> GlobalAttBlocks { get; }
    /// <summary>The blocks that pool their queries by q_stride (the first block of each of the first q_pool stages after the first), so the map shrinks between stages.</summary>
    public IReadOnlyList<int> QPoolBlocks { get; }

    /// <summary>The Hiera trunk of an official config (defaults as the reference class's).</summary>
    /// <param name="embedDim">Channels of the first stage (multiplied by <paramref name="dimMul"/> at each stage change).</param>
    /// <param name="numHeads">Heads of the first stage (multiplied by <paramref name="headMul"/> at each stage change).</param>
    /// <param name="dropPathRate">Stochastic depth rate of the last block, rising linearly from 0 (training only).</param>
    /// <param name="qPool">How many stage changes pool the queries.</param>
    /// <param name="qStride">The query pooling stride; default (2, 2).</param>
    /// <param name="dimMul">Channel multiplier per stage.</param>
    /// <param name="headMul">Head multiplier per stage.</param>
    /// <param name="stages">Blocks per stage; default (2, 3, 16, 3).</param>
    /// <param name="windowPosEmbedBkgSpatialSize">Size of the background position embedding; default (14, 14).</param>
    /// <param name="windowSpec">Window size per stage; default (8, 4, 14, 7).</param>
    /// <param name="globalAttBlocks">Blocks with global attention; default (12, 16, 20); empty for none.</param>
    /// <param name="returnIntermLayers">Return every stage's output (the neck needs all four); false for the last only.</param>
    /// <param name="weightsPath">Optional PyTorch checkpoint (a state dict of this trunk) loaded non-strictly.</param>
    public Hiera(int embedDim = 96, int numHeads = 1, double dropPathRate = 0.0, int qPool = 3,
                 (int, int)? qStride = null, int[]? stages = null, double dimMul = 2.0, double headMul = 2.0,
                 int[]? windowPosEmbedBkgSpatialSize = null, int[]? windowSpec = null, int[]? globalAttBlocks = null,
                 string? weightsPath = null, bool returnIntermLayers = true) : base(nameof(Hiera))
    {
        var qs = qStride ?? (2, 2);
        stages ??= new[] { 2, 3, 16, 3 };
        windowPosEmbedBkgSpatialSize ??= new[] { 14, 14 };
        windowSpec ??= new[] { 8, 4, 14, 7 };
        globalAttBlocks ??= new[] { 12, 16, 20 };
        if (stages.Length != windowSpec.Length) throw new ArgumentException("stages and windowSpec must have the same length");
        if (windowPosEmbedBkgSpatialSize.Length != 2) throw new ArgumentException("windowPosEmbedBkgSpatialSize must be (h, w)");
        WindowSpec = windowSpec;
        GlobalAttBlocks = globalAttBlocks;
        this.returnIntermLayers = returnIntermLayers;

        int depth = stages.Sum();
        stageEnds = Enumerable.Range(1, stages.Length).Select(i => stages.Take(i).Sum() - 1).ToArray();
        if (qPool < 0 || qPool > stageEnds.Length - 1) throw new ArgumentException("qPool must be between 0 and the number of stages - 1");
        QPoolBlocks = stageEnds.Take(stageEnds.Length - 1).Select(e => e + 1).Take(qPool).ToArray();

        patch_embed = new PatchEmbed(embedDim: embedDim);
        pos_embed = new Parameter(zeros(1, embedDim, windowPosEmbedBkgSpatialSize[0], windowPosEmbedBkgSpatialSize[1]));
        pos_embed_window = new Parameter(zeros(1, embedDim, windowSpec[0], windowSpec[0]));

        // Stochastic depth rate grows linearly over the blocks.
        var dpr = linspace(0, dropPathRate, depth, device: CPU).data<float>().ToArray();

        int curStage = 1;
        blocks = new ModuleList<MultiScaleBlock>();
        for (int i = 0; i < depth; i++)
        {
            int dimOut = embedDim;
            // The window size lags one block behind the stage: the first block of a stage still
            // uses the previous stage's window (it pools its queries to the new size).
            int windowSize = windowSpec[curStage - 1];
            if (globalAttBlocks.Contains(i)) windowSize = 0;
            if (stageEnds.Contains(i - 1))
            {
                dimOut = (int)(embedDim * dimMul);
                numHeads = (int)(numHeads * headMul);
                curStage++;
            }
            blocks.Add(new MultiScaleBlock(embedDim, dimOut, numHeads, dropPath: dpr[i],
                                           qStride: QPoolBlocks.Contains(i) ? qs : null, windowSize: windowSize)
                       { Sections = BlockSections.For(StageSection(curStage)) });
            embedDim = dimOut;
        }

        ChannelList = returnIntermLayers
            ? stageEnds.Reverse().Select(i => blocks[i].DimOut).ToArray()
            : new[] { blocks[depth - 1].DimOut };

        RegisterComponents();

        if (weightsPath is not null)
        {
            var dict = Checkpoint.ReadStateDict(weightsPath);
            load_state_dict(dict, strict: false);
        }
    }

    /// <summary>Background embedding resized bicubically to h×w plus the window embedding tiled over it; B×h×w×C.</summary>
    /// <remarks>
    /// Without gradients the result is kept (a bicubic resize to the token grid costs as much as the stem's
    /// convolution) and reused while the size and both embeddings are unchanged (<see cref="KeptTensor{TKey}"/>).
    /// </remarks>
    private Tensor GetPosEmbed(long h, long w) => posEmbed.GetOrMake((h, w), [pos_embed, pos_embed_window], () =>
    {
        var pe = nn.functional.interpolate(pos_embed, size: new[] { h, w }, mode: InterpolationMode.Bicubic, align_corners: false);
        var reps = pe.shape.Zip(pos_embed_window.shape, (a, b) => a / b).ToArray();
        return (pe + pos_embed_window.tile(reps)).permute(0, 2, 3, 1);
    });

    private readonly KeptTensor<(long, long)> posEmbed = new();

    /// <summary>Frees the kept position embedding with the module.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing) posEmbed.Dispose();
        base.Dispose(disposing);
    }

    static readonly string[] StageSections = Enumerable.Range(1, 8).Select(i => $"encoder.stage{i}").ToArray();
    static string StageSection(int stage) => stage <= StageSections.Length ? StageSections[stage - 1] : $"encoder.stage{stage}";

    /// <summary>The stem (a strided convolution), which a bf16 model keeps in float32.</summary>
    internal PatchEmbed PatchEmbed => patch_embed;

    /// <summary>How many blocks the trunk runs.</summary>
    public int Depth => blocks.Count;

    /// <summary>B×3×H×W normalised image → one B×C×h×w map per stage end, highest resolution first (strides 4, 8, 16, 32); only the last with returnIntermLayers false.</summary>
    public override IReadOnlyList<Tensor> forward(Tensor x) => Forward(x, null);

    /// <summary><see cref="forward"/>, calling <paramref name="blocksDone"/> with the count of blocks run after each one.</summary>
    public IReadOnlyList<Tensor> Forward(Tensor x, Action<int>? blocksDone)
    {
        using var scope = NewDisposeScope();
        var stem = Profiler.Time("encoder.patch_embed");
        var patches = patch_embed.forward(x); // B×H×W×C
        // In bf16 the stem stays float32 (its convolution is slower in bf16 on CPUs): the blocks start in their dtype.
        var stemOut = patches.dtype == pos_embed.dtype ? patches : patches.to_type(pos_embed.dtype);
        // The stem's output is a channels-last view of a channels-first map; made contiguous once here, the blocks'
        // norms and residual adds run on dense rows instead of striding across channels (6× slower adds measured).
        using (var sum = stemOut + GetPosEmbed(patches.shape[1], patches.shape[2])) x = sum.contiguous();
        if (!ReferenceEquals(stemOut, patches)) stemOut.Dispose();
        patches.Dispose();
        stem.Dispose();

        var outputs = new List<Tensor>();
        int last = stageEnds[^1];
        for (int i = 0, stage = 1; i < blocks.Count; i++)
        {
            Tensor y;
            using (Profiler.Time(StageSection(stage)))
                y = blocks[i].forward(x);
            if (stageEnds.Contains(i)) stage++;
            x.Dispose(); // free each block's input early; a returned view keeps its storage alive
            x = y;
            if (i == last || (returnIntermLayers && stageEnds.Contains(i)))
            {
                // The first level stays channels-first, as it was when the stem's layout ran through stage 1: the
                // neck's convolution chooses its algorithm by layout, and this keeps fp32 results bit-identical.
                var level = x.permute(0, 3, 1, 2);
                outputs.Add((i == stageEnds[0] ? level.contiguous() : level).MoveToOuterDisposeScope());
            }
            blocksDone?.Invoke(i + 1);
        }
        return outputs;
    }
}
