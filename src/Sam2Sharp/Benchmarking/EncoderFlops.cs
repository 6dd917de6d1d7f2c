using Sam2Sharp.Config;

namespace Sam2Sharp.Benchmarking;

/// <summary>
/// The floating-point operations of one image-encoder forward pass (Hiera trunk and FPN neck),
/// counted from the config as 2 × the multiply-adds of its convolutions, linear layers and
/// attention products (norms, activations and pooling are not counted). Used to report GFLOP/s.
/// </summary>
public static class EncoderFlops
{
    /// <summary>The whole encoder: patch embedding, every stage, the neck.</summary>
    public static double Count(Sam2Config config)
    {
        var b = Breakdown(config);
        return b.PatchEmbed + b.Stages.Sum() + b.Neck;
    }

    /// <summary>Per part: the patch embedding, each stage's blocks (stage 1 first), the neck's lateral convolutions.</summary>
    public static (double PatchEmbed, double[] Stages, double Neck) Breakdown(Sam2Config config)
    {
        var t = config.ImageEncoder.Trunk;
        int s = config.ImageSize;
        double tokens = Math.Pow(Math.Ceiling(s / 4.0), 2);
        double patchEmbed = 2 * tokens * 3 * 49 * t.EmbedDim; // patch embedding, 7×7 conv, stride 4
        var stageFlops = new double[t.Stages.Length];
        var stageEnds = new List<int>();
        for (int i = 0, acc = 0; i < t.Stages.Length; i++) { acc += t.Stages[i]; stageEnds.Add(acc - 1); }
        var qPoolBlocks = stageEnds.Take(stageEnds.Count - 1).Select(x => x + 1).Take(t.QPool).ToHashSet();
        int depth = t.Stages.Sum(), stage = 1;
        double dim = t.EmbedDim;
        var levelTokens = new List<double>();
        for (int i = 0; i < depth; i++)
        {
            double dimOut = dim;
            // As in Hiera: the window size is taken before the stage switch (a stage's first block keeps the previous one's).
            int window = t.WindowSpec[stage - 1];
            if (t.GlobalAttBlocks.Contains(i)) window = 0;
            if (stageEnds.Contains(i - 1)) { dimOut = (int)(t.EmbedDim * Math.Pow(t.DimMul, stage)); stage++; }
            bool pool = qPoolBlocks.Contains(i);
            double flops = 0;
            double tokensOut = pool ? tokens / (t.QStride[0] * t.QStride[1]) : tokens;
            double keysPerQuery = window > 0 ? (double)window * window : tokens;
            flops += 2 * tokens * dim * 3 * dimOut;                 // qkv
            flops += 2 * 2 * tokensOut * keysPerQuery * dimOut;     // q·k and attention·v
            flops += 2 * tokensOut * dimOut * dimOut;               // attention output projection
            if (dim != dimOut) flops += 2 * tokens * dim * dimOut;  // shortcut projection
            flops += 2 * 2 * tokensOut * dimOut * 4 * dimOut;       // MLP, ratio 4
            stageFlops[stage - 1] += flops;
            tokens = tokensOut;
            dim = dimOut;
            if (stageEnds.Contains(i)) levelTokens.Add(tokens);
        }
        var neck = config.ImageEncoder.Neck;
        // FPN lateral 1×1 convolutions, from the lowest resolution level up.
        double neckFlops = 0;
        for (int l = 0; l < neck.BackboneChannelList.Length && l < levelTokens.Count; l++)
            neckFlops += 2 * levelTokens[levelTokens.Count - 1 - l] * neck.BackboneChannelList[l] * neck.DModel;
        return (patchEmbed, stageFlops, neckFlops);
    }
}
