using Sam2Sharp.Benchmarking;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sam2Sharp.Modeling.Sam;

/// <summary>What <see cref="MaskDecoder.forward"/> returns.</summary>
/// <param name="Masks">B×M×4h×4w mask logits (M = 3 with multimask output, else 1).</param>
/// <param name="IouPred">B×M predicted mask quality.</param>
/// <param name="SamTokensOut">B×3×C (multimask with the multimask token for object pointers) or B×1×C.</param>
/// <param name="ObjectScoreLogits">B×1 logit that the object is present.</param>
public sealed record MaskDecoderOutput(Tensor Masks, Tensor IouPred, Tensor SamTokensOut, Tensor ObjectScoreLogits);

/// <summary>
/// SAM's mask decoder: output tokens (object score, IoU, mask tokens) plus the prompt tokens go
/// through a two-way transformer with the image embedding; the mask tokens then become
/// hypernetwork weights that are dotted with the upscaled image embedding.
/// </summary>
public sealed class MaskDecoder : nn.Module
{
    private readonly TwoWayTransformer transformer;
    private readonly Embedding iou_token;
    private readonly Embedding mask_tokens;
    private readonly Embedding? obj_score_token;
    private readonly Sequential output_upscaling;
    private readonly Conv2d? conv_s0;
    private readonly Conv2d? conv_s1;
    private readonly ModuleList<Mlp> output_hypernetworks_mlps;
    private readonly Mlp iou_prediction_head;
    private readonly nn.Module<Tensor, Tensor>? pred_obj_score_head;

    // The pieces of output_upscaling, for the high-resolution path that adds skip features between
    // them. Kept in a tuple (not registered) so that they appear in the state dict only once.
    private readonly (ConvTranspose2d dc1, LayerNorm2d ln1, nn.Module<Tensor, Tensor> act1,
                      ConvTranspose2d dc2, nn.Module<Tensor, Tensor> act2) upscaling;
    // The upscaling's activation in place, for inference (the passes over B×C/8×4h×4w are memory-bound).
    private readonly Func<Tensor, Tensor> activationInPlace;

    // Prompts upscaled together: the upscaled features (8 MB a prompt at 1024 px) of a few stay in cache between the
    // passes that make them and the product that reads them, where a batch of 64 (the automatic mask generator's)
    // makes 537 MB temporaries, mapped fresh and faulted in page by page on every pass.
    const long UpscaleChunk = 4;

    /// <summary>Token width (the neck's d_model, 256).</summary>
    public int TransformerDim { get; }
    /// <summary>Masks in multimask output (3: whole, part, subpart for an ambiguous prompt).</summary>
    public int NumMultimaskOutputs { get; }
    /// <summary>Mask tokens: the single-mask token first, then the multimask ones.</summary>
    public int NumMaskTokens { get; }
    /// <summary>Whether an object-score token and head predict if the object is on the frame at all (SAM 2's occlusion prediction).</summary>
    public bool PredObjScores { get; }
    /// <summary>With multimask output, the object pointer comes from the multimask tokens, not the single-mask token.</summary>
    public bool UseMultimaskTokenForObjPtr { get; }
    /// <summary>Whether the stride-4 and stride-8 backbone features are added while upscaling (SAM 2's high-resolution skip connections).</summary>
    public bool UseHighResFeatures { get; }
    /// <summary>Without multimask output (in evaluation), take the single mask only when it is stable, else the best multimask one: a single click is often ambiguous.</summary>
    public bool DynamicMultimaskViaStability { get; }
    /// <summary>The logit offset of the stability score (IoU of the mask at +delta and −delta).</summary>
    public double DynamicMultimaskStabilityDelta { get; }
    /// <summary>The stability score under which the single mask is replaced by the best multimask one.</summary>
    public double DynamicMultimaskStabilityThresh { get; }

