using Sam2Sharp.Modeling.Backbones;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling;

public partial class Sam2Base
{
    /// <summary>The precision the model was built with (<see cref="Sam2ModelOptions.Precision"/>).</summary>
    public Sam2Precision Precision { get; private set; } = Sam2Precision.Float32;

    /// <summary>The dtype of the image encoder, memory attention and memory encoder; everything else is float32.</summary>
    public ScalarType ComputeType => Precision == Sam2Precision.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary>
    /// Converts the three heavy modules' weights to bfloat16, once. Their inputs are cast at the
    /// calls and their outputs come back as float32, so the prompt encoder, the decoder and its heads,
    /// mask upscaling and thresholds keep float32.
    /// </summary>
    internal void UseBFloat16()
    {
        using var _ = no_grad();
        image_encoder.to(ScalarType.BFloat16);
        // The stem and the neck are convolutions, slower in bf16 than in float32 here (docs/performance.md).
        image_encoder.Trunk.PatchEmbed.to(ScalarType.Float32);
        image_encoder.Neck.to(ScalarType.Float32);
        memory_attention.to(ScalarType.BFloat16);
        memory_encoder.to(ScalarType.BFloat16);
        Precision = Sam2Precision.BFloat16;
    }

    /// <summary>The encoder's outputs in float32 (a no-op for a float32 model).</summary>
    static BackboneOutput ToFloat32(BackboneOutput o)
    {
        if (o.BackboneFpn.All(t => t.dtype == ScalarType.Float32) && o.VisionPosEnc.All(t => t.dtype == ScalarType.Float32)) return o;
        var fpn = o.BackboneFpn.Select(t => t.to_type(ScalarType.Float32)).ToArray();
        var pos = o.VisionPosEnc.Select(t => t.to_type(ScalarType.Float32)).ToArray();
        o.Dispose();
        return new BackboneOutput(fpn[^1], pos, fpn);
    }
}
