using Sam2Sharp.Batch;
using Sam2Sharp.Evaluation;

namespace Sam2Sharp.Cluster;

/// <summary>
/// A batch command as the tasks of an array job run it (<c>vos …</c>, <c>amg …</c>, <c>image …</c>, <c>eval …</c>): its
/// arguments as given, and the output root its task reports go under (<see cref="TaskReport.FolderIn"/>). The shard is
/// not among the arguments: each task takes it from the engine's environment (<see cref="Shard.FromEnvironment"/>).
/// </summary>
/// <param name="Command">The batch command's name.</param>
/// <param name="Args">Its arguments, after the name.</param>
/// <param name="OutputRoot">The folder its outputs and task reports go to (absolute).</param>
public sealed record BatchCommandLine(string Command, IReadOnlyList<string> Args, string OutputRoot)
{
    /// <summary>The batch commands that can be split into shards, and the option naming each one's output root (for eval,
    /// the prediction root, whose <see cref="VosScoreFiles.FolderIn"/> holds the batch).</summary>
    public static IReadOnlyDictionary<string, string> Shardable { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["vos"] = "--output-mask-dir",
        ["amg"] = "--output-dir",
        ["image"] = "--output-dir",
        ["eval"] = "--pred-root",
    };

    /// <summary>Every word of the task's command line after the executable: the command and its arguments.</summary>
    public IReadOnlyList<string> Words => [Command, .. Args];

    /// <summary>Reads a batch command line (the words after <c>--</c>).</summary>
    /// <exception cref="Sam2Exception">no command, a command that cannot be sharded, a <c>--shard</c> of its own, or no output root.</exception>
    public static BatchCommandLine Parse(IReadOnlyList<string> words)
    {
        if (words.Count == 0)
            throw new Sam2Exception("no batch command: give it after --, e.g. -- vos --base-video-dir … --output-mask-dir …");
        string command = words[0];
        if (!Shardable.TryGetValue(command, out var outputOption))
            throw new Sam2Exception($"'{command}' is not a batch command that can be split into shards (expected one of {string.Join(", ", Shardable.Keys)})");
        var args = words.Skip(1).ToList();
        if (Value(args, "--shard") is not null || args.Contains("--shard"))
            throw new Sam2Exception("--shard in the batch command: each task takes its shard from the engine's environment, leave it out");
        if (command is "amg" or "image" && Value(args, "--input-dir") is null && Value(args, "--input-list") is null)
            throw new Sam2Exception($"'{command}' without --input-dir or --input-list is the single-image form, which cannot be split into shards");
        string root = Value(args, outputOption)
            ?? throw new Sam2Exception($"the batch command has no {outputOption}: its outputs (and the task reports) go there");
        // A sharded evaluation is a batch of its own inside the prediction root (its score files and reports).
        root = Path.GetFullPath(root);
        return new BatchCommandLine(command, args, command == "eval" ? VosScoreFiles.FolderIn(root) : root);
    }

    /// <summary>
    /// The same command with <c>--model NAME</c> replaced by <c>--checkpoint FILE</c> (and <c>--config</c>, unless one is
    /// given) from <paramref name="resolve"/>, so the tasks read the shared cache and never download.
    /// </summary>
    public BatchCommandLine WithModelResolved(Func<string, (string CheckpointPath, string? Config)> resolve)
    {
        if (Value(Args, "--model") is not { } name) return this;
        var (checkpoint, config) = resolve(name);
        var args = Without(Args, "--model");
        args.AddRange(["--checkpoint", Path.GetFullPath(checkpoint)]);
        if (Value(Args, "--config") is null && config is not null) args.AddRange(["--config", config]);
        return this with { Args = args };
    }

    /// <summary>The value of <paramref name="option"/> (<c>--name VALUE</c> or <c>--name=VALUE</c>); the last one wins.</summary>
    public static string? Value(IReadOnlyList<string> args, string option)
    {
        string? value = null;
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i] == option && i + 1 < args.Count) value = args[++i];
            else if (args[i].StartsWith(option + "=", StringComparison.Ordinal)) value = args[i][(option.Length + 1)..];
        }
        return value;
    }

    static List<string> Without(IReadOnlyList<string> args, string option)
    {
        var kept = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i] == option) { i++; continue; }
            if (!args[i].StartsWith(option + "=", StringComparison.Ordinal)) kept.Add(args[i]);
        }
        return kept;
    }
}
