using System.Text.Json.Serialization;

namespace Sam2Sharp.Batch;

/// <summary>
/// One part of a batch split across the tasks of an array job: task <see cref="Index"/> (0-based) of <see cref="Count"/>.
/// Items are assigned by sorting their names (ordinal) and dealing them round-robin, so the assignment does not depend on
/// the order the items were listed in, shards never overlap and together they cover the whole set.
/// </summary>
/// <param name="Index">This task's shard, 0 ≤ Index &lt; Count.</param>
/// <param name="Count">How many shards the batch is split into (≥ 1).</param>
public sealed record Shard(int Index, int Count)
{
    /// <summary>The whole batch in one task.</summary>
    public static Shard All { get; } = new(0, 1);

    /// <summary>Whether this shard is the whole batch.</summary>
    [JsonIgnore] public bool IsAll => Count == 1;

    /// <summary>The items of this shard, in sorted order.</summary>
    public IReadOnlyList<string> Select(IEnumerable<string> names)
    {
        var sorted = names.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        return sorted.Where((_, i) => i % Count == Index).ToList();
    }

    /// <summary>Parses <c>K/N</c> (K from 0 to N−1).</summary>
    /// <exception cref="Sam2Exception">the text is not of that form or K is out of range.</exception>
    public static Shard Parse(string text, string label = "shard")
    {
        var parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int k) || !int.TryParse(parts[1], out int n))
            throw new Sam2Exception($"{label} '{text}': expected K/N, e.g. 0/4 for the first of 4 shards");
        return Checked(k, n, $"{label} '{text}'"); // names the value given
    }

    /// <summary>
    /// The shard given by the job engine's environment: Slurm array tasks (<c>SLURM_ARRAY_TASK_ID</c> of
    /// <c>SAM2_SHARD_COUNT</c> when the script sets it, as <c>sam2 cluster slurm</c>'s do; else <c>SLURM_ARRAY_TASK_ID</c>
    /// minus <c>SLURM_ARRAY_TASK_MIN</c>, of <c>SLURM_ARRAY_TASK_COUNT</c>), or a Kubernetes Indexed Job
    /// (<c>JOB_COMPLETION_INDEX</c>, of <c>SAM2_SHARD_COUNT</c>, which the manifest sets); null outside such a job.
    /// </summary>
    /// <exception cref="Sam2Exception">the variables are present but inconsistent.</exception>
    public static Shard? FromEnvironment(Func<string, string?>? getenv = null)
    {
        getenv ??= Environment.GetEnvironmentVariable;
        if (getenv("SLURM_ARRAY_TASK_ID") is { } id)
        {
            int task = Int("SLURM_ARRAY_TASK_ID", id);
            // sam2 cluster's scripts (array 0..N-1) name N, so a task resubmitted alone (sbatch --array=3) keeps its shard.
            if (getenv("SAM2_SHARD_COUNT") is { } given)
                return Checked(task, Int("SAM2_SHARD_COUNT", given), "SLURM_ARRAY_TASK_ID");
            int count = Int("SLURM_ARRAY_TASK_COUNT", getenv("SLURM_ARRAY_TASK_COUNT")
                ?? throw new Sam2Exception("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; pass --shard K/N"));
            int min = getenv("SLURM_ARRAY_TASK_MIN") is { } m ? Int("SLURM_ARRAY_TASK_MIN", m) : 0;
            return Checked(task - min, count, "SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN");
        }
        if (getenv("JOB_COMPLETION_INDEX") is { } index)
        {
            int count = Int("SAM2_SHARD_COUNT", getenv("SAM2_SHARD_COUNT")
                ?? throw new Sam2Exception("JOB_COMPLETION_INDEX is set but SAM2_SHARD_COUNT is not; set it to the Job's completions or pass --shard K/N"));
            return Checked(Int("JOB_COMPLETION_INDEX", index), count, "JOB_COMPLETION_INDEX");
        }
        return null;
    }

    /// <summary>The shard to run: <paramref name="option"/> (<c>K/N</c>) when given, else the environment's, else <see cref="All"/>.</summary>
    public static Shard Resolve(string? option, Func<string, string?>? getenv = null) =>
        option is not null ? Parse(option) : FromEnvironment(getenv) ?? All;

    /// <summary><c>K/N</c>.</summary>
    public override string ToString() => $"{Index}/{Count}";

    static int Int(string name, string value) => int.TryParse(value, out int v) ? v
        : throw new Sam2Exception($"{name}='{value}': not an integer");

    static Shard Checked(int k, int n, string label)
    {
        if (n < 1) throw new Sam2Exception($"{label}: the shard count must be at least 1, not {n}");
        if (k < 0 || k >= n) throw new Sam2Exception($"{label}: shard {k} is out of range for {n} shards (0 to {n - 1})");
        return new Shard(k, n);
    }
}
