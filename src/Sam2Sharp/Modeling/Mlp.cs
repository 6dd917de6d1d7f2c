using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

/// <summary>A stack of linear layers with an activation between them (the reference's MLP).</summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<Linear> layers;
    private readonly int numLayers;
    private readonly bool sigmoidOutput;
    private readonly Func<Tensor, Tensor> act;

    /// <summary><paramref name="numLayers"/> linear layers inputDim → hiddenDim → … → outputDim.</summary>
    /// <param name="inputDim">Input width.</param>
    /// <param name="hiddenDim">Width between the layers.</param>
    /// <param name="outputDim">Output width.</param>
    /// <param name="numLayers">Number of linear layers.</param>
    /// <param name="activation">relu, gelu or glu, after every layer but the last.</param>
    /// <param name="sigmoidOutput">A sigmoid on the output (the IoU head with iou_prediction_use_sigmoid).</param>
    public Mlp(int inputDim, int hiddenDim, int outputDim, int numLayers,
               string activation = "relu", bool sigmoidOutput = false) : base(nameof(Mlp))
    {
        this.numLayers = numLayers;
        this.sigmoidOutput = sigmoidOutput;
        act = Sam2Utils.Activation(activation);
        var dims = new List<int> { inputDim };
        for (int i = 0; i < numLayers - 1; i++) dims.Add(hiddenDim);
        dims.Add(outputDim);
        layers = new ModuleList<Linear>();
        for (int i = 0; i < numLayers; i++) layers.Add(nn.Linear(dims[i], dims[i + 1]));
        RegisterComponents();
    }

    /// <summary>…×inputDim → …×outputDim.</summary>
    public override Tensor forward(Tensor x)
    {
        for (int i = 0; i < numLayers; i++)
            x = i < numLayers - 1 ? act(layers[i].forward(x)) : layers[i].forward(x);
        return sigmoidOutput ? x.sigmoid() : x;
    }
}
