using System.CommandLine;
using Sam2Sharp.Modeling;

namespace Sam2Sharp.Cli.Commands;

/// <summary>The --checkpoint / --model / --config options every model command takes (with --models, --offline).</summary>
public sealed class ModelOptions(bool checkpointRequired = true)
{
    public Option<string?> Checkpoint { get; } = new("--checkpoint")
    {
        Description = "Checkpoint in the official layout (torch.save({\"model\": state_dict})). Or --model.",
    };
    public Option<string?> Model { get; } = new("--model")
    {
        Description = "An official checkpoint by name (sam2.1_hiera_tiny, …, sam2_hiera_large; `sam2 models list`), downloaded and verified once into the cache. Or --checkpoint.",
    };
    public Option<string?> Config { get; } = new("--config")
    {
        Description = "Model config: a built-in name (sam2.1_hiera_t, sam2_hiera_l, …) or an official-format YAML file. Default: the --model's, else inferred from the checkpoint.",
    };
    public HubOptions Hub { get; } = new();

    public void AddTo(Command c)
    {
        foreach (var o in new Option[] { Checkpoint, Model, Config }) c.Options.Add(o);
        Hub.AddTo(c);
    }

    /// <summary>The checkpoint file and config to build from: --checkpoint as given, or --model fetched into the cache.</summary>
    public (string? Checkpoint, string? Config) Resolve(ParseResult r)
    {
        string? checkpoint = r.GetValue(Checkpoint), name = r.GetValue(Model), config = r.GetValue(Config);
        if (checkpoint is not null && name is not null) throw new Sam2Exception("give --checkpoint FILE or --model NAME, not both");
        if (name is null)
            return checkpoint is null && checkpointRequired ? throw new Sam2Exception("no model: give --model NAME (sam2 models list) or --checkpoint FILE") : (checkpoint, config);
        var (path, registered) = Hub.Resolve(r, name);
        return (path, config ?? registered);
    }

    /// <summary>The model; with neither a checkpoint nor a config, <paramref name="defaultConfig"/> with random weights (benchmarks).</summary>
    public Sam2Base Load(ParseResult r, Func<Config.Sam2Config, Config.Sam2Config>? adjust = null, string? defaultConfig = null)
    {
        var (checkpoint, config) = Resolve(r);
        return Sam2Builder.Load(config ?? (checkpoint is null ? defaultConfig : null), checkpoint, adjust);
    }
}
