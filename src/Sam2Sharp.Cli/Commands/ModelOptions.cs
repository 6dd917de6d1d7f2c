using System.CommandLine;
using Sam2Sharp.Modeling;

namespace Sam2Sharp.Cli.Commands;

/// <summary>The --checkpoint / --config pair every model command takes.</summary>
public sealed class ModelOptions
{
    public Option<string> Checkpoint { get; }
    public Option<string?> Config { get; } = new("--config")
    {
        Description = "Model config: a built-in name (sam2.1_hiera_t, sam2_hiera_l, …) or an official-format YAML file. Default: inferred from the checkpoint.",
    };

    public ModelOptions(bool checkpointRequired = true)
    {
        Checkpoint = new Option<string>("--checkpoint")
        {
            Description = "Checkpoint in the official layout (torch.save({\"model\": state_dict})).",
            Required = checkpointRequired,
        };
    }

    public void AddTo(Command c) { c.Options.Add(Checkpoint); c.Options.Add(Config); }

    /// <summary>The model (default options: the reference builders' post-processing); with neither --config nor
    /// --checkpoint, <paramref name="defaultConfig"/> with random weights (benchmarks).</summary>
    public Sam2Base Load(ParseResult r, Sam2ModelOptions? options = null, string? defaultConfig = null)
    {
        string? config = r.GetValue(Config), checkpoint = r.GetValue(Checkpoint);
        return Sam2Builder.Load(config ?? (checkpoint is null ? defaultConfig : null), checkpoint, options);
    }
}
