using Sam2Sharp.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Training;

/// <summary>
/// The SAM2Train arguments (the reference's constructor arguments beyond SAM2Base's, same defaults):
/// how prompts are simulated on the initial conditioning frames and which frames get correction clicks.
/// </summary>
public sealed record Sam2TrainOptions
{
    /// <summary>Probability that a training clip is prompted with clicks or a box instead of ground-truth masks (a one-frame clip always uses clicks).</summary>
    public double ProbToUsePtInputForTrain { get; init; }
    /// <summary>As <see cref="ProbToUsePtInputForTrain"/>, in evaluation.</summary>
    public double ProbToUsePtInputForEval { get; init; }
    /// <summary>When clicks are used, the probability that a conditioning frame gets a box instead of one click.</summary>
    public double ProbToUseBoxInputForTrain { get; init; }
    /// <summary>As <see cref="ProbToUseBoxInputForTrain"/>, in evaluation.</summary>
    public double ProbToUseBoxInputForEval { get; init; }
    /// <summary>Frames that receive correction clicks (the initial conditioning frames first, then random others).</summary>
    public int NumFramesToCorrectForTrain { get; init; } = 1;
    /// <summary>As <see cref="NumFramesToCorrectForTrain"/>, in evaluation.</summary>
    public int NumFramesToCorrectForEval { get; init; } = 1;
    /// <summary>Whether the number of corrected frames is drawn between the conditioning frames' count and <see cref="NumFramesToCorrectForTrain"/>.</summary>
    public bool RandFramesToCorrectForTrain { get; init; }
    /// <summary>As <see cref="RandFramesToCorrectForTrain"/>, in evaluation.</summary>
    public bool RandFramesToCorrectForEval { get; init; }
    /// <summary>Initial conditioning frames (the first frame always; with Rand*, 1 to this many).</summary>
    public int NumInitCondFramesForTrain { get; init; } = 1;
    /// <summary>As <see cref="NumInitCondFramesForTrain"/>, in evaluation.</summary>
    public int NumInitCondFramesForEval { get; init; } = 1;
    /// <summary>Whether the number of initial conditioning frames is drawn from 1 to <see cref="NumInitCondFramesForTrain"/>.</summary>
    public bool RandInitCondFramesForTrain { get; init; } = true;
    /// <summary>As <see cref="RandInitCondFramesForTrain"/>, in evaluation.</summary>
    public bool RandInitCondFramesForEval { get; init; }
    /// <summary>Frames that get correction clicks join the conditioning frames.</summary>
    public bool AddAllFramesToCorrectAsCond { get; init; }
    /// <summary>Correction clicks sampled, one per step, on each frame chosen for correction (after its initial click).</summary>
    public int NumCorrectionPtPerFrame { get; init; } = 7;
    /// <summary>"uniform" or "center" (training always samples uniformly).</summary>
    public string PtSamplingForEval { get; init; } = PointSampling.Center;
    /// <summary>Probability, in training, that a correction click is sampled from the ground-truth mask instead of the error region.</summary>
    public double ProbToSampleFromGtForTrain { get; init; }
    /// <summary>In eval, compute each frame's image features when it is tracked instead of all at once.</summary>
    public bool ForwardBackbonePerFrameForEval { get; init; }
    /// <summary>Whether the image encoder's parameters are frozen (no gradients).</summary>
    public bool FreezeImageEncoder { get; init; }

    internal void Validate()
    {
        if (ProbToUsePtInputForTrain > 0 || ProbToUsePtInputForEval > 0)
        {
            if (NumFramesToCorrectForTrain < NumInitCondFramesForTrain || NumFramesToCorrectForEval < NumInitCondFramesForEval)
                throw new ArgumentException("num_frames_to_correct must be at least num_init_cond_frames");
        }
    }
}

