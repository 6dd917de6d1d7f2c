using System.CommandLine;
using Sam2Sharp.Training;
using Spectre.Console;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 train</c>: fine-tunes SAM 2 on a VOS dataset as the official training does, from a run YAML of ours.</summary>
public static class TrainCommand
{
    /// <summary>Opens the run's dataset as batches of frames at the given model resolution.</summary>
    public delegate IVosBatchSource DatasetOpener(TrainRunConfig config, int resolution);

    /// <summary>
    /// The run's VOS dataset (DAVIS or SA-V layout under data.img_folder / data.gt_folder, optionally a
    /// file list), validated before training starts, sampled and augmented as the reference does.
    /// </summary>
    public static IVosBatchSource OpenVosDataset(TrainRunConfig config, int resolution)
    {
        var d = config.Data;
        var raw = VosRawDataset.Open(d.ImgFolder, d.GtFolder, new VosRawDatasetOptions { FileList = d.FileListTxt });
        var sampler = new VosSampler(d.NumFrames, d.MaxNumObjects, d.ReverseTimeProb);
        var transforms = d.Augment ? VosTransforms.Train(resolution) : VosTransforms.Eval(resolution);
        return new VosDataset(raw, sampler, transforms, d.BatchSize, d.Multiplier, config.Run.Seed);
    }

    public static Command Create(DatasetOpener openDataset)
    {
        var config = new Option<string>("--config", "-c")
        {
            Description = "Training run YAML: model (config, checkpoint), data (img_folder, gt_folder, num_frames, max_num_objects, batch_size), prompts, loss, optim (base_lr, vision_lr, warmup_steps, …), run (steps, seed, checkpoint_every), eval (file_list_txt, every: held-out J&F), output",
            Required = true,
        };
        var resume = new Option<bool>("--resume")
        {
            Description = "Continue the run saved in the output folder (checkpoint.pt, resume.bin)",
        };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress display; only where the checkpoint is saved" };
        var cmd = new Command("train", "Train or fine-tune SAM 2 on video object segmentation data; writes checkpoint.pt (official layout), resume.bin and train_log.jsonl into the output folder");
        cmd.Options.Add(config);
        cmd.Options.Add(resume);
        cmd.Options.Add(quiet);
        var model = new Option<string?>("--model") { Description = "Starting weights by name (an official checkpoint, `sam2 models list`), fetched into the cache; instead of model.checkpoint in the YAML." };
        var hub = new HubOptions();
        cmd.Options.Add(model);
        hub.AddTo(cmd);
        cmd.SetAction(pr => Cli.Run(() =>
        {
            var cfg = TrainRunConfig.Load(pr.GetValue(config)!);
            if (pr.GetValue(model) is { } name)
            {
                if (cfg.Model.Checkpoint is not null) throw new Sam2Exception($"{pr.GetValue(config)}: model.checkpoint is given, and so is --model {name}: keep one");
                cfg.Model.Checkpoint = hub.Resolve(pr, name).CheckpointPath;
            }
            return Execute(cfg, openDataset, pr.GetValue(resume), pr.GetValue(quiet));
        }));
        return cmd;
    }

    static int Execute(TrainRunConfig cfg, DatasetOpener openDataset, bool resume, bool quiet)
    {
        var modelConfig = Config.ConfigLoader.Load(cfg.Model.Config);
        var source = openDataset(cfg, modelConfig.ImageSize);
        var heldOut = cfg.HeldOut();
        using var trainer = new Sam2Trainer(cfg, source, resume);
        if (!quiet && resume) Console.WriteLine($"Resuming at step {trainer.Step} of {cfg.Run.Steps}");
        bool interactive = !quiet && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        double lastLoss = double.NaN;
        void Save() => trainer.SaveCheckpoint(lastLoss);
        // Before the first step, every eval.every steps and at the end; a resumed run redoes what came after its checkpoint.
        void EvaluateIfDue()
        {
            if (heldOut is null || (trainer.Step % cfg.Eval.Every != 0 && !trainer.Done)) return;
            var r = heldOut.Evaluate(trainer.Model, trainer.Step);
            var line = FormattableString.Invariant($"held-out J&F at step {r.Step}: {r.JF:F1} (J {r.J:F1}, F {r.F:F1}; {r.Videos} videos)");
            if (interactive) AnsiConsole.WriteLine(line);
            else if (!quiet) Console.WriteLine(line);
        }
        void StepOnce(Action<TrainStepResult> report)
        {
            var r = trainer.RunStep();
            lastLoss = r.Losses[MultiStepMultiMasksAndIous.CoreLoss];
            report(r);
            if (trainer.Step % cfg.Run.CheckpointEvery == 0 || trainer.Done) Save();
            EvaluateIfDue();
        }
        if (heldOut is not null)
        {
            if (resume) Sam2Trainer.TrimLog(heldOut.LogPath, trainer.Step);
            EvaluateIfDue();
        }

        if (interactive)
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: cfg.Run.Steps);
                    task.Value = trainer.Step;
                    while (!trainer.Done)
                        StepOnce(r =>
                        {
                            task.Description = Describe(r);
                            task.Value = trainer.Step;
                        });
                });
        }
        else
        {
            while (!trainer.Done)
                StepOnce(r =>
                {
                    if (!quiet) Console.WriteLine($"step {r.Step + 1}/{cfg.Run.Steps} {Describe(r)}");
                });
        }
        if (!File.Exists(trainer.CheckpointPath)) Save();
        Console.WriteLine($"Saved the model to {trainer.CheckpointPath} (log: {trainer.LogPath})");
        return 0;
    }

    static string Describe(TrainStepResult r) =>
        FormattableString.Invariant($"loss {r.Losses[MultiStepMultiMasksAndIous.CoreLoss]:F4} lr {r.Lr:G3} {(r.Seconds > 0 ? 1 / r.Seconds : 0):F2} it/s");
}
