using Sam2Sharp.Config;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Sam2Sharp.Training;

/// <summary>
/// A training run, as read from our own YAML (snake_case keys, every section optional except
/// <c>model.config</c>, <c>data</c> folders and <c>output</c>). Defaults follow the official SAM 2.1
/// MOSE fine-tuning config. Relative paths are relative to the YAML file.
/// </summary>
public sealed class TrainRunConfig
{
    /// <summary><c>model:</c> the config and starting weights.</summary>
    public ModelSection Model { get; set; } = new();
    /// <summary><c>data:</c> the VOS dataset and clip sampling.</summary>
    public DataSection Data { get; set; } = new();
    /// <summary><c>prompts:</c> the prompt simulation.</summary>
    public PromptSection Prompts { get; set; } = new();
    /// <summary><c>loss:</c> weights and focal parameters.</summary>
    public LossSection Loss { get; set; } = new();
    /// <summary><c>optim:</c> AdamW, its schedules and clipping.</summary>
    public OptimSection Optim { get; set; } = new();
    /// <summary><c>run:</c> length, seed, checkpoints.</summary>
    public RunSection Run { get; set; } = new();
    /// <summary>Periodic J&amp;F on held-out videos; off unless <c>eval.file_list_txt</c> is given.</summary>
    public EvalSection Eval { get; set; } = new();
    /// <summary>Folder for checkpoint.pt, resume.bin and train_log.jsonl.</summary>
    public string Output { get; set; } = "";

    /// <summary>The <c>model:</c> section.</summary>
    public sealed class ModelSection
    {
        /// <summary>Built-in config name or official-format YAML.</summary>
        public string Config { get; set; } = "";
        /// <summary>Starting weights (official layout); none: random initialisation.</summary>
        public string? Checkpoint { get; set; }
        /// <summary>Stochastic depth in the Hiera trunk during training (0.1 in the official fine-tuning config).</summary>
        public double? DropPathRate { get; set; }
    }

    /// <summary>What the dataset reader needs; the reader itself is given to the trainer as an <see cref="IVosBatchSource"/>.</summary>
    public sealed class DataSection
    {
        /// <summary><c>img_folder</c>: JPEG frames, one folder per video.</summary>
        public string ImgFolder { get; set; } = "";
        /// <summary><c>gt_folder</c>: annotations in either VOS layout.</summary>
        public string GtFolder { get; set; } = "";
        /// <summary><c>file_list_txt</c>: the videos to use, one per line (default: all).</summary>
        public string? FileListTxt { get; set; }
        /// <summary><c>num_frames</c>: frames per sampled clip.</summary>
        public int NumFrames { get; set; } = 8;
        /// <summary><c>max_num_objects</c>: objects per clip at most.</summary>
        public int MaxNumObjects { get; set; } = 3;
        /// <summary><c>batch_size</c>: clips per step.</summary>
        public int BatchSize { get; set; } = 1;
        /// <summary><c>multiplier</c>: how many times each video is repeated per epoch.</summary>
        public int Multiplier { get; set; } = 1;
        /// <summary><c>reverse_time_prob</c>: chance of playing a clip backwards.</summary>
        public double ReverseTimeProb { get; set; }
        /// <summary>Augmentation (flip, affine, colour jitter, grayscale) as in the official config.</summary>
        public bool Augment { get; set; } = true;
    }

    /// <summary>SAM2Train's prompt simulation in training.</summary>
    public sealed class PromptSection
    {
        /// <summary><c>prob_to_use_pt_input</c>: chance of point (or box) prompts rather than a mask.</summary>
        public double ProbToUsePtInput { get; set; } = 0.5;
        /// <summary><c>prob_to_use_box_input</c>: chance of a box among point prompts.</summary>
        public double ProbToUseBoxInput { get; set; } = 0.5;
        /// <summary><c>prob_to_sample_from_gt</c>: chance of a correction click from the ground truth alone.</summary>
        public double ProbToSampleFromGt { get; set; } = 0.1;
        /// <summary><c>num_frames_to_correct</c>: frames that get correction clicks.</summary>
        public int NumFramesToCorrect { get; set; } = 2;
        /// <summary><c>rand_frames_to_correct</c>: draw that number at random up to it.</summary>
        public bool RandFramesToCorrect { get; set; } = true;
        /// <summary><c>num_init_cond_frames</c>: prompted frames at the start.</summary>
        public int NumInitCondFrames { get; set; } = 2;
        /// <summary><c>rand_init_cond_frames</c>: draw that number at random up to it.</summary>
        public bool RandInitCondFrames { get; set; } = true;
        /// <summary><c>add_all_frames_to_correct_as_cond</c>: corrected frames become conditioning frames.</summary>
        public bool AddAllFramesToCorrectAsCond { get; set; } = true;
        /// <summary><c>num_correction_pt_per_frame</c>: correction clicks per corrected frame.</summary>
        public int NumCorrectionPtPerFrame { get; set; } = 7;
    }