/// <summary>What one frame of a training forward produced, every correction step kept for the loss.</summary>
public sealed class TrainFrameOutput
{
    /// <summary>Per step: O×M×S/4×S/4 low-resolution mask logits (M = 3 when multimask, else 1).</summary>
    public required List<Tensor> MultistepPredMultimasks { get; init; }
    /// <summary>Per step: O×M×S×S mask logits (what the loss supervises).</summary>
    public required List<Tensor> MultistepPredMultimasksHighRes { get; init; }
    /// <summary>Per step: O×M predicted IoUs.</summary>
    public required List<Tensor> MultistepPredIous { get; init; }
    /// <summary>Per step: the clicks the step saw (null before any click).</summary>
    public required List<PointInputs?> MultistepPointInputs { get; init; }
    /// <summary>Per step: O×1 object score logits.</summary>
    public required List<Tensor> MultistepObjectScoreLogits { get; init; }
    /// <summary>The chosen masks of all steps concatenated, O×steps×S/4×S/4 and O×steps×S×S.</summary>
    public required Tensor MultistepPredMasks { get; init; }
    /// <summary>The high-resolution counterpart of <see cref="MultistepPredMasks"/>, O×steps×S×S.</summary>
    public required Tensor MultistepPredMasksHighRes { get; init; }
    /// <summary>The final step's output, as kept in the memory bank (prediction, pointer, memory).</summary>
    public required FrameOutput Output { get; init; }
    /// <summary>Whether the frame is a conditioning frame (an initial one, or one added by a correction).</summary>
    public bool IsCondFrame { get; set; }
}

/// <summary>
/// The prompts chosen for a clip (the reference's prepare_prompt_inputs): initial conditioning frames
/// with a mask, click or box each, and the frames that get correction clicks.
/// </summary>
public sealed class PromptPlan
{
    /// <summary>Whether the clip is prompted with clicks or boxes (else with ground-truth masks).</summary>
    public required bool UsePtInput { get; init; }
    /// <summary>The initial conditioning frames: the start frame, then any drawn at random.</summary>
    public required List<int> InitCondFrames { get; init; }
    /// <summary>The other frames from the start frame on, in order; tracked after the conditioning frames.</summary>
    public required List<int> FramesNotInInitCond { get; init; }
    /// <summary>Per conditioning frame, the ground-truth mask given as prompt (when clicks are not used).</summary>
    public required Dictionary<int, Tensor> MaskInputsPerFrame { get; init; }
    /// <summary>Per conditioning frame, its initial click or box (when clicks are used).</summary>
    public required Dictionary<int, PointInputs> PointInputsPerFrame { get; init; }
    /// <summary>Frames that get correction clicks: the conditioning frames, then any drawn at random; empty with mask prompts.</summary>
    public required List<int> FramesToAddCorrectionPt { get; init; }
    /// <summary>Per frame, the O×1×S×S bool ground truth.</summary>
    public required Dictionary<int, Tensor> GtMasksPerFrame { get; init; }
}

/// <summary>
/// SAM2Train: SAM 2 trained on clips with simulated interaction. Wraps a <see cref="Sam2Base"/>
/// (whose parameter names stay the official checkpoint keys) and adds the training forward: prompt
/// simulation, tracking over all frames with gradients, and iterative correction clicks from the
/// error against the ground truth. Mode (train/eval) is the wrapped model's.
/// </summary>
public sealed class Sam2Train
{
    /// <summary>The wrapped model, trained in place.</summary>
    public Sam2Base Model { get; }
    /// <summary>The prompt-simulation options.</summary>
    public Sam2TrainOptions Options { get; }
    /// <summary>Draws the prompt decisions (the reference's numpy generator, seeded 42 there).</summary>
    public Random Rng { get; set; }
    /// <summary>Noise of the uniform click sampler and of box prompts (torch's global generator in the reference).</summary>
    public Generator TorchRng { get; set; }

