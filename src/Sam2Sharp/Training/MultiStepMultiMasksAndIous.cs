using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sam2Sharp.Training;

/// <summary>
/// The SAM 2 training loss (the reference's MultiStepMultiMasksAndIous): per frame and prediction step,
/// focal and dice loss on the best of the multimask outputs, IoU-prediction loss, object-score loss;
/// summed over steps and frames, each divided by the number of objects.
/// </summary>
public sealed class MultiStepMultiMasksAndIous
{
    /// <summary>Keys of the loss dictionary and of <see cref="WeightDict"/>: focal (mask), dice, IoU, object score (class), and the weighted total.</summary>
    public const string LossMask = "loss_mask", LossDice = "loss_dice", LossIou = "loss_iou", LossClass = "loss_class", CoreLoss = "core_loss";

    /// <summary>Weight of each loss in <see cref="CoreLoss"/>; <see cref="LossClass"/> defaults to 0.</summary>
    public IReadOnlyDictionary<string, double> WeightDict { get; }
    /// <summary>α of the sigmoid focal loss on masks (negative: no class weighting).</summary>
    public double FocalAlpha { get; }
    /// <summary>γ of the sigmoid focal loss on masks.</summary>
    public double FocalGamma { get; }
    /// <summary>Whether the IoU loss covers every multimask output, not only the best one.</summary>
    public bool SuperviseAllIou { get; }
    /// <summary>Whether the IoU loss is L1 instead of squared error.</summary>
    public bool IouUseL1Loss { get; }
    /// <summary>Whether the object-score (presence) loss is computed; else it is 0.</summary>
    public bool PredObjScores { get; }
    /// <summary>γ of the sigmoid focal loss on object scores.</summary>
    public double FocalGammaObjScore { get; }
    /// <summary>α of the sigmoid focal loss on object scores (negative: no class weighting).</summary>
    public double FocalAlphaObjScore { get; }

    /// <summary>The loss with the reference's defaults; see the properties for each argument.</summary>
    /// <param name="weightDict">Weights by loss key; must hold <see cref="LossMask"/>, <see cref="LossDice"/> and <see cref="LossIou"/>.</param>
    /// <param name="focalAlpha">See <see cref="FocalAlpha"/>.</param>
    /// <param name="focalGamma">See <see cref="FocalGamma"/>.</param>
    /// <param name="superviseAllIou">See <see cref="SuperviseAllIou"/>.</param>
    /// <param name="iouUseL1Loss">See <see cref="IouUseL1Loss"/>.</param>
    /// <param name="predObjScores">See <see cref="PredObjScores"/>.</param>
    /// <param name="focalGammaObjScore">See <see cref="FocalGammaObjScore"/>.</param>
    /// <param name="focalAlphaObjScore">See <see cref="FocalAlphaObjScore"/>.</param>
    /// <exception cref="ArgumentException">A required weight is missing.</exception>
    public MultiStepMultiMasksAndIous(IReadOnlyDictionary<string, double> weightDict, double focalAlpha = 0.25, double focalGamma = 2,
        bool superviseAllIou = false, bool iouUseL1Loss = false, bool predObjScores = false,
        double focalGammaObjScore = 0.0, double focalAlphaObjScore = -1)
    {
        foreach (var k in new[] { LossMask, LossDice, LossIou })
            if (!weightDict.ContainsKey(k)) throw new ArgumentException($"weight_dict needs '{k}'");
        var w = new Dictionary<string, double>(weightDict);
        w.TryAdd(LossClass, 0.0);
        WeightDict = w;
        FocalAlpha = focalAlpha; FocalGamma = focalGamma; SuperviseAllIou = superviseAllIou; IouUseL1Loss = iouUseL1Loss;
        PredObjScores = predObjScores; FocalGammaObjScore = focalGammaObjScore; FocalAlphaObjScore = focalAlphaObjScore;
    }

