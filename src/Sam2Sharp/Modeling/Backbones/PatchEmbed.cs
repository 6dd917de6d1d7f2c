using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Backbones;

/// <summary>Image to patch embedding: a strided convolution, returned channels-last (B×H×W×C).</summary>
public sealed class PatchEmbed : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d proj;

    /// <summary>The Hiera stem: one convolution from <paramref name="inChans"/> image channels to <paramref name="embedDim"/> channels, by default a 7×7 kernel with stride 4 and padding 3 (so a 1024² image gives a 256² token map).</summary>
    public PatchEmbed((long, long)? kernelSize = null, (long, long)? stride = null, (long, long)? padding = null,
                      int inChans = 3, int embedDim = 768) : base(nameof(PatchEmbed))
    {
        proj = nn.Conv2d(inChans, embedDim, kernelSize ?? (7, 7), stride: stride ?? (4, 4), padding: padding ?? (3, 3));
        RegisterComponents();
    }

    // A permuted view (channels strided): the trunk makes it contiguous after adding the position embedding.
    /// <summary>B×3×H×W image → B×H/4×W/4×embed_dim tokens (channels-last, as the Hiera blocks take them); the input is cast to the weights' dtype.</summary>
    public override Tensor forward(Tensor x) => proj.forward(x.dtype == proj.weight!.dtype ? x : x.to_type(proj.weight!.dtype)).permute(0, 2, 3, 1);
}
