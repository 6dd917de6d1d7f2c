using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Sam2Sharp.Evaluation;
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
            string name = r.GetValue(key)!;
            var points = ReadLoss(r.GetValue(log)!, name);
            Draw(points, name, w, r.GetValue(yMax), r.GetValue(output)!);
            Console.WriteLine(FormattableString.Invariant(
                $"{points.Count} steps, {name} first {points[0].Loss:F4}, mean of the last {Math.Min(w, points.Count)} {points.TakeLast(w).Average(p => p.Loss):F4}; saved {r.GetValue(output)}"));
            return 0;
        }));
        return cmd;
    }

    /// <summary>(step, loss) per line of the log, in file order; the step is 1-based as `sam2 train` prints it.</summary>
    public static List<(long Step, double Loss)> ReadLoss(string path, string name)
    {
        if (!File.Exists(path)) throw new Sam2Exception($"training log not found: {path}");
        var points = new List<(long, double)>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                if (!root.TryGetProperty("step", out var step) || !root.TryGetProperty("losses", out var losses))
                    throw new Sam2Exception($"{path}:{lineNo}: no \"step\" or \"losses\"");
                if (!losses.TryGetProperty(name, out var v))
                    throw new Sam2Exception($"{path}:{lineNo}: no loss named {name} (have {string.Join(", ", losses.EnumerateObject().Select(p => p.Name))})");
                points.Add((step.GetInt64() + 1, v.GetDouble()));
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
            {
                throw new Sam2Exception($"{path}:{lineNo}: not JSON: {e.Message}", e);
            }
        }
        if (points.Count == 0) throw new Sam2Exception($"{path}: no steps logged");
        return points;
    }

    static void Draw(List<(long Step, double Loss)> points, string name, int window, double? yMax, string output)
    {
        var avg = new List<(double, double)>(points.Count);
        double sum = 0;
        for (int i = 0; i < points.Count; i++)
        {
            sum += points[i].Loss;
            if (i >= window) sum -= points[i - window].Loss;
            avg.Add((points[i].Step, sum / Math.Min(i + 1, window)));
        }
        var sorted = points.Select(p => p.Loss).Where(double.IsFinite).Order().ToList();
        double top = yMax ?? Math.Max(sorted.Count == 0 ? 1 : sorted[(int)Math.Floor(0.98 * (sorted.Count - 1))], avg.Max(a => a.Item2)) * 1.05;
        if (!(top > 0)) throw new Sam2Exception("--y-max must be above 0");
        var yTicks = LineChart.NiceTicks(0, top).ToList();
        if (yTicks.Count > 1 && yTicks[^1] < top) yTicks.Add(yTicks[^1] + (yTicks[1] - yTicks[0]));
        double xMin = points[0].Step, xMax = Math.Max(points[^1].Step, xMin + 1);
        new LineChart
        {
            Title = FormattableString.Invariant($"{name} per training step ({points.Count} steps)"),
            XLabel = "step", YLabel = name,
            XMin = xMin, XMax = xMax, YMin = 0, YMax = yTicks[^1],
            XTicks = LineChart.NiceTicks(xMin, xMax).ToList(), YTicks = yTicks,
            YTickFormat = yTicks[^1] >= 10 ? "0" : "0.##",
            Series =
            [
                new LineSeries(points.Select(p => ((double)p.Step, p.Loss)).ToList(), LineChart.Blue.WithAlpha(110), 1.2f, Label: name),
                new LineSeries(avg, LineChart.Orange, 2.5f, Label: string.Create(CultureInfo.InvariantCulture, $"moving average ({window} steps)")),
            ],
        }.Save(output);
    }
}