    /// <summary>SAM 2's mask decoder; the arguments after the transformer are the config's sam_mask_decoder_extra_args.</summary>
    /// <param name="transformerDim">Token width.</param>
    /// <param name="transformer">The two-way transformer.</param>
    /// <param name="numMultimaskOutputs">Masks in multimask output.</param>
    /// <param name="activation">The upscaling's activation.</param>
    /// <param name="iouHeadDepth">Layers of the IoU head.</param>
    /// <param name="iouHeadHiddenDim">Hidden width of the IoU head.</param>
    /// <param name="useHighResFeatures">See <see cref="UseHighResFeatures"/>.</param>
    /// <param name="iouPredictionUseSigmoid">A sigmoid on the IoU head's output.</param>
    /// <param name="dynamicMultimaskViaStability">See <see cref="DynamicMultimaskViaStability"/>.</param>
    /// <param name="dynamicMultimaskStabilityDelta">See <see cref="DynamicMultimaskStabilityDelta"/>.</param>
    /// <param name="dynamicMultimaskStabilityThresh">See <see cref="DynamicMultimaskStabilityThresh"/>.</param>
    /// <param name="predObjScores">See <see cref="PredObjScores"/>.</param>
    /// <param name="predObjScoresMlp">The object-score head is a 3-layer MLP rather than one linear layer.</param>
    /// <param name="useMultimaskTokenForObjPtr">See <see cref="UseMultimaskTokenForObjPtr"/>.</param>
    public MaskDecoder(int transformerDim, TwoWayTransformer transformer, int numMultimaskOutputs = 3,
                       string activation = "gelu", int iouHeadDepth = 3, int iouHeadHiddenDim = 256,
                       bool useHighResFeatures = false, bool iouPredictionUseSigmoid = false,
                       bool dynamicMultimaskViaStability = false, double dynamicMultimaskStabilityDelta = 0.05,
                       double dynamicMultimaskStabilityThresh = 0.98, bool predObjScores = false,
                       bool predObjScoresMlp = false, bool useMultimaskTokenForObjPtr = false)
        : base(nameof(MaskDecoder))
    {
        TransformerDim = transformerDim;
        this.transformer = transformer;
        NumMultimaskOutputs = numMultimaskOutputs;
        iou_token = nn.Embedding(1, transformerDim);
        NumMaskTokens = numMultimaskOutputs + 1;
        mask_tokens = nn.Embedding(NumMaskTokens, transformerDim);

        PredObjScores = predObjScores;
        if (predObjScores) obj_score_token = nn.Embedding(1, transformerDim);
        UseMultimaskTokenForObjPtr = useMultimaskTokenForObjPtr;

        upscaling = (
            nn.ConvTranspose2d(transformerDim, transformerDim / 4, kernel_size: 2, stride: 2),
            new LayerNorm2d(transformerDim / 4),
            PromptEncoder.ActivationModule(activation),
            nn.ConvTranspose2d(transformerDim / 4, transformerDim / 8, kernel_size: 2, stride: 2),
            PromptEncoder.ActivationModule(activation));
        activationInPlace = activation == "relu" ? x => x.relu_() : x => x.gelu_();
        output_upscaling = nn.Sequential(("0", upscaling.dc1), ("1", upscaling.ln1), ("2", upscaling.act1),
                                         ("3", upscaling.dc2), ("4", upscaling.act2));
        UseHighResFeatures = useHighResFeatures;
        if (useHighResFeatures)
        {
            conv_s0 = nn.Conv2d(transformerDim, transformerDim / 8, kernel_size: 1, stride: 1);
            conv_s1 = nn.Conv2d(transformerDim, transformerDim / 4, kernel_size: 1, stride: 1);
        }

        output_hypernetworks_mlps = new ModuleList<Mlp>();
        for (int i = 0; i < NumMaskTokens; i++)
            output_hypernetworks_mlps.Add(new Mlp(transformerDim, transformerDim, transformerDim / 8, 3));

        iou_prediction_head = new Mlp(transformerDim, iouHeadHiddenDim, NumMaskTokens, iouHeadDepth,
                                      sigmoidOutput: iouPredictionUseSigmoid);
        if (predObjScores)
            pred_obj_score_head = predObjScoresMlp
                ? new Mlp(transformerDim, transformerDim, 1, 3)
                : nn.Linear(transformerDim, 1);

        DynamicMultimaskViaStability = dynamicMultimaskViaStability;
        DynamicMultimaskStabilityDelta = dynamicMultimaskStabilityDelta;
        DynamicMultimaskStabilityThresh = dynamicMultimaskStabilityThresh;
        RegisterComponents();
    }

    /// <summary>The decoder's 1×1 projection of the stride-4 backbone features (applied by SAM2Base), channels-last (<see cref="ChannelsLast"/>).</summary>
    public Tensor ConvS0(Tensor x) =>
        ChannelsLast((conv_s0 ?? throw new InvalidOperationException("the decoder was built without high-resolution features")).forward(x));

    /// <summary>The decoder's 1×1 projection of the stride-8 backbone features (applied by SAM2Base), channels-last (<see cref="ChannelsLast"/>).</summary>
    public Tensor ConvS1(Tensor x) =>
        ChannelsLast((conv_s1 ?? throw new InvalidOperationException("the decoder was built without high-resolution features")).forward(x));

