using System.Diagnostics;
using System.Text.Json;
using Sam2Sharp.Modeling;
using static TorchSharp.torch;

namespace Sam2Sharp.Training;

/// <summary>What one optimiser step did; <paramref name="Updated"/> is false for a clip with nothing to learn (see <see cref="Sam2Trainer.RunStep"/>).</summary>
public sealed record TrainStepResult(long Step, IReadOnlyDictionary<string, double> Losses, double Lr, double GradNorm, double Seconds, int NumObjects,
    bool Updated = true);

/// <summary>
/// The training loop of a run: per step a batch from the source, SAM2Train's forward, the loss,
/// backward, clipping and AdamW with the scheduled lr; checkpoints in the official layout and a
/// resume file; a JSON-lines log. Each step's randomness derives from (seed, step) so a resumed run
/// continues as the uninterrupted one would.
/// </summary>
public sealed class Sam2Trainer : IDisposable
{
    /// <summary>The run's settings.</summary>
    public TrainRunConfig Config { get; }
    /// <summary>The model being trained (train mode).</summary>
    public Sam2Base Model { get; }
    /// <summary>AdamW with the run's parameter groups and schedules.</summary>
    public TrainOptimizer Optimizer { get; }
    /// <summary>The training loss (SAM2Train's MultiStepMultiMasksAndIous).</summary>
    public MultiStepMultiMasksAndIous Loss { get; }
    /// <summary>Steps done so far.</summary>
    public long Step { get; private set; }
    /// <summary>The step that checkpoint.pt and resume.bin hold (a resumed run's starting step), null before the first save.</summary>
    public long? CheckpointStep { get; private set; }
    /// <summary>The model checkpoint in the official layout, in the output folder.</summary>
    public string CheckpointPath => Path.Combine(Config.Output, "checkpoint.pt");
    /// <summary>The optimiser and step state a resumed run continues from.</summary>
    public string ResumePath => Path.Combine(Config.Output, "resume.bin");
    /// <summary>One JSON line per step (losses, lr, gradient norm, time).</summary>
    public string LogPath => Path.Combine(Config.Output, "train_log.jsonl");
    readonly IVosBatchSource source;

    /// <summary>Builds the model (from the starting checkpoint, or from the run's own checkpoint when resuming) and the optimiser.</summary>
    public Sam2Trainer(TrainRunConfig config, IVosBatchSource source, bool resume)
    {
        Config = config;
        this.source = source;
        Directory.CreateDirectory(config.Output);
        bool canResume = File.Exists(CheckpointPath) && File.Exists(ResumePath);
        if (resume && !canResume) throw new Sam2Exception($"nothing to resume in {config.Output} (needs checkpoint.pt and resume.bin)");
        if (!resume && (canResume || File.Exists(LogPath)))
            throw new Sam2Exception($"{config.Output} already holds a run; resume it (resume: true) or choose another output folder");
        // As the reference's training, the config as written (no inference post-processing).
        Model = Sam2Builder.Load(config.Model.Config, resume ? CheckpointPath : config.Model.Checkpoint, new Sam2ModelOptions
        {
            ApplyPostprocessing = false,
            ConfigOverrides = c => config.Model.DropPathRate is double dp ? c with { ImageEncoder = c.ImageEncoder with { Trunk = c.ImageEncoder.Trunk with { DropPathRate = dp } } } : c,
        });
        Model.train();
        // Freezing happens in Sam2Train's constructor, before the optimiser collects the trainable parameters.
        _ = new Sam2Train(Model, config.TrainOptions());
        Optimizer = OptimizerFactory.Create(Model, config.OptimizerSettings(), config.Run.Steps);
        Loss = config.LossFunction(Model.Config.PredObjScores);
        if (resume)
        {
            var st = TrainCheckpoint.LoadResume(ResumePath, Optimizer);
            if (st.Seed != config.Run.Seed) throw new Sam2Exception($"the run was started with seed {st.Seed}, the config now says {config.Run.Seed}");
            Step = st.Step;
            CheckpointStep = Step;
            TrimLog(LogPath, Step);
        }
    }

    /// <summary>Drops the lines of a JSON-lines log from <paramref name="step"/> on (done after the checkpoint a run
    /// resumes from, before an interruption; they are redone).</summary>
    public static void TrimLog(string path, long step)
    {
        if (!File.Exists(path)) return;
        var keep = File.ReadAllLines(path).Where(l =>
        {
            if (string.IsNullOrWhiteSpace(l)) return false;
            try { return JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt64() < step; }
            catch (JsonException) { return false; }
        }).ToList();
        File.WriteAllLines(path, keep);
    }

    /// <summary>Whether every step of the run is done.</summary>
    public bool Done => Step >= Config.Run.Steps;