    /// <summary>Wraps <paramref name="model"/> for training.</summary>
    /// <param name="model">The model to train; with <see cref="Sam2TrainOptions.FreezeImageEncoder"/> its image encoder is frozen here.</param>
    /// <param name="options">Prompt-simulation options; <see langword="null"/> means the defaults.</param>
    /// <param name="rng">Prompt decisions' generator; <see langword="null"/> means seeded 42.</param>
    /// <param name="torchRng">Click and box noise generator; <see langword="null"/> means seeded 42.</param>
    public Sam2Train(Sam2Base model, Sam2TrainOptions? options = null, Random? rng = null, Generator? torchRng = null)
    {
        Model = model;
        Options = options ?? new Sam2TrainOptions();
        Options.Validate();
        Rng = rng ?? new Random(42);
        TorchRng = torchRng ?? new Generator(42);
        if (Options.FreezeImageEncoder)
            foreach (var p in model.ImageEncoder.parameters()) p.requires_grad = false;
    }

    bool Training => Model.training;

    /// <summary>The training forward on a batch: one output per frame, in frame order.</summary>
    public List<TrainFrameOutput> Forward(BatchedVideoDatapoint input)
    {
        PreparedFeatures? feats = null;
        if (Training || !Options.ForwardBackbonePerFrameForEval)
            feats = Model.PrepareBackboneFeatures(Model.ForwardImage(input.FlatImgBatch));
        var plan = PreparePromptInputs(input);
        return ForwardTracking(feats, plan, input);
    }

    /// <summary>Chooses mask, click or box prompts on the initial conditioning frames, and the frames to correct.</summary>
    public PromptPlan PreparePromptInputs(BatchedVideoDatapoint input, int startFrameIdx = 0)
    {
        int numFrames = (int)input.NumFrames;
        var gt = new Dictionary<int, Tensor>();
        for (int t = 0; t < numFrames; t++) gt[t] = input.Masks[t].unsqueeze(1).to_type(ScalarType.Bool);
        var o = Options;
        double probPt = Training ? o.ProbToUsePtInputForTrain : o.ProbToUsePtInputForEval;
        double probBox = Training ? o.ProbToUseBoxInputForTrain : o.ProbToUseBoxInputForEval;
        int numToCorrect = Training ? o.NumFramesToCorrectForTrain : o.NumFramesToCorrectForEval;
        bool randToCorrect = Training ? o.RandFramesToCorrectForTrain : o.RandFramesToCorrectForEval;
        int numInit = Training ? o.NumInitCondFramesForTrain : o.NumInitCondFramesForEval;
        bool randInit = Training ? o.RandInitCondFramesForTrain : o.RandInitCondFramesForEval;
        if (numFrames == 1)
        {
            // A static image (SAM-style task): always clicks, on its one frame.
            probPt = 1.0; numToCorrect = 1; numInit = 1;
        }
        if (numInit < 1) throw new ArgumentException("need at least one initial conditioning frame");
        bool usePt = Rng.NextDouble() < probPt;
        if (randInit && numInit > 1) numInit = Rng.Next(1, numInit + 1);
        if (usePt && randToCorrect && numToCorrect > numInit) numToCorrect = Rng.Next(numInit, numToCorrect + 1);

        var init = new List<int> { startFrameIdx };
        if (numInit > 1)
            init.AddRange(Choose(Enumerable.Range(startFrameIdx + 1, numFrames - startFrameIdx - 1).ToList(), numInit - 1));
        var notInit = Enumerable.Range(startFrameIdx, numFrames - startFrameIdx).Where(t => !init.Contains(t)).ToList();

        var maskInputs = new Dictionary<int, Tensor>();
        var pointInputs = new Dictionary<int, PointInputs>();
        foreach (int t in init)
        {
            if (!usePt) { maskInputs[t] = gt[t]; continue; }
            bool useBox = Rng.NextDouble() < probBox;
            var (pts, labels) = useBox
                ? PointSampling.SampleBoxPoints(gt[t], generator: TorchRng)
                // One initial click from the ground truth; corrections come later, on the fly.
                : PointSampling.GetNextPoint(gt[t], null, Training ? PointSampling.Uniform : o.PtSamplingForEval, TorchRng);
            pointInputs[t] = new PointInputs(pts, labels);
        }

        List<int> toCorrect;
        if (!usePt) toCorrect = new();
        else if (numToCorrect == numInit) toCorrect = new(init);
        else
        {
            toCorrect = new(init);
            toCorrect.AddRange(Choose(notInit, numToCorrect - numInit));
        }
        return new PromptPlan
        {
            UsePtInput = usePt, InitCondFrames = init, FramesNotInInitCond = notInit, MaskInputsPerFrame = maskInputs,
            PointInputsPerFrame = pointInputs, FramesToAddCorrectionPt = toCorrect, GtMasksPerFrame = gt,
        };
    }

