using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>Fuses pixel features with the downsampled mask: an optional 1×1 projection, then num_layers blocks.</summary>
public sealed class Fuser : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> proj;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> layers;

    /// <summary>
    /// Builds num_layers blocks with <paramref name="layer"/>. The reference deep-copies one block, so
    /// every block starts from the first block's parameters here too.
    /// </summary>
    public Fuser(Func<nn.Module<Tensor, Tensor>> layer, int numLayers, int? dim = null, bool inputProjection = false)
        : base(nameof(Fuser))
    {
        var list = new List<nn.Module<Tensor, Tensor>>();
        for (int i = 0; i < numLayers; i++) list.Add(layer());
        if (numLayers > 1)
        {
            var first = list[0].state_dict();
            using var _ = no_grad();
            for (int i = 1; i < numLayers; i++)
                foreach (var (name, t) in list[i].state_dict())
                    t.copy_(first[name]);
        }
        layers = new ModuleList<nn.Module<Tensor, Tensor>>(list.ToArray());
        if (inputProjection)
        {
            if (dim is null) throw new ArgumentException("input_projection needs dim.");
            proj = nn.Conv2d(dim.Value, dim.Value, kernel_size: 1);
        }
        else proj = nn.Identity();
        RegisterComponents();
    }

    /// <summary>B×C×H×W (pixel features plus the downsampled mask) → B×C×H×W.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = proj.forward(x);
        foreach (var layer in layers) x = layer.forward(x);
        return x.MoveToOuterDisposeScope();
    }
}