    /// <summary>
    /// One optimiser step; appends its line to the log. A clip whose every frame was prompted with its mask takes the mask
    /// as its output (SAM 2's <c>use_mask_input_as_output_without_sam</c>), so its loss depends on no weight (likely when
    /// <c>data.num_frames</c> is at most <c>prompts.num_init_cond_frames</c>): that step is logged with
    /// <c>"updated": false</c> and changes nothing, where the reference's backward pass fails.
    /// </summary>
    public TrainStepResult RunStep()
    {
        var watch = Stopwatch.StartNew();
        using var pause = GcPause.Start();
        using var scope = NewDisposeScope();
        var (rng, trng) = TrainCheckpoint.SeedStep(Config.Run.Seed, Step);
        using var loaded = source.Next(Step, rng);
        using var batch = loaded.To(Model.Device);
        if (batch.ImgBatch.shape[^1] != Model.ImageSize || batch.ImgBatch.shape[^2] != Model.ImageSize)
            throw new Sam2Exception($"the data gives {batch.ImgBatch.shape[^2]}×{batch.ImgBatch.shape[^1]} frames, the model takes {Model.ImageSize}×{Model.ImageSize}");
        var train = new Sam2Train(Model, Config.TrainOptions() with { FreezeImageEncoder = false }, rng, trng);
        Optimizer.ZeroGrad();
        var outs = train.Forward(batch);
        var losses = Loss.Forward(outs, batch.Masks);
        var core = losses[MultiStepMultiMasksAndIous.CoreLoss];
        if (!double.IsFinite(core.item<float>())) throw new Sam2Exception($"step {Step}: the loss is {core.item<float>()}");
        bool updated = core.requires_grad;
        if (updated) core.backward();
        double lr = Optimizer.CurrentLr(Step);
        double gradNorm = updated ? Optimizer.Step(Step) : 0;
        var values = losses.ToDictionary(kv => kv.Key, kv => (double)kv.Value.item<float>());
        var result = new TrainStepResult(Step, values, lr, gradNorm, watch.Elapsed.TotalSeconds, (int)batch.Masks.shape[1], updated);
        Step++;
        TrainLog.Append(LogPath, new TrainLogEntry(result.Step, lr, gradNorm, Math.Round(result.Seconds, 3), result.NumObjects, updated, values));
        return result;
    }

    /// <summary>
    /// Runs the remaining steps: a checkpoint every <c>run.checkpoint_every</c> steps and at the end, and with
    /// <paramref name="heldOut"/> its J&amp;F before the first step, every <c>eval.every</c> steps and at the end (a
    /// resumed run redoes what came after its checkpoint). <paramref name="progress"/> is told after each step
    /// (<see cref="Sam2Progress.Item"/>: its loss, learning rate and speed) and of each held-out result
    /// (<see cref="Sam2Progress.Message"/>). Cancellation is checked between steps and in held-out evaluation: the steps done since
    /// the last checkpoint are saved first, so that a resumed run (<c>resume</c>) continues from them.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public void Run(HeldOutEvaluation? heldOut = null, IProgress<Sam2Progress>? progress = null, CancellationToken cancellationToken = default)
    {
        double lastLoss = double.NaN;
        var at = new Sam2Progress(Step, Config.Run.Steps, "steps");
        void EvaluateIfDue()
        {
            if (heldOut is null || (Step % Config.Eval.Every != 0 && !Done)) return;
            var r = heldOut.Evaluate(Model, Step, cancellationToken);
            progress?.Report(at with { Message = FormattableString.Invariant($"held-out J&F at step {r.Step}: {r.JF:F1} (J {r.J:F1}, F {r.F:F1}; {r.Videos} videos)") });
        }
        if (heldOut is not null && Step > 0) TrimLog(heldOut.LogPath, Step); // resumed: its results after the checkpoint are redone
        try
        {
            EvaluateIfDue();
            while (!Done)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var r = RunStep();
                lastLoss = r.Losses[MultiStepMultiMasksAndIous.CoreLoss];
                progress?.Report(at = at with { Done = Step, Item = Describe(r) });
                if (Step % Config.Run.CheckpointEvery == 0 || Done) SaveCheckpoint(lastLoss);
                EvaluateIfDue();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (Step > (CheckpointStep ?? 0)) SaveCheckpoint(lastLoss);
            throw;
        }
        if (!File.Exists(CheckpointPath)) SaveCheckpoint(lastLoss);
    }

    static string Describe(TrainStepResult r) =>
        FormattableString.Invariant($"loss {r.Losses[MultiStepMultiMasksAndIous.CoreLoss]:F4} lr {r.Lr:G3} {(r.Seconds > 0 ? 1 / r.Seconds : 0):F2} it/s{(r.Updated ? "" : " (every frame given its mask: no update)")}");

    /// <summary>Writes checkpoint.pt (official layout) and resume.bin.</summary>
    public void SaveCheckpoint(double lastLoss)
    {
        Checkpoint.Save(Model, CheckpointPath);
        TrainCheckpoint.SaveResume(ResumePath, new ResumeState
        {
            Step = Step, TotalSteps = Config.Run.Steps, Seed = Config.Run.Seed, ConfigPath = Config.Model.Config, LastLoss = lastLoss,
        }, Optimizer);
        CheckpointStep = Step;
    }

    /// <summary>Frees the optimiser and the model.</summary>
    public void Dispose()
    {
        Optimizer.Dispose();
        Model.Dispose();
    }
}