    /// <summary>
    /// A B×C×H×W map stored channels-last (the same values and shape; a view of itself when already so), as the decoder
    /// reads an image's embedding and high-resolution features: as pixels × channels. Its transformer adds the image
    /// tokens to their position encoding (channels-last) and to its residuals, and its upscaling adds the features to
    /// its channels-last pixels, for every prompt; channels-first maps were transposed in each of those passes (at
    /// 1024 px 13 ms a prompt for the features alone), which is why an image's maps are laid out once, here.
    /// </summary>
    public static Tensor ChannelsLast(Tensor x) => x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

    /// <summary>
    /// imageEmbeddings: 1×C×h×w when <paramref name="repeatImage"/> (one image, many prompts) or B×C×h×w;
    /// imagePe: 1×C×h×w (<see cref="PromptEncoder.GetDensePe"/>); sparse: B×N×C; dense: B×C×h×w;
    /// highResFeatures: [B×C/8×4h×4w, B×C/4×2h×2w] when the decoder uses them; image: the image's
    /// <see cref="PrepareImage"/>, which a single prompt without a mask input uses.
    /// </summary>
    public MaskDecoderOutput forward(Tensor imageEmbeddings, Tensor imagePe, Tensor sparsePromptEmbeddings,
                                     Tensor densePromptEmbeddings, bool multimaskOutput, bool repeatImage,
                                     IReadOnlyList<Tensor>? highResFeatures = null, PreparedImage? image = null)
    {
        using var scope = NewDisposeScope();
        var (masks, iouPred, maskTokensOut, objectScoreLogits) = PredictMasks(
            imageEmbeddings, imagePe, sparsePromptEmbeddings, densePromptEmbeddings, repeatImage, highResFeatures, image);

        if (multimaskOutput)
        {
            masks = masks[.., 1..];
            iouPred = iouPred[.., 1..];
        }
        else if (DynamicMultimaskViaStability && !training)
            (masks, iouPred) = DynamicMultimaskViaStabilitySelect(masks, iouPred);
        else
        {
            masks = masks[.., 0..1];
            iouPred = iouPred[.., 0..1];
        }

        // Tracking always uses the single-mask token unless told to use the multimask tokens.
        var samTokensOut = multimaskOutput && UseMultimaskTokenForObjPtr
            ? maskTokensOut[.., 1..]
            : maskTokensOut[.., 0..1];

        return new MaskDecoderOutput(masks.MoveToOuterDisposeScope(), iouPred.MoveToOuterDisposeScope(),
                                     samTokensOut.MoveToOuterDisposeScope(), objectScoreLogits.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// What a single prompt without a mask input computes of the image alone (see <see cref="PreparedImage"/>):
    /// <paramref name="imageEmbedding"/> 1×C×h×w, <paramref name="imagePe"/> from <see cref="PromptEncoder.GetDensePe"/>,
    /// <paramref name="noMaskDense"/> the prompt encoder's dense embedding without a mask (B×C×h×w, one value per channel).
    /// </summary>
    public PreparedImage PrepareImage(Tensor imageEmbedding, Tensor imagePe, Tensor noMaskDense)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var src = imageEmbedding + noMaskDense[TensorIndex.Slice(0, 1)];
        var (keys, values, queries) = transformer.ProjectImage(src, imagePe);
        return new PreparedImage(src.DetachFromDisposeScope(), noMaskDense[0, .., 0, 0].clone().DetachFromDisposeScope(),
            keys.DetachFromDisposeScope(), values.DetachFromDisposeScope(), queries.DetachFromDisposeScope());
    }

    /// <summary>Whether <paramref name="image"/> serves this call: one prompt, no gradient, and the dense embedding it was made with.</summary>
    static bool Serves(PreparedImage? image, Tensor imageEmbeddings, Tensor sparse, Tensor dense) =>
        image is not null && !is_grad_enabled() && sparse.shape[0] == 1 && imageEmbeddings.shape[0] == 1
        && dense.stride(2) == 0 && dense.stride(3) == 0 && dense[0, .., 0, 0].eq(image.NoMaskEmbedding).all().item<bool>();

    /// <summary>All mask-token outputs: (masks B×4×4h×4w, iou B×4, mask tokens B×4×C, object score B×1).</summary>
    public (Tensor masks, Tensor iouPred, Tensor maskTokensOut, Tensor objectScoreLogits) PredictMasks(
        Tensor imageEmbeddings, Tensor imagePe, Tensor sparsePromptEmbeddings, Tensor densePromptEmbeddings,
        bool repeatImage, IReadOnlyList<Tensor>? highResFeatures = null, PreparedImage? image = null)
    {
        using var scope = NewDisposeScope();
        int s = 0;
        Tensor outputTokens;
        if (PredObjScores)
        {
            outputTokens = cat(new[] { obj_score_token!.weight!, iou_token.weight!, mask_tokens.weight! }, 0);
            s = 1;
        }
        else
            outputTokens = cat(new[] { iou_token.weight!, mask_tokens.weight! }, 0);
        outputTokens = outputTokens.unsqueeze(0).expand(sparsePromptEmbeddings.shape[0], -1, -1);
        var tokens = cat(new[] { outputTokens, sparsePromptEmbeddings }, 1);
        long nTok = tokens.shape[0];

        Tensor src;
        if (!Serves(image, imageEmbeddings, sparsePromptEmbeddings, densePromptEmbeddings))
            image = null;
        if (image is not null)
            src = image.Tokens;
        else if (repeatImage && imageEmbeddings.shape[0] == 1 && densePromptEmbeddings.stride(0) == 0)
            // One image and one dense embedding (no mask prompt: expanded, stride 0) for every prompt: the image tokens
            // stay a batch of 1 until the first image-to-token attention makes them differ (the transformer broadcasts).
            src = imageEmbeddings + densePromptEmbeddings[TensorIndex.Slice(0, 1)];
        else if (repeatImage)
            src = imageEmbeddings.repeat_interleave(nTok, dim: 0) + densePromptEmbeddings;
        else
        {
            if (imageEmbeddings.shape[0] != nTok)
                throw new ArgumentException("image_embeddings and prompts must have the same batch size unless repeat_image.");
            src = imageEmbeddings + densePromptEmbeddings;
        }
        if (imagePe.shape[0] != 1)
            throw new ArgumentException("image_pe should have size 1 in batch dim (from GetDensePe()).");
        // The same for every prompt: broadcast where it is added, never repeated.
        var posSrc = imagePe;
        long c = src.shape[1], h = src.shape[2], w = src.shape[3];

        var transformerSection = Profiler.Time("decoder.transformer");
        var (hs, srcOut) = transformer.Forward(src, posSrc, tokens, image);
        transformerSection.Dispose();
        using var headsSection = Profiler.Time("decoder.upscaling_and_heads");
        var iouTokenOut = hs[.., s, ..];
        var maskTokensOut = hs[.., (s + 1)..(s + 1 + NumMaskTokens), ..];

        long b = nTok;
        var section = Profiler.Time("decoder.upscaling");
        if (UseHighResFeatures && highResFeatures is not { Count: 2 })
            throw new ArgumentException("this decoder needs two high-resolution feature maps.");
        var hyperIn = stack(Enumerable.Range(0, NumMaskTokens)
            .Select(i => output_hypernetworks_mlps[i].forward(maskTokensOut[.., i, ..])).ToArray(), 1);
        var imageTokens = srcOut.expand(b, -1, -1).view(b, h, w, c);
        Tensor MasksOf(long from, long to)
        {
            using var chunkScope = NewDisposeScope();
            var range = TensorIndex.Slice(from, to);
            var features = UseHighResFeatures ? highResFeatures!.Select(f => f.shape[0] == 1 ? f : f[range]).ToList() : null;
            var upscaled = Upscale(imageTokens[range], features);
            long uh = upscaled.shape[1], uw = upscaled.shape[2];
            return hyperIn[range].matmul(upscaled.flatten(1, 2).transpose(1, 2)).view(to - from, -1, uh, uw)
                .MoveToOuterDisposeScope();
        }
        var masks = b <= UpscaleChunk ? MasksOf(0, b)
            : cat(Enumerable.Range(0, (int)((b + UpscaleChunk - 1) / UpscaleChunk))
                  .Select(i => MasksOf(i * UpscaleChunk, Math.Min(b, (i + 1) * UpscaleChunk))).ToArray(), 0);
        section.Dispose();
        section = Profiler.Time("decoder.heads");
        var iouPred = iou_prediction_head.forward(iouTokenOut);
        var objectScoreLogits = PredObjScores
            ? pred_obj_score_head!.forward(hs[.., 0, ..])
            : 10.0 * ones(new long[] { iouPred.shape[0], 1 }, dtype: iouPred.dtype, device: iouPred.device); // "present"
        section.Dispose();

        return (masks.MoveToOuterDisposeScope(), iouPred.MoveToOuterDisposeScope(),
                maskTokensOut.MoveToOuterDisposeScope(), objectScoreLogits.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// output_upscaling on channels-last image tokens B×h×w×C: B×4h×4w×C/8 (the high-resolution features, if given,
    /// added after each transposed convolution as in the reference). Each 2×2 stride-2 transposed convolution is one
    /// matrix product (every input pixel gives its 2×2 output pixels), so no pass converts between layouts.
    /// </summary>
    Tensor Upscale(Tensor x, IReadOnlyList<Tensor>? highResFeatures)
    {
        using var scope = NewDisposeScope();
        bool inPlace = !is_grad_enabled();
        var u = ConvTranspose2x2(x, upscaling.dc1, highResFeatures?[1]);
        u = upscaling.ln1.ForwardChannelsLast(u);
        u = inPlace ? activationInPlace(u) : upscaling.act1.forward(u);
        u = ConvTranspose2x2(u, upscaling.dc2, highResFeatures?[0]);
        u = inPlace ? activationInPlace(u) : upscaling.act2.forward(u);
        return u.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// A 2×2 stride-2 transposed convolution on channels-last B×h×w×Cin: B×2h×2w×Cout, plus <paramref name="skip"/>
    /// (1 or B × Cout×2h×2w) when given.
    /// </summary>
    static Tensor ConvTranspose2x2(Tensor x, ConvTranspose2d conv, Tensor? skip)
    {
        using var scope = NewDisposeScope();
        long bsz = x.shape[0], h = x.shape[1], w = x.shape[2];
        var weight = conv.weight!;                                   // Cin×Cout×2×2
        long cin = weight.shape[0], cout = weight.shape[1];
        var y = x.matmul(weight.permute(0, 2, 3, 1).reshape(cin, 4 * cout))
                 .view(bsz, h, w, 2, 2, cout).permute(0, 1, 3, 2, 4, 5); // B×h×2×w×2×Cout
        // Bias and features (channels-last, see ChannelsLast: a contiguous pass of the one image's size) as one map,
        // added first: the sum takes its contiguous layout, so this one pass also interleaves the 2×2 output pixels.
        var bias = conv.bias!.to_type(x.dtype);
        var add = skip is null
            ? bias.expand(1, 2 * h, 2 * w, cout).contiguous()
            : (skip.permute(0, 2, 3, 1).to_type(x.dtype) + bias).contiguous();
        var sum = add.view(add.shape[0], h, 2, w, 2, cout) + y;
        return sum.view(bsz, 2 * h, 2 * w, cout).MoveToOuterDisposeScope();
    }

    /// <summary>IoU of the masks thresholded at +delta and −delta (1 when both are empty).</summary>
    public Tensor GetStabilityScores(Tensor maskLogits)
    {
        using var scope = NewDisposeScope();
        maskLogits = maskLogits.flatten(-2);
        double delta = DynamicMultimaskStabilityDelta;
        var areaI = (maskLogits > delta).sum(-1).to_type(float32);
        var areaU = (maskLogits > -delta).sum(-1).to_type(float32);
        return where(areaU > 0, areaI / areaU, tensor(1.0f, device: areaU.device)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Single-mask output: keep token 0's mask when it is stable, otherwise fall back to the
    /// multimask output (tokens 1..3) with the highest predicted IoU.
    /// </summary>
    private (Tensor masks, Tensor iouPred) DynamicMultimaskViaStabilitySelect(Tensor allMaskLogits, Tensor allIouScores)
    {
        using var scope = NewDisposeScope();
        var multimaskLogits = allMaskLogits[.., 1..];
        var multimaskIou = allIouScores[.., 1..];
        var bestInds = multimaskIou.argmax(-1);
        var batchInds = arange(multimaskIou.shape[0], dtype: int64, device: allIouScores.device);
        var bestLogits = multimaskLogits.index(TensorIndex.Tensor(batchInds), TensorIndex.Tensor(bestInds)).unsqueeze(1);
        var bestIou = multimaskIou.index(TensorIndex.Tensor(batchInds), TensorIndex.Tensor(bestInds)).unsqueeze(1);

        var singleLogits = allMaskLogits[.., 0..1];
        var singleIou = allIouScores[.., 0..1];
        var isStable = GetStabilityScores(singleLogits) >= DynamicMultimaskStabilityThresh;

        var maskOut = where(isStable[.., .., TensorIndex.None, TensorIndex.None].expand_as(singleLogits), singleLogits, bestLogits);
        var iouOut = where(isStable.expand_as(singleIou), singleIou, bestIou);
        return (maskOut.MoveToOuterDisposeScope(), iouOut.MoveToOuterDisposeScope());
    }
}
