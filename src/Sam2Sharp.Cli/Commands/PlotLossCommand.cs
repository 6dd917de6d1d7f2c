using System.CommandLine;
using Sam2Sharp.Training;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 plot-loss</c>: the loss per training step from train_log.jsonl, with a moving average, as a PNG.</summary>
public static class PlotLossCommand
{
    public static Command Create()
    {
        var log = new Option<string>("--log") { Description = "train_log.jsonl written by `sam2 train`", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "PNG file to write", Required = true };
        var key = new Option<string>("--loss") { Description = "Which loss to draw (core_loss, loss_mask, loss_dice, loss_iou, loss_class)", DefaultValueFactory = _ => MultiStepMultiMasksAndIous.CoreLoss };
        var window = new Option<int>("--window") { Description = "Steps in the trailing moving average", DefaultValueFactory = _ => 20 };
        var yMax = new Option<double?>("--y-max") { Description = "Top of the loss axis (default: a little above the 98th percentile, so rare spikes do not flatten the curve)" };
        var cmd = new Command("plot-loss", "Draw the training loss per step (and its moving average) from a train_log.jsonl as a PNG");
        foreach (var o in new Option[] { log, output, key, window, yMax }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(() =>
        {
            int w = r.GetValue(window);
            if (w < 1) throw new Sam2Exception("--window must be at least 1");
            if (r.GetValue(yMax) is <= 0) throw new Sam2Exception("--y-max must be above 0");
            string name = r.GetValue(key)!;
            var points = TrainLog.ReadLoss(r.GetValue(log)!, name);
            TrainLog.DrawLoss(points, name, w, r.GetValue(yMax), r.GetValue(output)!);
            Console.WriteLine(FormattableString.Invariant(
                $"{points.Count} steps, {name} first {points[0].Loss:F4}, mean of the last {Math.Min(w, points.Count)} {points.TakeLast(w).Average(p => p.Loss):F4}; saved {r.GetValue(output)}"));
            return 0;
        }));
        return cmd;
    }
}
