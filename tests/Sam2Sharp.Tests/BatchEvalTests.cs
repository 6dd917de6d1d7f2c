using Sam2Sharp.Batch;
using Sam2Sharp.Cli.Commands;
using Sam2Sharp.Evaluation;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary><c>sam2 eval --shard K/N</c>: the merged J&amp;F of the shards equals one unsharded evaluation.</summary>
public sealed class BatchEvalTests : IDisposable
{
    readonly string dir = TestCli.TempDir("sam2-batch-eval-");

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData("davis")]
    [InlineData("sav")]
    public void MergedShardsEqualAnUnshardedEvaluation(string layout)
    {
        var source = Path.Combine(Golden.SharedDir, "golden-eval", layout);
        string gt = Path.Combine(source, "gt"), pred = Path.Combine(dir, "pred");
        EvaluationTests.CopyDir(Path.Combine(source, "pred"), pred);
        var whole = VosBenchmark.Run(gt, pred, new VosBenchmarkOptions { Strict = false });

        for (int k = 0; k < 2; k++)
            Assert.Equal(0, TestCli.Run(EvalCommand.Create(), "eval", "--gt-root", gt, "--pred-root", pred, "--shard", $"{k}/2", "-q"));
        var reports = TaskReport.ReadAll(VosScoreFiles.FolderIn(pred));
        Assert.Equal(2, reports.Count);
        Assert.All(reports, r => Assert.Equal("eval", r.Report.Command));
        Assert.Equal(whole.Videos.Count, reports.Sum(r => r.Report.Done));

        var merged = VosScoreFiles.Merge(pred);
        Assert.Equal(whole.GlobalJ, merged.GlobalJ);
        Assert.Equal(whole.GlobalF, merged.GlobalF);
        Assert.Equal(whole.ToCsv(), merged.ToCsv());
        // The unsharded evaluation of the same folder ignores the hidden score folder.
        Assert.Equal(whole.ToCsv(), VosBenchmark.Run(gt, pred, new VosBenchmarkOptions { Strict = true }).ToCsv());
    }
}