    /// <summary>The <c>loss:</c> section (the reference's MultiStepMultiMasksAndIous arguments).</summary>
    public sealed class LossSection
    {
        /// <summary><c>loss_mask</c>: weight of the focal mask loss.</summary>
        public double LossMask { get; set; } = 20;
        /// <summary><c>loss_dice</c>: weight of the dice loss.</summary>
        public double LossDice { get; set; } = 1;
        /// <summary><c>loss_iou</c>: weight of the IoU prediction loss.</summary>
        public double LossIou { get; set; } = 1;
        /// <summary><c>loss_class</c>: weight of the object score loss.</summary>
        public double LossClass { get; set; } = 1;
        /// <summary><c>focal_alpha</c> of the mask loss.</summary>
        public double FocalAlpha { get; set; } = 0.25;
        /// <summary><c>focal_gamma</c> of the mask loss.</summary>
        public double FocalGamma { get; set; } = 2;
        /// <summary><c>supervise_all_iou</c>: train every mask's IoU estimate, not only the best one's.</summary>
        public bool SuperviseAllIou { get; set; } = true;
        /// <summary><c>iou_use_l1_loss</c>: L1 rather than MSE for IoU estimates.</summary>
        public bool IouUseL1Loss { get; set; } = true;
        /// <summary><c>focal_gamma_obj_score</c> of the object score loss.</summary>
        public double FocalGammaObjScore { get; set; }
        /// <summary><c>focal_alpha_obj_score</c> of the object score loss (-1: none).</summary>
        public double FocalAlphaObjScore { get; set; } = -1;
    }

    /// <summary>The <c>optim:</c> section.</summary>
    public sealed class OptimSection
    {
        /// <summary><c>base_lr</c>: peak learning rate outside the image encoder.</summary>
        public double BaseLr { get; set; } = 5.0e-6;
        /// <summary><c>vision_lr</c>: peak learning rate of the image encoder.</summary>
        public double VisionLr { get; set; } = 3.0e-6;
        /// <summary><c>end_lr_factor</c>: the cosine schedule ends at this fraction of the peak.</summary>
        public double EndLrFactor { get; set; } = 0.1;
        /// <summary><c>warmup_steps</c>: linear warm-up length.</summary>
        public long WarmupSteps { get; set; }
        /// <summary><c>weight_decay</c> of AdamW.</summary>
        public double WeightDecay { get; set; } = 0.1;
        /// <summary><c>layer_decay</c>: learning-rate decay per encoder layer.</summary>
        public double LayerDecay { get; set; } = 0.9;
        /// <summary><c>grad_clip</c>: maximum gradient norm.</summary>
        public double GradClip { get; set; } = 0.1;
        /// <summary><c>freeze_image_encoder</c>: train everything but the image encoder.</summary>
        public bool FreezeImageEncoder { get; set; }
    }

    /// <summary>The <c>run:</c> section.</summary>
    public sealed class RunSection
    {
        /// <summary><c>steps</c>: optimiser steps in the run.</summary>
        public long Steps { get; set; } = 1000;
        /// <summary><c>seed</c>: every step's randomness derives from it and the step.</summary>
        public int Seed { get; set; } = 123;
        /// <summary>Save checkpoint.pt and resume.bin every this many steps (and at the end).</summary>
        public long CheckpointEvery { get; set; } = 100;
    }

    /// <summary>Held-out videos tracked from their first frame's masks and scored with J&amp;F during training.</summary>
    public sealed class EvalSection
    {
        /// <summary>The held-out videos, one name a line; evaluation is off without it.</summary>
        public string? FileListTxt { get; set; }
        /// <summary>Default: data.img_folder.</summary>
        public string? ImgFolder { get; set; }
        /// <summary>Default: data.gt_folder.</summary>
        public string? GtFolder { get; set; }
        /// <summary>Evaluate every this many steps, at the end, and once before the first step.</summary>
        public long Every { get; set; } = 500;
    }

