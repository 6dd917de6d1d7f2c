using Sam2Sharp.Batch;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary>The shard rule and the job engines' environment.</summary>
public class ShardTests
{
    static readonly string[] Names = ["b", "a", "d", "c", "e", "g", "f"];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(10)]
    public void ShardsAreDisjointCompleteAndStableUnderReordering(int n)
    {
        var shards = Enumerable.Range(0, n).Select(k => new Shard(k, n).Select(Names)).ToList();
        var all = shards.SelectMany(s => s).ToList();
        Assert.Equal(Names.Length, all.Count);                                    // disjoint
        Assert.Equal(Names.Order(StringComparer.Ordinal), all.Order(StringComparer.Ordinal)); // complete
        var reordered = Names.Reverse().Concat(["a"]).ToArray();                  // another order, a repeated name
        for (int k = 0; k < n; k++) Assert.Equal(shards[k], new Shard(k, n).Select(reordered));
        Assert.True(shards.Max(s => s.Count) - shards.Min(s => s.Count) <= 1);    // balanced
    }

    static Func<string, string?> Env(params (string, string)[] vars) =>
        name => vars.FirstOrDefault(v => v.Item1 == name).Item2;

    [Fact]
    public void EnvironmentGivesTheShard()
    {
        Assert.Equal(new Shard(2, 5), Shard.Resolve(null, Env(("SLURM_ARRAY_TASK_ID", "12"), ("SLURM_ARRAY_TASK_COUNT", "5"), ("SLURM_ARRAY_TASK_MIN", "10"))));
        Assert.Equal(new Shard(3, 4), Shard.Resolve(null, Env(("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "4"))));
        // A task of sam2 cluster's script resubmitted alone (sbatch --array=3: a one-task array) keeps its shard.
        Assert.Equal(new Shard(3, 4), Shard.Resolve(null, Env(("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "1"), ("SLURM_ARRAY_TASK_MIN", "3"), ("SAM2_SHARD_COUNT", "4"))));
        Assert.Contains("shard 4 is out of range for 4 shards", Assert.Throws<Sam2Exception>(() =>
            Shard.Resolve(null, Env(("SLURM_ARRAY_TASK_ID", "4"), ("SAM2_SHARD_COUNT", "4")))).Message);
        Assert.Equal(new Shard(1, 3), Shard.Resolve(null, Env(("JOB_COMPLETION_INDEX", "1"), ("SAM2_SHARD_COUNT", "3"))));
        Assert.Equal(Shard.All, Shard.Resolve(null, Env()));
        // The option wins over the environment.
        Assert.Equal(new Shard(0, 2), Shard.Resolve("0/2", Env(("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "4"))));
    }

    [Theory]
    [InlineData("SLURM_ARRAY_TASK_ID", "3", null, null, "SLURM_ARRAY_TASK_COUNT is not")]
    [InlineData("SLURM_ARRAY_TASK_ID", "4", "SLURM_ARRAY_TASK_COUNT", "4", "shard 4 is out of range for 4 shards")]
    [InlineData("SLURM_ARRAY_TASK_ID", "x", "SLURM_ARRAY_TASK_COUNT", "4", "SLURM_ARRAY_TASK_ID='x': not an integer")]
    [InlineData("JOB_COMPLETION_INDEX", "0", null, null, "SAM2_SHARD_COUNT is not")]
    [InlineData("JOB_COMPLETION_INDEX", "2", "SAM2_SHARD_COUNT", "0", "the shard count must be at least 1")]
    public void InconsistentEnvironmentIsOneLineError(string k, string v, string? k2, string? v2, string expected)
    {
        var vars = k2 is null ? Env((k, v)) : Env((k, v), (k2, v2!));
        var e = Assert.Throws<Sam2Exception>(() => Shard.Resolve(null, vars));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("2/2")]
    [InlineData("-1/2")]
    [InlineData("1")]
    [InlineData("a/b")]
    public void BadShardOptionIsRefused(string text) =>
        Assert.StartsWith($"shard '{text}': ", Assert.Throws<Sam2Exception>(() => Shard.Parse(text)).Message);
}
