using System.CommandLine;
using System.Diagnostics;
using Sam2Sharp.Evaluation;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 eval</c>: the SA-V / DAVIS J&amp;F benchmark of predicted masks against ground truth.</summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var gtRoot = new Option<string>("--gt-root")
        {
            Description = "Ground-truth folder: <video>/<frame>.png (DAVIS, palette PNGs) or <video>/<object>/<frame>.png (SA-V, e.g. sav_val/Annotations_6fps)",
            Required = true,
        };
        var predRoot = new Option<string>("--pred-root")
        {
            Description = "Folder of predicted masks in the same layout as --gt-root; results.csv is written here",
            Required = true,
        };
        var skip = new Option<bool>("--skip-first-and-last")
        {
            Description = "true|false: leave the first and last frame of each video out (default true, standard for semi-supervised VOS and SA-V val/test)",
            DefaultValueFactory = _ => true,
        };
        var strict = new Option<bool>("--strict", "-s")
        {
            Description = "true|false: every ground-truth video must have a prediction folder and vice versa (default false: a video without a prediction folder, or whose prediction lacks a frame or object, is skipped and named in the output and the summary)",
            DefaultValueFactory = _ => false,
        };
        var workers = new Option<int>("--num-workers", "-n")
        {
            Description = "Videos evaluated at once (0 = one per core)",
            DefaultValueFactory = _ => 0,
        };
        var quiet = new Option<bool>("--quiet", "-q")
        {
            Description = "Print only where the results are saved",
        };

        var batch = new BatchOptions();
        var cmd = new Command("eval", "Evaluate video object segmentation masks (J&F) like the SA-V benchmark; writes results.csv into the prediction folder. " +
            "With --shard (or in a Slurm/Kubernetes array task) it scores only its shard of the videos, one score file per video in <pred-root>/.sam2-eval, " +
            "resumable; `sam2 cluster merge` then gives the one J&F over all videos");
        batch.AddTo(cmd);
        cmd.Options.Add(gtRoot);
        cmd.Options.Add(predRoot);
        cmd.Options.Add(skip);
        cmd.Options.Add(strict);
        cmd.Options.Add(workers);
        cmd.Options.Add(quiet);
        cmd.SetAction((pr, ct) => Cli.Run(() =>
        {
            var gt = pr.GetValue(gtRoot)!;
            var pred = pr.GetValue(predRoot)!;
            bool isQuiet = pr.GetValue(quiet);
            int n = pr.GetValue(workers);
            if (n < 0) throw new Sam2Exception("--num-workers must be 0 (one per core) or more");
            var options = new VosBenchmarkOptions
            {
                SkipFirstAndLast = pr.GetValue(skip),
                Strict = pr.GetValue(strict),
                MaxDegreeOfParallelism = n == 0 ? Environment.ProcessorCount : n,
            };
            return batch.Requested(pr) is { } shard ? ExecuteShard(gt, pred, options, shard, isQuiet, ct) : Execute(gt, pred, options, isQuiet, ct);
        }, ct));
        return cmd;
    }

    static string SkipList(VosBenchmarkPlan plan) =>
        string.Join(", ", plan.SkippedVideos.Select(v => plan.SkipReasons.TryGetValue(v, out var why) ? $"{v} ({why})" : v));

    /// <summary>One shard's videos scored into their score files (the plan, and so the split, is the same in every task).</summary>
    static int ExecuteShard(string gtRoot, string predRoot, VosBenchmarkOptions options, Sam2Sharp.Batch.Shard shard, bool quiet, CancellationToken cancellationToken)
    {
        var plan = VosBenchmark.Plan(gtRoot, predRoot, options.Strict, options.SkipFirstAndLast);
        if (plan.SkippedVideos.Count > 0)
            Console.WriteLine($"Not in the score ({plan.SkippedVideos.Count} of {plan.SkippedVideos.Count + plan.Videos.Count} videos): {SkipList(plan)}");
        var runner = VosScoreFiles.OpenBatch(plan, shard);
        if (!quiet) Console.WriteLine($"Shard {shard}: evaluating {runner.Items.Count} of {plan.Videos.Count} videos: {string.Join(", ", runner.Items)}");
        var report = ProgressDisplay.Run("videos", quiet, progress => VosScoreFiles.Run(plan, options, runner, progress, cancellationToken));
        return BatchOptions.Finish(report, "videos", runner.OutputRoot, quiet);
    }

    static int Execute(string gtRoot, string predRoot, VosBenchmarkOptions options, bool quiet, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        if (!quiet)
            Console.WriteLine(options.SkipFirstAndLast
                ? "Skipping the first and the last frame of each video (standard for semi-supervised video object segmentation)."
                : "NOT skipping the first and the last frame (not standard for semi-supervised video object segmentation).");
        var plan = VosBenchmark.Plan(gtRoot, predRoot, options.Strict, options.SkipFirstAndLast);
        if (!quiet)
        {
            if (plan.SkippedVideos.Count > 0)
                Console.WriteLine($"Skipping {plan.SkippedVideos.Count} videos without complete predictions: {SkipList(plan)}");
            Console.WriteLine($"In dataset {plan.GtRoot}, evaluating {plan.Videos.Count} videos: {string.Join(", ", plan.Videos)}");
        }

        var result = ProgressDisplay.Run("videos", quiet, progress => VosBenchmark.Run(plan, options, progress, cancellationToken));

        if (!quiet)
        {
            Console.Write(result.ToText());
            Console.WriteLine();
            Console.WriteLine("Summary:");
            Console.WriteLine($"Global score: J&F: {VosBenchmarkResult.FormatOneDecimal(result.GlobalJF)} J: {VosBenchmarkResult.FormatOneDecimal(result.GlobalJ)} F: {VosBenchmarkResult.FormatOneDecimal(result.GlobalF)}");
            Console.WriteLine($"Time taken: {watch.Elapsed.TotalSeconds:F2}s");
        }
        // Even when quiet: a video left out of the score is always named.
        if (plan.SkippedVideos.Count > 0)
            Console.WriteLine($"Not in the score ({plan.SkippedVideos.Count} of {plan.SkippedVideos.Count + plan.Videos.Count} videos): {SkipList(plan)}");
        // Like the reference: results.csv in the prediction folder, replaced if present, and always say where.
        var csv = Path.Combine(plan.PredRoot, "results.csv");
        Console.WriteLine($"Saving the results to {csv}");
        result.WriteCsv(csv);
        return 0;
    }
}