    /// <summary>Reads and checks a run YAML; paths become absolute.</summary>
    public static TrainRunConfig Load(string path)
    {
        var events = YamlInput.Open(path, "training config");
        var de = new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).Build();
        TrainRunConfig c;
        try { c = de.Deserialize<TrainRunConfig>(events) ?? new TrainRunConfig(); }
        catch (YamlException e)
        {
            throw new Sam2Exception($"{path}: {e.Start}: {(e.InnerException ?? e).Message}", e);
        }
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string? Abs(string? p) => string.IsNullOrEmpty(p) ? p : Path.GetFullPath(p, dir);
        if (c.Model.Config.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || c.Model.Config.Contains('/'))
            c.Model.Config = Abs(c.Model.Config)!;
        c.Model.Checkpoint = Abs(c.Model.Checkpoint);
        c.Data.ImgFolder = Abs(c.Data.ImgFolder)!;
        c.Data.GtFolder = Abs(c.Data.GtFolder)!;
        c.Data.FileListTxt = Abs(c.Data.FileListTxt);
        c.Eval.FileListTxt = Abs(c.Eval.FileListTxt);
        c.Eval.ImgFolder = Abs(c.Eval.ImgFolder);
        c.Eval.GtFolder = Abs(c.Eval.GtFolder);
        c.Output = Abs(c.Output)!;
        c.Validate(path);
        return c;
    }

    /// <summary>Checks the values together; every problem is listed in one message prefixed by <paramref name="source"/>.</summary>
    /// <exception cref="Sam2Exception">Any value is out of range or inconsistent.</exception>
    public void Validate(string source)
    {
        var errors = new List<string>();
        if (string.IsNullOrEmpty(Model.Config)) errors.Add("model.config is required");
        if (string.IsNullOrEmpty(Output)) errors.Add("output (a folder) is required");
        if (Data.NumFrames < 1) errors.Add("data.num_frames must be at least 1");
        if (Data.MaxNumObjects < 1) errors.Add("data.max_num_objects must be at least 1");
        if (Data.BatchSize < 1) errors.Add("data.batch_size must be at least 1");
        if (Run.Steps < 1) errors.Add("run.steps must be at least 1");
        if (Run.CheckpointEvery < 1) errors.Add("run.checkpoint_every must be at least 1");
        if (Prompts.NumFramesToCorrect < Prompts.NumInitCondFrames) errors.Add("prompts.num_frames_to_correct must be at least prompts.num_init_cond_frames");
        if (Prompts.NumInitCondFrames > Data.NumFrames) errors.Add("prompts.num_init_cond_frames exceeds data.num_frames");
        if (Prompts.NumFramesToCorrect > Data.NumFrames) errors.Add("prompts.num_frames_to_correct exceeds data.num_frames");
        if (Eval.Every < 1) errors.Add("eval.every must be at least 1");
        if (Optim.BaseLr < 0 || Optim.VisionLr < 0) errors.Add("learning rates must not be negative");
        if (errors.Count > 0) throw new Sam2Exception($"{source}: " + string.Join("; ", errors));
    }

    /// <summary>The run's prompt simulation as <see cref="Sam2Train"/>'s training options.</summary>
    public Sam2TrainOptions TrainOptions() => new()
    {
        ProbToUsePtInputForTrain = Prompts.ProbToUsePtInput,
        ProbToUseBoxInputForTrain = Prompts.ProbToUseBoxInput,
        ProbToSampleFromGtForTrain = Prompts.ProbToSampleFromGt,
        NumFramesToCorrectForTrain = Prompts.NumFramesToCorrect,
        RandFramesToCorrectForTrain = Prompts.RandFramesToCorrect,
        NumInitCondFramesForTrain = Prompts.NumInitCondFrames,
        RandInitCondFramesForTrain = Prompts.RandInitCondFrames,
        AddAllFramesToCorrectAsCond = Prompts.AddAllFramesToCorrectAsCond,
        NumCorrectionPtPerFrame = Prompts.NumCorrectionPtPerFrame,
        FreezeImageEncoder = Optim.FreezeImageEncoder,
    };

    /// <summary>The held-out evaluation of the run (its predictions and eval_log.jsonl under output/eval), or null when off.</summary>
    public HeldOutEvaluation? HeldOut() => Eval.FileListTxt is null ? null
        : new HeldOutEvaluation(Eval.ImgFolder ?? Data.ImgFolder, Eval.GtFolder ?? Data.GtFolder, Eval.FileListTxt, Path.Combine(Output, "eval"));

    /// <summary>The run's loss; <paramref name="predObjScores"/> is the model's (whether it predicts object scores).</summary>
    public MultiStepMultiMasksAndIous LossFunction(bool predObjScores) => new(
        new Dictionary<string, double>
        {
            [MultiStepMultiMasksAndIous.LossMask] = Loss.LossMask, [MultiStepMultiMasksAndIous.LossDice] = Loss.LossDice,
            [MultiStepMultiMasksAndIous.LossIou] = Loss.LossIou, [MultiStepMultiMasksAndIous.LossClass] = Loss.LossClass,
        },
        Loss.FocalAlpha, Loss.FocalGamma, Loss.SuperviseAllIou, Loss.IouUseL1Loss, predObjScores, Loss.FocalGammaObjScore, Loss.FocalAlphaObjScore);

    /// <summary>The run's optimiser settings (the others keep their defaults).</summary>
    public OptimizerSettings OptimizerSettings() => new()
    {
        BaseLr = Optim.BaseLr, VisionLr = Optim.VisionLr, EndLrFactor = Optim.EndLrFactor, WarmupSteps = Optim.WarmupSteps,
        WeightDecay = Optim.WeightDecay, LayerDecay = Optim.LayerDecay, GradClipMaxNorm = Optim.GradClip,
    };
}
