using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Sam2Sharp.Evaluation;

namespace Sam2Sharp.Training;

/// <summary>One line of train_log.jsonl: what <see cref="Sam2Trainer"/> records of a step.</summary>
/// <param name="Step">The step, 0-based.</param>
/// <param name="Lr">The learning rate of the step.</param>
/// <param name="GradNorm">The gradient norm before clipping (0 when no weight was updated).</param>
/// <param name="Seconds">Wall time of the step.</param>
/// <param name="NumObjects">Objects in the step's clip.</param>
/// <param name="Updated">Whether the weights changed (false when the loss had no gradient, see <see cref="TrainStepResult"/>); absent in older logs.</param>
/// <param name="Losses">Every loss of <see cref="MultiStepMultiMasksAndIous"/> by name.</param>
public sealed record TrainLogEntry(
    [property: JsonPropertyName("step")] long? Step,
    [property: JsonPropertyName("lr")] double Lr,
    [property: JsonPropertyName("grad_norm")] double GradNorm,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("num_objects")] int NumObjects,
    [property: JsonPropertyName("updated")] bool? Updated,
    [property: JsonPropertyName("losses")] IReadOnlyDictionary<string, double>? Losses);

/// <summary>train_log.jsonl, written a line per step by <see cref="Sam2Trainer"/>, and the loss curve drawn from it.</summary>
public static class TrainLog
{
    /// <summary>Appends one step's line.</summary>
    public static void Append(string path, TrainLogEntry entry) => File.AppendAllText(path, JsonSerializer.Serialize(entry) + "\n");

    /// <summary>(step, loss) per line of the log in file order, the step 1-based as <c>sam2 train</c> prints it.</summary>
    /// <exception cref="Sam2Exception">The file is missing, a line is not such an entry, or it has no loss named <paramref name="loss"/>.</exception>
    public static IReadOnlyList<(long Step, double Loss)> ReadLoss(string path, string loss)
    {
        if (!File.Exists(path)) throw new Sam2Exception($"training log not found: {path}");
        var points = new List<(long, double)>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            TrainLogEntry? e;
            try { e = JsonSerializer.Deserialize<TrainLogEntry>(line); }
            catch (JsonException x) { throw new Sam2Exception($"{path}:{lineNo}: not a training log line: {x.Message}", x); }
            if (e?.Step is not { } step || e.Losses is not { } losses) throw new Sam2Exception($"{path}:{lineNo}: no \"step\" or \"losses\"");
            if (!losses.TryGetValue(loss, out var v))
                throw new Sam2Exception($"{path}:{lineNo}: no loss named {loss} (have {string.Join(", ", losses.Keys)})");
            points.Add((step + 1, v));
        }
        if (points.Count == 0) throw new Sam2Exception($"{path}: no steps logged");
        return points;
    }

    /// <summary>The trailing moving average over <paramref name="window"/> steps, at each step.</summary>
    public static IReadOnlyList<(long Step, double Loss)> MovingAverage(IReadOnlyList<(long Step, double Loss)> points, int window)
    {
        if (window < 1) throw new ArgumentOutOfRangeException(nameof(window), "the window must be at least 1 step");
        var avg = new List<(long, double)>(points.Count);
        double sum = 0;
        for (int i = 0; i < points.Count; i++)
        {
            sum += points[i].Loss;
            if (i >= window) sum -= points[i - window].Loss;
            avg.Add((points[i].Step, sum / Math.Min(i + 1, window)));
        }
        return avg;
    }

    /// <summary>
    /// The loss per step and its moving average as a PNG line chart; the loss axis tops at <paramref name="yMax"/>, or a
    /// little above the 98th percentile so that rare spikes do not flatten the curve.
    /// </summary>
    /// <exception cref="Sam2Exception"><paramref name="yMax"/> is not above 0, or the file cannot be written.</exception>
    public static void DrawLoss(IReadOnlyList<(long Step, double Loss)> points, string loss, int window, double? yMax, string path)
    {
        var avg = MovingAverage(points, window);
        var sorted = points.Select(p => p.Loss).Where(double.IsFinite).Order().ToList();
        double top = yMax ?? Math.Max(sorted.Count == 0 ? 1 : sorted[(int)Math.Floor(0.98 * (sorted.Count - 1))], avg.Max(a => a.Loss)) * 1.05;
        if (!(top > 0)) throw new Sam2Exception("the top of the loss axis must be above 0");
        var yTicks = LineChart.NiceTicks(0, top).ToList();
        if (yTicks.Count > 1 && yTicks[^1] < top) yTicks.Add(yTicks[^1] + (yTicks[1] - yTicks[0]));
        double xMin = points[0].Step, xMax = Math.Max(points[^1].Step, xMin + 1);
        new LineChart
        {
            Title = FormattableString.Invariant($"{loss} per training step ({points.Count} steps)"),
            XLabel = "step", YLabel = loss,
            XMin = xMin, XMax = xMax, YMin = 0, YMax = yTicks[^1],
            XTicks = LineChart.NiceTicks(xMin, xMax).ToList(), YTicks = yTicks,
            YTickFormat = yTicks[^1] >= 10 ? "0" : "0.##",
            Series =
            [
                new LineSeries(points.Select(p => ((double)p.Step, p.Loss)).ToList(), LineChart.Blue.WithAlpha(110), 1.2f, Label: loss),
                new LineSeries(avg.Select(p => ((double)p.Step, p.Loss)).ToList(), LineChart.Orange, 2.5f,
                    Label: string.Create(CultureInfo.InvariantCulture, $"moving average ({window} steps)")),
            ],
        }.Save(path);
    }
}
