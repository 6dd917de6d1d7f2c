using System.Globalization;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Evaluation;
using SkiaSharp;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary><c>sam2 plot-loss</c> on a small hand-written train_log.jsonl, and the chart's tick arithmetic.</summary>
public class PlotLossCommandTests
{
    static string LogLine(int step, double core) => string.Create(CultureInfo.InvariantCulture,
        $"{{\"step\":{step},\"lr\":0.001,\"grad_norm\":1.5,\"seconds\":0.5,\"num_objects\":2,\"losses\":{{\"loss_mask\":0.1,\"loss_dice\":0.5,\"loss_iou\":0.2,\"loss_class\":0.1,\"core_loss\":{core}}}}}");

    [Fact]
    public void WritesAPngWithTheLossAndItsMovingAverage()
    {
        var dir = TestCli.TempDir("sam2-plotloss-");
        try
        {
            var log = Path.Combine(dir, "train_log.jsonl");
            // A falling loss with one spike far above the rest.
            File.WriteAllLines(log, Enumerable.Range(0, 40).Select(i => LogLine(i, i == 5 ? 300 : 20.0 * Math.Exp(-i / 15.0) + 2)));
            var png = Path.Combine(dir, "loss.png");
            int code = TestCli.Run(PlotLossCommand.Create(), "plot-loss", "--log", log, "--output", png, "--window", "5");
            Assert.Equal(0, code);
            using var bmp = SKBitmap.Decode(png);
            Assert.NotNull(bmp);
            Assert.Equal(720, bmp.Width);
            Assert.Equal(440, bmp.Height);
            // The moving average is drawn in orange, the raw loss in (translucent) blue.
            var pixels = bmp.Pixels;
            Assert.Contains(pixels, p => p.Red > 230 && p.Green is > 100 and < 150 && p.Blue < 60);
            Assert.Contains(pixels, p => p.Blue > 150 && p.Red < 150);

            var points = Sam2Sharp.Training.TrainLog.ReadLoss(log, "core_loss");
            Assert.Equal(40, points.Count);
            Assert.Equal(1, points[0].Step);
            Assert.Equal(22.0, points[0].Loss, 12);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void RefusesALogWithoutThatLoss()
    {
        var dir = TestCli.TempDir("sam2-plotloss-");
        try
        {
            var log = Path.Combine(dir, "train_log.jsonl");
            File.WriteAllLines(log, [LogLine(0, 3)]);
            var (code, err) = TestCli.RunCapturingErrors(PlotLossCommand.Create(), "plot-loss", "--log", log, "--output", Path.Combine(dir, "x.png"), "--loss", "nope");
            Assert.Equal(1, code);
            Assert.Contains("no loss named nope", err);
            Assert.False(File.Exists(Path.Combine(dir, "x.png")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void NiceTicksAreRoundAndCoverTheRange()
    {
        Assert.Equal([0.0, 5, 10, 15, 20, 25], LineChart.NiceTicks(0, 27));
        Assert.Equal([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], LineChart.NiceTicks(0, 1, 5));
        Assert.Equal([50.0, 100, 150, 200], LineChart.NiceTicks(1, 200));
    }
}

/// <summary>train_log.jsonl as the trainer writes and the plot reads it.</summary>
public class TrainLogTests
{
    [Fact]
    public void WhatTheTrainerAppendsIsReadBack()
    {
        var dir = TestCli.TempDir("sam2-trainlog-");
        try
        {
            var log = Path.Combine(dir, "train_log.jsonl");
            for (int i = 0; i < 3; i++)
                Sam2Sharp.Training.TrainLog.Append(log, new(i, 1e-3, 0.5, 1.25, 2, i != 1,
                    new Dictionary<string, double> { ["core_loss"] = 3 - i, ["loss_mask"] = 0.25 }));
            Assert.Contains("\"updated\":false", File.ReadLines(log).ElementAt(1));
            var points = Sam2Sharp.Training.TrainLog.ReadLoss(log, "core_loss");
            Assert.Equal([(1L, 3.0), (2L, 2.0), (3L, 1.0)], points);
            Assert.Equal([(1L, 3.0), (2L, 2.5), (3L, 1.5)], Sam2Sharp.Training.TrainLog.MovingAverage(points, 2));
            File.AppendAllText(log, "{\"lr\":0.1}\n");
            var e = Assert.Throws<Sam2Exception>(() => Sam2Sharp.Training.TrainLog.ReadLoss(log, "core_loss"));
            Assert.Equal($"{log}:4: no \"step\" or \"losses\"", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
