using Sam2Sharp.Modeling;
using Sam2Sharp.Modeling.Sam;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

public class MemoryModulesTests
{
    // ---------- independent RoPE: explicit rotation of channel pairs, in doubles ----------

    /// <summary>
    /// Rotates x (… × N × D) token by token: token n sits at (n mod W, n div W) of the grid of width
    /// <paramref name="gridW"/>, or of the token <paramref name="tokenOf"/>(n) when given. Pair j of the
    /// first D/4 pairs turns by x·θ^(-4j/D), pair D/4+j by y·θ^(-4j/D).
    /// </summary>
    static Tensor ExplicitRope(Tensor x, int gridW, double theta, Func<long, long>? tokenOf = null)
    {
        long n = x.shape[^2], d = x.shape[^1];
        long rows = x.numel() / (n * d);
        var src = x.contiguous().data<float>().ToArray();
        var dst = new float[src.Length];
        long quarter = d / 4;
        for (long r = 0; r < rows; r++)
            for (long i = 0; i < n; i++)
            {
                long tok = tokenOf?.Invoke(i) ?? i;
                double px = tok % gridW, py = tok / gridW;
                for (long j = 0; j < d / 2; j++)
                {
                    long fj = j < quarter ? j : j - quarter;
                    double freq = 1.0 / Math.Pow(theta, 4.0 * fj / d);
                    double angle = (j < quarter ? px : py) * freq;
                    long o = (r * n + i) * d + 2 * j;
                    double a = src[o], b = src[o + 1];
                    dst[o] = (float)(a * Math.Cos(angle) - b * Math.Sin(angle));
                    dst[o + 1] = (float)(a * Math.Sin(angle) + b * Math.Cos(angle));
                }
            }
        return tensor(dst, x.shape);
    }

    static Tensor Rand(long seed, params long[] shape)
    {
        var g = new Generator((ulong)seed);
        return randn(shape, generator: g);
    }

    [Fact]
    public void AxialCisHoldsCosSinOfXThenYAngles()
    {
        var f = Rope.ComputeAxialCis(8, 3, 2, theta: 100.0);
        Assert.Equal(new long[] { 6, 4, 2 }, f.shape);
        // Token 5 = (x 2, y 1); pair 1 uses x with freq 100^(-4/8), pair 3 uses y with the same freq.
        double fr = Math.Pow(100.0, -0.5);
        Assert.Equal(Math.Cos(2 * fr), f[5, 1, 0].item<float>(), 6);
        Assert.Equal(Math.Sin(2 * fr), f[5, 1, 1].item<float>(), 6);
        Assert.Equal(Math.Cos(1 * fr), f[5, 3, 0].item<float>(), 6);
        Assert.Equal(Math.Sin(1 * fr), f[5, 3, 1].item<float>(), 6);
        Assert.Equal(Math.Cos(2), f[5, 0, 0].item<float>(), 6); // pair 0 has frequency 1
    }

    [Fact]
    public void RopeMatchesExplicitRotation()
    {
        // A non-square grid (W 3, H 2) so that swapping x and y would show.
        var freqs = Rope.ComputeAxialCis(8, 3, 2, theta: 100.0);
        var q = Rand(1, 2, 2, 6, 8);
        var k = Rand(2, 2, 2, 6, 8);
        var (qr, kr) = Rope.ApplyRotaryEnc(q, k, freqs);
        Assert.True(Golden.MaxAbsDiff(qr, ExplicitRope(q, 3, 100.0)) < 1e-5);
        Assert.True(Golden.MaxAbsDiff(kr, ExplicitRope(k, 3, 100.0)) < 1e-5);

        var freqs16 = Rope.ComputeAxialCis(16, 4, 4);
        var q16 = Rand(3, 1, 1, 16, 16);
        var (q16r, _) = Rope.ApplyRotaryEnc(q16, Rand(4, 1, 1, 16, 16), freqs16);
        Assert.True(Golden.MaxAbsDiff(q16r, ExplicitRope(q16, 4, 10000.0)) < 1e-5);
    }

