using System.Runtime.Intrinsics.X86;
using Sam2Sharp.Imaging;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

public class MaskResizeTests
{
    static Tensor Torchs(Tensor x, long h, long w) =>
        nn.functional.interpolate(x, size: [h, w], mode: InterpolationMode.Bilinear, align_corners: false);

    static Tensor Logits(long b, long c, long h, long w, int seed)
    {
        var x = randn([b, c, h, w], generator: new Generator().manual_seed(seed)) * 10;
        x[TensorIndex.Ellipsis, 0] = 0; // exact zeros, where a threshold at 0 decides
        return x;
    }

    // Up (×4, as the predictor, and to odd sizes), down, one axis the same size, a 1-pixel axis.
    public static TheoryData<long, long, long, long> Sizes => new()
    {
        { 256, 256, 1024, 1024 }, { 256, 256, 1080, 1920 }, { 256, 256, 150, 200 }, { 256, 256, 256, 1000 },
        { 7, 5, 33, 17 }, { 1, 9, 4, 3 },
    };

    // torch's kernel rounds as ours (fused multiply-adds, width first) at the sizes masks are resized to: equal there
    // on the CPUs measured (AVX2 AMD EPYC); its small-tensor path can round otherwise, so the bound is a few ulps.
    static void AssertClose(Tensor ours, Tensor torchs)
    {
        double bound = 4e-7 * torchs.abs().max().item<float>();
        Assert.True((ours - torchs).abs().max().item<float>() <= bound, "logits differ from torch's interpolate by more than rounding");
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void ResizedLogitsAreTorchsToRounding(long h, long w, long outH, long outW)
    {
        using var scope = NewDisposeScope();
        var x = Logits(2, 3, h, w, seed: (int)(h * 31 + outW));
        Assert.Equal(Fma.IsSupported && Avx2.IsSupported, MaskResize.FastPathApplies(x));
        var ours = MaskResize.Bilinear(x, outH, outW);
        Assert.Equal(new[] { 2L, 3, outH, outW }, ours.shape);
        AssertClose(ours, Torchs(x, outH, outW));
        // A contiguous slice that starts inside its storage is read from its start.
        var slice = x[TensorIndex.Slice(1, 2)];
        AssertClose(MaskResize.Bilinear(slice, outH, outW), Torchs(slice, outH, outW));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    public void ThresholdedMasksAreTorchsComparison(double threshold)
    {
        using var scope = NewDisposeScope();
        var x = Logits(1, 3, 256, 256, seed: 7);
        foreach (var (h, w) in new[] { (1024L, 1024L), (333L, 777L) })
        {
            var ours = MaskResize.BilinearAbove(x, h, w, threshold);
            Assert.Equal(ScalarType.Bool, ours.dtype);
            var logits = Torchs(x, h, w);
            // Equal but where a logit is within rounding of the threshold.
            var decided = (logits - threshold).abs() > 4e-7 * logits.abs().max().item<float>();
            Assert.True(ours.eq(logits > threshold).logical_or(decided.logical_not()).all().item<bool>(), $"masks at {h}x{w} differ");
        }
    }

    [Fact]
    public void CountsTakenWhileResizingAreThoseOfTheResizedLogits()
    {
        using var scope = NewDisposeScope();
        var x = Logits(2, 3, 256, 256, seed: 11);
        var (masks, high, low) = MaskResize.BilinearAboveCounting(x, 333, 777, 0.0, 1.0, -1.0);
        var resized = MaskResize.Bilinear(x, 333, 777);
        var (expectedHigh, expectedLow) = Sam2Sharp.Amg.AmgUtils.CountAbove(resized, 1.0, -1.0);
        Assert.Equal(new long[] { 2, 3 }, high.shape);
        Assert.Equal(expectedHigh.data<int>().ToArray(), high.data<int>().ToArray());
        Assert.Equal(expectedLow.data<int>().ToArray(), low.data<int>().ToArray());
        Assert.True(masks.eq(resized > 0.0).all().item<bool>());
        Assert.True(high.sum().item<long>() > 0 && low.sum().item<long>() > high.sum().item<long>());
    }

    [Fact]
    public void InputsTheKernelDoesNotTakeGoThroughTorch()
    {
        using var scope = NewDisposeScope();
        var x = Logits(1, 2, 16, 16, seed: 3);
        var transposed = x.transpose(2, 3);
        Assert.False(MaskResize.FastPathApplies(transposed));
        Assert.True(MaskResize.Bilinear(transposed, 40, 24).eq(Torchs(transposed, 40, 24)).all().item<bool>());
        // Training needs the gradient, which only torch's operator records.
        var leaf = x.clone().requires_grad_();
        var resized = MaskResize.Bilinear(leaf, 32, 32);
        Assert.True(resized.requires_grad);
        resized.sum().backward();
        Assert.NotNull(leaf.grad);
    }
}