    /// <summary>The losses over all frames of a batch; <paramref name="targets"/> is T×O×H×W (the batch's masks).</summary>
    public Dictionary<string, Tensor> Forward(IReadOnlyList<TrainFrameOutput> outputs, Tensor targets)
    {
        if (outputs.Count != targets.shape[0]) throw new ArgumentException($"{outputs.Count} frame outputs for {targets.shape[0]} target frames");
        // Single process: the object count is this batch's.
        double numObjects = Math.Max(targets.shape[1], 1);
        var losses = new Dictionary<string, Tensor>();
        for (int t = 0; t < outputs.Count; t++)
            foreach (var (k, v) in FrameLosses(outputs[t], targets[t], numObjects))
                losses[k] = losses.TryGetValue(k, out var acc) ? acc + v : v;
        return losses;
    }

    /// <summary>One frame: the losses of every prediction step, summed, and their weighted total as core_loss.</summary>
    public Dictionary<string, Tensor> FrameLosses(TrainFrameOutput output, Tensor target, double numObjects)
    {
        var targetMasks = target.unsqueeze(1).to_type(float32);
        var srcList = output.MultistepPredMultimasksHighRes;
        var iousList = output.MultistepPredIous;
        var scoresList = output.MultistepObjectScoreLogits;
        if (srcList.Count != iousList.Count || scoresList.Count != iousList.Count) throw new ArgumentException("steps differ in length");
        var device = targetMasks.device;
        var losses = new Dictionary<string, Tensor>
        {
            [LossMask] = zeros(Array.Empty<long>(), device: device), [LossDice] = zeros(Array.Empty<long>(), device: device),
            [LossIou] = zeros(Array.Empty<long>(), device: device), [LossClass] = zeros(Array.Empty<long>(), device: device),
        };
        for (int s = 0; s < srcList.Count; s++) UpdateLosses(losses, srcList[s], targetMasks, iousList[s], numObjects, scoresList[s]);
        losses[CoreLoss] = ReduceLoss(losses);
        return losses;
    }

    void UpdateLosses(Dictionary<string, Tensor> losses, Tensor srcMasks, Tensor targetMasks, Tensor ious, double numObjects, Tensor objectScoreLogits)
    {
        targetMasks = targetMasks.expand_as(srcMasks);
        var lossMultimask = SigmoidFocalLoss(srcMasks, targetMasks, numObjects, FocalAlpha, FocalGamma, lossOnMultimask: true);
        var lossMultidice = DiceLoss(srcMasks, targetMasks, numObjects, lossOnMultimask: true);
        Tensor lossClass, targetObj;
        if (!PredObjScores)
        {
            lossClass = zeros(Array.Empty<long>(), dtype: lossMultimask.dtype, device: lossMultimask.device);
            targetObj = ones(lossMultimask.shape[0], 1, dtype: lossMultimask.dtype, device: lossMultimask.device);
        }
        else
        {
            targetObj = (targetMasks[.., 0] > 0).flatten(1).any(-1)[.., TensorIndex.None].to_type(float32);
            lossClass = SigmoidFocalLoss(objectScoreLogits, targetObj, numObjects, FocalAlphaObjScore, FocalGammaObjScore);
        }
        var lossMultiiou = IouLoss(srcMasks, targetMasks, ious, numObjects, lossOnMultimask: true, useL1Loss: IouUseL1Loss);
        Tensor lossMask, lossDice, lossIou;
        if (lossMultimask.shape[1] > 1)
        {
            // Supervise only the output closest to the ground truth (focal + dice), as SAM does.
            var combo = lossMultimask * WeightDict[LossMask] + lossMultidice * WeightDict[LossDice];
            var best = combo.argmin(-1);
            var batch = arange(combo.shape[0], device: combo.device);
            lossMask = lossMultimask[batch, best].unsqueeze(1);
            lossDice = lossMultidice[batch, best].unsqueeze(1);
            lossIou = SuperviseAllIou ? lossMultiiou.mean(new long[] { -1 }).unsqueeze(1) : lossMultiiou[batch, best].unsqueeze(1);
        }
        else
        {
            lossMask = lossMultimask; lossDice = lossMultidice; lossIou = lossMultiiou;
        }
        // Mask and IoU losses only where the object is present.
        losses[LossMask] = losses[LossMask] + (lossMask * targetObj).sum();
        losses[LossDice] = losses[LossDice] + (lossDice * targetObj).sum();
        losses[LossIou] = losses[LossIou] + (lossIou * targetObj).sum();
        losses[LossClass] = losses[LossClass] + lossClass;
    }

