using System.CommandLine;
using Sam2Sharp.Training;

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
        cmd.SetAction((pr, ct) =>
        {
            Sam2Trainer? trainer = null; // what a cancelled run saved is told from it
            return Cli.Run(() =>
            {
                var cfg = TrainRunConfig.Load(pr.GetValue(config)!);
                if (pr.GetValue(model) is { } name)
                {
                    if (cfg.Model.Checkpoint is not null) throw new Sam2Exception($"{pr.GetValue(config)}: model.checkpoint is given, and so is --model {name}: keep one");
                    cfg.Model.Checkpoint = hub.Resolve(pr, name).CheckpointPath;
                }
                return Execute(cfg, openDataset, pr.GetValue(resume), pr.GetValue(quiet), t => trainer = t, ct);
            }, ct, () => trainer?.CheckpointStep is { } step
                ? $"{trainer.CheckpointPath} holds step {step} of {trainer.Config.Run.Steps}; continue with --resume"
                : "no step was done, nothing was saved");
        });
        return cmd;
    }

    static int Execute(TrainRunConfig cfg, DatasetOpener openDataset, bool resume, bool quiet, Action<Sam2Trainer> started, CancellationToken ct)
    {
        var modelConfig = Config.ConfigLoader.Load(cfg.Model.Config);
        var source = openDataset(cfg, modelConfig.ImageSize);
        var heldOut = cfg.HeldOut();
        using var trainer = new Sam2Trainer(cfg, source, resume);
        started(trainer);
        if (!quiet && resume) Console.WriteLine($"Resuming at step {trainer.Step} of {cfg.Run.Steps}");
        ProgressDisplay.Run("training", quiet, progress => trainer.Run(heldOut, progress, ct));
        Console.WriteLine($"Saved the model to {trainer.CheckpointPath} (log: {trainer.LogPath})");
        return 0;
    }
}