    /// <summary>k distinct items drawn at random, in draw order.</summary>
    List<int> Choose(List<int> items, int k)
    {
        if (k > items.Count) throw new ArgumentException($"cannot choose {k} of {items.Count} frames");
        var a = items.ToArray();
        for (int i = 0; i < k; i++)
        {
            int j = Rng.Next(i, a.Length);
            (a[i], a[j]) = (a[j], a[i]);
        }
        return a.Take(k).ToList();
    }

    /// <summary>Tracks the initial conditioning frames first, then the others, adding correction clicks where planned.</summary>
    public List<TrainFrameOutput> ForwardTracking(PreparedFeatures? feats, PromptPlan plan, BatchedVideoDatapoint input)
    {
        int numFrames = (int)input.NumFrames;
        var memory = new MemoryBank(); // tensors stay in the caller's scope: the bank is not disposed
        var outputs = new Dictionary<int, TrainFrameOutput>();
        var imgIdx = input.FlatObjToImgIdx.to_type(ScalarType.Int64);
        foreach (int t in plan.InitCondFrames.Concat(plan.FramesNotInInitCond))
        {
            var ids = imgIdx[t];
            PreparedFeatures current = feats is not null
                ? new PreparedFeatures(feats.VisionFeats.Select(x => x.index_select(1, ids)).ToList(),
                    feats.VisionPosEmbeds.Select(x => x.index_select(1, ids)).ToList(), feats.FeatSizes)
                : BackboneFeaturesPerFrame(input.FlatImgBatch, ids);
            var r = TrackStep(t, plan.InitCondFrames.Contains(t), current, plan.PointInputsPerFrame.GetValueOrDefault(t),
                plan.MaskInputsPerFrame.GetValueOrDefault(t), plan.GtMasksPerFrame[t], plan.FramesToAddCorrectionPt, memory, numFrames);
            r.IsCondFrame = plan.InitCondFrames.Contains(t)
                || (Options.AddAllFramesToCorrectAsCond && plan.FramesToAddCorrectionPt.Contains(t));
            memory.Store(t, r.Output, r.IsCondFrame);
            outputs[t] = r;
        }
        return Enumerable.Range(0, numFrames).Select(t => outputs[t]).ToList();
    }

    /// <summary>Image features of the given images only, each distinct image through the encoder once.</summary>
    PreparedFeatures BackboneFeaturesPerFrame(Tensor flatImgBatch, Tensor imgIds)
    {
        var (unique, inverse, _) = imgIds.unique(sorted: true, return_inverse: true);
        var f = Model.PrepareBackboneFeatures(Model.ForwardImage(flatImgBatch.index_select(0, unique)));
        return new PreparedFeatures(f.VisionFeats.Select(x => x.index_select(1, inverse!)).ToList(),
            f.VisionPosEmbeds.Select(x => x.index_select(1, inverse!)).ToList(), f.FeatSizes);
    }