    [Fact]
    public void RopeKRepeatTilesTheQueryRotationsOverTheKeys()
    {
        var freqs = Rope.ComputeAxialCis(8, 3, 2, theta: 100.0);
        var q = Rand(5, 1, 2, 6, 8);
        var k = Rand(6, 1, 2, 18, 8); // three frames of memories
        var (_, kr) = Rope.ApplyRotaryEnc(q, k, freqs, repeatFreqsK: true);
        Assert.True(Golden.MaxAbsDiff(kr, ExplicitRope(k, 3, 100.0, i => i % 6)) < 1e-5);

        // Without repeat, or with a key count that is no multiple of the queries, it must refuse.
        Assert.ThrowsAny<Exception>(() => Rope.ApplyRotaryEnc(q, k, freqs));
        Assert.ThrowsAny<Exception>(() => Rope.ApplyRotaryEnc(q, Rand(7, 1, 2, 14, 8), freqs, repeatFreqsK: true));
        // No keys to rotate: keys come back unchanged.
        var empty = zeros(1, 2, 0, 8);
        var (_, ke) = Rope.ApplyRotaryEnc(q, empty, freqs, repeatFreqsK: true);
        Assert.Equal(0, ke.shape[2]);
    }

    /// <summary>Attention computed by hand from the module's weights, with the explicit RoPE.</summary>
    static Tensor ManualRopeAttention(RoPEAttention m, int heads, Tensor qIn, Tensor kIn, Tensor vIn,
                                      int gridW, long numQ, int exclude)
    {
        var p = m.named_parameters().ToDictionary(t => t.name, t => t.parameter);
        Tensor Lin(Tensor x, string name) => x.matmul(p[name + ".weight"].t()) + p[name + ".bias"];
        Tensor Split(Tensor x) => x.reshape(x.shape[0], x.shape[1], heads, x.shape[2] / heads).transpose(1, 2);
        var q = Split(Lin(qIn, "q_proj"));
        var k = Split(Lin(kIn, "k_proj"));
        var v = Split(Lin(vIn, "v_proj"));
        long nk = k.shape[2], nRope = nk - exclude;
        q = ExplicitRope(q, gridW, 10000.0);
        var kRot = ExplicitRope(k.narrow(2, 0, nRope).contiguous(), gridW, 10000.0, i => i % numQ);
        k = cat(new[] { kRot, k.narrow(2, nRope, exclude) }, 2);
        var att = (q.matmul(k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1])).softmax(-1);
        var o = att.matmul(v).transpose(1, 2);
        o = o.reshape(o.shape[0], o.shape[1], -1);
        return Lin(o, "out_proj");
    }

    [Fact]
    public void RoPEAttentionRotatesAllKeysButTheExcludedOnes()
    {
        using var _ = no_grad();
        var m = new RoPEAttention(16, 2, kvInDim: 8, ropeKRepeat: true, featSizes: new[] { 4, 4 });
        m.eval();
        var q = Rand(10, 2, 16, 16);
        var kv = Rand(11, 2, 3 * 16 + 3, 8);
        var got = m.Forward(q, kv, kv, 3);
        var want = ManualRopeAttention(m, 2, q, kv, kv, 4, 16, 3);
        Assert.True(Golden.MaxAbsDiff(got, want) < 1e-5, $"diff {Golden.MaxAbsDiff(got, want)}");

        // Rotating the pointers too would differ: the exclusion is effective.
        var allRotated = ManualRopeAttention(m, 2, q, kv, kv, 4, 16, 0);
        Assert.True(Golden.MaxAbsDiff(got, allRotated) > 1e-4);
    }

    [Fact]
    public void RoPEAttentionRecomputesTheGridForAnotherTokenCount()
    {
        using var _ = no_grad();
        var m = new RoPEAttention(16, 1, featSizes: new[] { 4, 4 });
        m.eval();
        Assert.Equal(16, m.FreqsCis.shape[0]);
        var x = Rand(12, 1, 64, 16); // 8 × 8 tokens
        var got = m.Forward(x, x, x, 0);
        Assert.Equal(64, m.FreqsCis.shape[0]);
        var want = ManualRopeAttention(m, 1, x, x, x, 8, 64, 0);
        Assert.True(Golden.MaxAbsDiff(got, want) < 1e-5);
        // Self-attention without rope_k_repeat refuses keys of another length.
        Assert.ThrowsAny<Exception>(() => m.Forward(x, Rand(13, 1, 128, 16), Rand(14, 1, 128, 16), 0));
    }

    // ---------- the golden micro models ----------

    static readonly Dictionary<string, Dictionary<string, Tensor>> checkpoints = new();

    static Dictionary<string, Tensor> Checkpoint(string folder)
    {
        lock (checkpoints)
        {
            if (!checkpoints.TryGetValue(folder, out var sd))
            {
                using var f = File.OpenRead(Path.Combine(folder, "model.pt"));
                var model = (System.Collections.IDictionary)PyTorchUnpickler.UnpickleStateDict(f)["model"]!;
                sd = new Dictionary<string, Tensor>();
                foreach (System.Collections.DictionaryEntry e in model) sd[(string)e.Key] = (Tensor)e.Value!;
                checkpoints[folder] = sd;
            }
            return sd;
        }
    }

    static Dictionary<string, Tensor> Under(Dictionary<string, Tensor> sd, string prefix) =>
        sd.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
          .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);

    static string ShapeText(Tensor t) => "[" + string.Join(",", t.shape) + "]";

    static void AssertSameKeysAndShapes(nn.Module module, string folder, string prefix)
    {
        var mine = module.state_dict().ToDictionary(kv => kv.Key, kv => ShapeText(kv.Value));
        var golden = Under(Checkpoint(folder), prefix).ToDictionary(kv => kv.Key, kv => ShapeText(kv.Value));
        Assert.Equal(golden.Keys.OrderBy(k => k, StringComparer.Ordinal), mine.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (k, s) in golden) Assert.Equal(s, mine[k]);
    }

    static void LoadStrict(nn.Module module, string folder, string prefix)
    {
        var sd = Under(Checkpoint(folder), prefix);
        module.load_state_dict(sd, strict: true);
        foreach (var (k, t) in module.state_dict())
            Assert.Equal(0.0, Golden.MaxAbsDiff(t, sd[k]));
    }

    /// <summary>memory_attention of the golden config.yaml.</summary>
    static MemoryAttention BuildMemoryAttention() =>
        new(dModel: 32, posEncAtInput: true, numLayers: 2, layer: () => new MemoryAttentionLayer(
            activation: "relu",
            crossAttention: new RoPEAttention(32, 1, downsampleRate: 1, dropout: 0.1, kvInDim: 16,
                ropeTheta: 10000.0, ropeKRepeat: true, featSizes: new[] { 16, 16 }),
            dModel: 32, dimFeedforward: 64, dropout: 0.1,
            posEncAtAttn: false, posEncAtCrossAttnKeys: true, posEncAtCrossAttnQueries: false,
            selfAttention: new RoPEAttention(32, 1, downsampleRate: 1, dropout: 0.1,
                ropeTheta: 10000.0, featSizes: new[] { 16, 16 })));

    /// <summary>memory_encoder of the golden config.yaml (with a test-local sine position encoding).</summary>
    static MemoryEncoder BuildMemoryEncoder() =>
        new(outDim: 16, inDim: 32,
            maskDownsampler: new MaskDownSampler(embedDim: 32, kernelSize: 3, stride: 2, padding: 1),
            fuser: new Fuser(() => new CXBlock(32, kernelSize: 7, padding: 3, layerScaleInitValue: 1e-6, useDwconv: true), 2),
            positionEncoding: new TestSinePosition(16));

    public static IEnumerable<object[]> MicroFolders() =>
        new[] { "sam2.1-micro", "sam2-micro" }.Select(n => new object[] { Path.Combine(Golden.SharedDir, "golden", n) });

    [Theory, MemberData(nameof(MicroFolders))]
    public void MemoryAttentionHasTheGoldenKeysLoadsAndRuns(string folder)
    {
        using var _ = no_grad();
        var ma = BuildMemoryAttention();
        AssertSameKeysAndShapes(ma, folder, "memory_attention.");
        LoadStrict(ma, folder, "memory_attention.");
        ma.eval();

        // SAM2Base's layout: sequence-first, 16×16 current tokens; 7 frames of 16×16 memories plus
        // 4 object-pointer tokens (pointers of dim 32 split into 2 tokens of 16, two frames).
        const int hw = 256, mem = 7 * 256 + 4;
        var curr = Rand(20, hw, 2, 32);
        var currPos = Rand(21, hw, 2, 32);
        var memory = Rand(22, mem, 2, 16);
        var memoryPos = Rand(23, mem, 2, 16);
        var out1 = ma.Forward(curr, memory, currPos, memoryPos, numObjPtrTokens: 4);
        Assert.Equal(new long[] { hw, 2, 32 }, out1.shape);
        Assert.True(out1.isfinite().all().item<bool>());
        Assert.True(out1.std().item<float>() > 1e-3);

        // Batch items are independent (the batch/sequence transposes are right).
        var single = ma.Forward(curr.narrow(1, 1, 1), memory.narrow(1, 1, 1), currPos.narrow(1, 1, 1),
                                memoryPos.narrow(1, 1, 1), numObjPtrTokens: 4);
        Assert.True(Golden.MaxAbsDiff(single, out1.narrow(1, 1, 1)) < 1e-4);
        // Deterministic in eval mode (dropout 0.1 is off).
        Assert.Equal(0.0, Golden.MaxAbsDiff(ma.Forward(curr, memory, currPos, memoryPos, 4), out1));
        // Without the pointer count, 1796 keys are no multiple of the 256 queries: refused.
        Assert.ThrowsAny<Exception>(() => ma.Forward(curr, memory, currPos, memoryPos, 0));
        // The list form of the reference gives the same.
        var viaList = ma.Forward(new[] { curr }, memory, new[] { currPos }, memoryPos, 4);
        Assert.Equal(0.0, Golden.MaxAbsDiff(viaList, out1));
    }

    [Fact]
    public void MemoryAttentionLayersStartAsCopiesOfTheFirst()
    {
        var ma = BuildMemoryAttention();
        var sd = ma.state_dict();
        foreach (var (k, t) in sd.Where(kv => kv.Key.StartsWith("layers.1.")))
            Assert.Equal(0.0, Golden.MaxAbsDiff(t, sd["layers.0." + k["layers.1.".Length..]]));
    }

    [Theory, MemberData(nameof(MicroFolders))]
    public void MemoryEncoderHasTheGoldenKeysLoadsAndRuns(string folder)
    {
        using var _ = no_grad();
        var me = BuildMemoryEncoder();
        AssertSameKeysAndShapes(me, folder, "memory_encoder.");
        LoadStrict(me, folder, "memory_encoder.");
        me.eval();

        var pix = Rand(30, 1, 32, 16, 16);
        // SAM2Base feeds the high-resolution masks (image size 256): total stride 16 gives the 16×16 of pix_feat.
        var masks = Rand(31, 1, 1, 256, 256) * 10;
        var o = me.Forward(pix, masks);
        Assert.Equal(new long[] { 1, 16, 16, 16 }, o.VisionFeatures.shape);
        Assert.Single(o.VisionPosEnc);
        Assert.Equal(new long[] { 1, 16, 16, 16 }, o.VisionPosEnc[0].shape);
        Assert.True(o.VisionFeatures.isfinite().all().item<bool>());
        Assert.True(o.VisionFeatures.std().item<float>() > 1e-4);

        // skip_mask_sigmoid: a mask given as probabilities gives the same memory.
        var o2 = me.Forward(pix, masks.sigmoid(), skipMaskSigmoid: true);
        Assert.Equal(0.0, Golden.MaxAbsDiff(o2.VisionFeatures, o.VisionFeatures));
        // The mask matters.
        var o3 = me.Forward(pix, -masks);
        Assert.True(Golden.MaxAbsDiff(o3.VisionFeatures, o.VisionFeatures) > 1e-4);
    }

    [Fact]
    public void CXBlockMatchesAHandComputation()
    {
        using var _ = no_grad();
        var b = new CXBlock(8, kernelSize: 3, padding: 1, layerScaleInitValue: 0.5);
        var p = b.named_parameters().ToDictionary(t => t.name, t => t.parameter);
        var x = Rand(40, 2, 8, 5, 5);
        var y = nn.functional.conv2d(x, p["dwconv.weight"], p["dwconv.bias"], padding: new long[] { 1, 1 }, groups: 8);
        var mu = y.mean(new long[] { 1 }, keepdim: true);
        var var_ = (y - mu).square().mean(new long[] { 1 }, keepdim: true);
        y = (y - mu) / (var_ + 1e-6).sqrt();
        y = y * p["norm.weight"].view(1, 8, 1, 1) + p["norm.bias"].view(1, 8, 1, 1);
        y = y.permute(0, 2, 3, 1);
        y = nn.functional.gelu(y.matmul(p["pwconv1.weight"].t()) + p["pwconv1.bias"]);
        y = (y.matmul(p["pwconv2.weight"].t()) + p["pwconv2.bias"]) * p["gamma"];
        var want = x + y.permute(0, 3, 1, 2);
        Assert.True(Golden.MaxAbsDiff(b.forward(x), want) < 1e-5);

        // No layer scale: no gamma in the state dict.
        Assert.DoesNotContain("gamma", new CXBlock(8, layerScaleInitValue: 0).state_dict().Keys);
    }

    [Fact]
    public void MaskDownSamplerNumbersItsLayersLikeTheReference()
    {
        var m = new MaskDownSampler(embedDim: 32, kernelSize: 3, stride: 2, padding: 1);
        var keys = m.state_dict().Keys.Select(k => k.Split('.')[1]).Distinct().Select(int.Parse).OrderBy(i => i);
        Assert.Equal(new[] { 0, 1, 3, 4, 6, 7, 9, 10, 12 }, keys);
        using var _ = no_grad();
        Assert.Equal(new long[] { 1, 32, 4, 4 }, m.forward(zeros(1, 1, 64, 64)).shape);
    }

    /// <summary>
    /// A small sine position encoding (normalized, y then x channels), standing in for the real
    /// PositionEmbeddingSine, which another part of the port provides.
    /// </summary>
    sealed class TestSinePosition : nn.Module<Tensor, Tensor>
    {
        private readonly int numPosFeats;

        public TestSinePosition(int numPosFeats) : base(nameof(TestSinePosition))
        {
            this.numPosFeats = numPosFeats / 2;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            long b = x.shape[0], h = x.shape[2], w = x.shape[3];
            var yEmbed = (arange(1, h + 1, dtype: float32) - 0.5) / (h + 1e-6) * (2 * Math.PI);
            var xEmbed = (arange(1, w + 1, dtype: float32) - 0.5) / (w + 1e-6) * (2 * Math.PI);
            var dimT = arange(numPosFeats, dtype: float32);
            dimT = pow(10000.0, 2 * dimT.floor_divide(2) / numPosFeats);
            Tensor Enc(Tensor e)
            {
                var p = e.unsqueeze(-1) / dimT; // L × F
                return stack(new[] { p[.., TensorIndex.Slice(0, null, 2)].sin(), p[.., TensorIndex.Slice(1, null, 2)].cos() }, 2).flatten(1);
            }
            var py = Enc(yEmbed).t().unsqueeze(2).expand(-1, h, w);
            var px = Enc(xEmbed).t().unsqueeze(1).expand(-1, h, w);
            return cat(new[] { py, px }, 0).unsqueeze(0).expand(b, -1, -1, -1).to(x.device);
        }
    }
}
