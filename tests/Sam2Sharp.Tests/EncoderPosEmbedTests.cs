using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>The trunk keeps its position embedding between images: reused exactly, recomputed when the weights change.</summary>
public class EncoderPosEmbedTests
{
    public static IEnumerable<object[]> AllFolders() => Golden.Folders().Select(f => new object[] { f });

    [Theory]
    [MemberData(nameof(AllFolders))]
    public void KeptPositionEmbeddingGivesTheSameFeaturesAndFollowsChangedWeights(string folder)
    {
        using var model = Sam2Builder.Load(Path.Combine(folder, "config.yaml"), Path.Combine(folder, "model.pt"), Golden.AsWritten);
        model.eval();
        using var scope = NewDisposeScope();
        var gen = new Generator(7);
        var image = randn(new long[] { 1, 3, model.ImageSize, model.ImageSize }, generator: gen);
        Tensor[] Features() { using var _ = no_grad(); using var o = model.ForwardImage(image); return o.BackboneFpn.Select(t => t.clone()).ToArray(); }

        var first = Features();
        var second = Features(); // from the kept embedding
        foreach (var (a, b) in first.Zip(second)) Assert.Equal(0, Golden.MaxAbsDiff(a, b));

        using (no_grad()) model.state_dict()["image_encoder.trunk.pos_embed"].add_(0.25);
        var changed = Features();
        Tensor[] fresh; // with gradients nothing is kept: computed from the weights as they are
        using (var o = model.ForwardImage(image)) fresh = o.BackboneFpn.Select(t => t.detach().clone()).ToArray();
        Assert.True(Golden.MaxAbsDiff(first[0], changed[0]) > 0, "the changed embedding was not used");
        foreach (var (a, b) in changed.Zip(fresh)) Assert.Equal(0, Golden.MaxAbsDiff(a, b));
    }
}

/// <summary>The prompt encoder keeps the decoder's grid encoding: reused exactly, recomputed when the frequencies change.</summary>
public class DensePositionEncodingTests
{
    [Theory]
    [MemberData(nameof(EncoderPosEmbedTests.AllFolders), MemberType = typeof(EncoderPosEmbedTests))]
    public void KeptGridEncodingIsReusedAndFollowsChangedFrequencies(string folder)
    {
        using var model = Sam2Builder.Load(Path.Combine(folder, "config.yaml"), Path.Combine(folder, "model.pt"), Golden.AsWritten);
        using var scope = NewDisposeScope();
        Tensor Encoding() { using var _ = no_grad(); return model.PromptEncoder.GetDensePe(); }
        Tensor Fresh() => model.PromptEncoder.GetDensePe().detach().clone(); // with gradients nothing is kept

        var first = Encoding();
        first.Dispose(); // a view: the kept encoding outlives it
        var second = Encoding();
        Assert.Equal(0, Golden.MaxAbsDiff(second, Fresh()));

        using (no_grad()) model.state_dict()["sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"].mul_(2);
        var changed = Encoding();
        Assert.True(Golden.MaxAbsDiff(second, changed) > 0, "the changed frequencies were not used");
        Assert.Equal(0, Golden.MaxAbsDiff(changed, Fresh()));
    }
}