    /// <summary>
    /// One frame: the mask from its prompts and the memory, then (on correction frames) clicks
    /// added one at a time from the current error, each step fed the previous low-res logits;
    /// finally the memory of the last prediction. Tensors stay in the caller's dispose scope and keep their graph.
    /// </summary>
    public TrainFrameOutput TrackStep(int frameIdx, bool isInitCondFrame, PreparedFeatures feats, PointInputs? pointInputs,
        Tensor? maskInputs, Tensor? gtMasks, IReadOnlyCollection<int> framesToAddCorrectionPt, MemoryBank memory, int numFrames)
    {
        var vf = feats.VisionFeats; var sizes = feats.FeatSizes;
        IReadOnlyList<Tensor>? highRes = vf.Count > 1
            ? vf.Take(vf.Count - 1).Select((x, i) => Sam2Base.TokensToMap(x, sizes[i])).ToList()
            : null;
        SamHeadsOutput sam;
        Tensor pixFeat;
        if (maskInputs is not null && Model.Config.UseMaskInputAsOutputWithoutSam)
        {
            pixFeat = Sam2Base.TokensToMap(vf[^1], sizes[^1]);
            sam = Model.UseMaskAsOutput(pixFeat, highRes, maskInputs);
        }
        else
        {
            pixFeat = Model.PrepareMemoryConditionedFeatures(frameIdx, isInitCondFrame, vf[^1], feats.VisionPosEmbeds[^1], sizes[^1],
                memory, numFrames);
            sam = Model.ForwardSamHeads(pixFeat, pointInputs, maskInputs, highRes, Model.UseMultimask(isInitCondFrame, pointInputs));
        }
        var lowMulti = new List<Tensor> { sam.LowResMultimasks };
        var highMulti = new List<Tensor> { sam.HighResMultimasks };
        var ious = new List<Tensor> { sam.Ious };
        var points = new List<PointInputs?> { pointInputs };
        var scores = new List<Tensor> { sam.ObjectScoreLogits };
        var lowMasks = new List<Tensor> { sam.LowResMasks };
        var highMasks = new List<Tensor> { sam.HighResMasks };

        if (framesToAddCorrectionPt.Contains(frameIdx))
        {
            if (gtMasks is null) throw new ArgumentException("correction clicks need the ground truth");
            for (int i = 0; i < Options.NumCorrectionPtPerFrame; i++)
            {
                // Rarely (training only) click from the ground truth alone instead of the error.
                bool fromGt = Training && Options.ProbToSampleFromGtForTrain > 0 && Rng.NextDouble() < Options.ProbToSampleFromGtForTrain;
                Tensor? pred = fromGt ? null : sam.HighResMasks > 0;
                var (newPts, newLabels) = PointSampling.GetNextPoint(gtMasks, pred,
                    Training ? PointSampling.Uniform : Options.PtSamplingForEval, TorchRng);
                pointInputs = PointInputs.Concat(pointInputs, newPts, newLabels);
                // The previous logits go in with the click, as when a user corrects a tracked mask.
                sam = Model.ForwardSamHeads(pixFeat, pointInputs, sam.LowResMasks, highRes, Model.UseMultimask(isInitCondFrame, pointInputs));
                lowMulti.Add(sam.LowResMultimasks); highMulti.Add(sam.HighResMultimasks); ious.Add(sam.Ious);
                points.Add(pointInputs); scores.Add(sam.ObjectScoreLogits);
                lowMasks.Add(sam.LowResMasks); highMasks.Add(sam.HighResMasks);
            }
        }

        var output = Model.EncodeMemoryInOutput(feats, pointInputs, maskInputs, sam);
        return new TrainFrameOutput
        {
            MultistepPredMultimasks = lowMulti,
            MultistepPredMultimasksHighRes = highMulti,
            MultistepPredIous = ious,
            MultistepPointInputs = points,
            MultistepObjectScoreLogits = scores,
            MultistepPredMasks = lowMasks.Count == 1 ? lowMasks[0] : cat(lowMasks, 1),
            MultistepPredMasksHighRes = highMasks.Count == 1 ? highMasks[0] : cat(highMasks, 1),
            Output = output,
        };
    }
}