    Tensor ReduceLoss(Dictionary<string, Tensor> losses)
    {
        Tensor? total = null;
        foreach (var (k, w) in WeightDict)
        {
            if (!losses.TryGetValue(k, out var v)) throw new ArgumentException($"the loss does not compute '{k}'");
            if (w != 0) total = total is null ? v * w : total + v * w;
        }
        return total ?? zeros(Array.Empty<long>(), device: losses.Values.FirstOrDefault()?.device);
    }

    /// <summary>Dice loss of logits against 0/1 targets; per mask (N×M) when multimask, else summed; divided by numObjects.</summary>
    public static Tensor DiceLoss(Tensor inputs, Tensor targets, double numObjects, bool lossOnMultimask = false)
    {
        inputs = inputs.sigmoid();
        Tensor numerator;
        if (lossOnMultimask)
        {
            if (inputs.dim() != 4 || targets.dim() != 4) throw new ArgumentException("multimask dice needs N×M×H×W");
            inputs = inputs.flatten(2);
            targets = targets.flatten(2);
            numerator = 2 * (inputs * targets).sum(-1);
        }
        else
        {
            inputs = inputs.flatten(1);
            numerator = 2 * (inputs * targets).sum(1);
        }
        var denominator = inputs.sum(-1) + targets.sum(-1);
        var loss = 1 - (numerator + 1) / (denominator + 1);
        return lossOnMultimask ? loss / numObjects : loss.sum() / numObjects;
    }

    /// <summary>The RetinaNet focal loss on logits; per mask mean over pixels (N×M) when multimask, else mean over dim 1 summed.</summary>
    public static Tensor SigmoidFocalLoss(Tensor inputs, Tensor targets, double numObjects, double alpha = 0.25, double gamma = 2,
        bool lossOnMultimask = false)
    {
        var prob = inputs.sigmoid();
        var ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction: nn.Reduction.None);
        var pT = prob * targets + (1 - prob) * (1 - targets);
        var loss = ce * (1 - pT).pow(gamma);
        if (alpha >= 0)
        {
            var alphaT = alpha * targets + (1 - alpha) * (1 - targets);
            loss = alphaT * loss;
        }
        if (lossOnMultimask)
        {
            if (loss.dim() != 4) throw new ArgumentException("multimask focal loss needs N×M×H×W");
            return loss.flatten(2).mean(new long[] { -1 }) / numObjects;
        }
        return loss.mean(new long[] { 1 }).sum() / numObjects;
    }

    /// <summary>L1 or squared error between predicted IoUs and the actual IoU of each mask (logits > 0) with the target.</summary>
    public static Tensor IouLoss(Tensor inputs, Tensor targets, Tensor predIous, double numObjects, bool lossOnMultimask = false, bool useL1Loss = false)
    {
        if (inputs.dim() != 4 || targets.dim() != 4) throw new ArgumentException("iou loss needs N×M×H×W");
        var pred = inputs.flatten(2) > 0;
        var gt = targets.flatten(2) > 0;
        var areaI = (pred & gt).sum(-1).to_type(float32);
        var areaU = (pred | gt).sum(-1).to_type(float32);
        var actual = areaI / areaU.clamp(min: 1.0);
        var loss = useL1Loss
            ? F.l1_loss(predIous, actual, reduction: nn.Reduction.None)
            : F.mse_loss(predIous, actual, reduction: nn.Reduction.None);
        return lossOnMultimask ? loss / numObjects : loss.sum() / numObjects;
    }
}
