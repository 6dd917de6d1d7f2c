using System.CommandLine;
using Sam2Sharp.Hub;

namespace Sam2Sharp.Cli.Commands;

/// <summary>The --models / --offline pair of every command that may fetch a model by name.</summary>
public sealed class HubOptions
{
    public Option<string?> Models { get; } = new("--models")
    {
        Description = "A model registry JSON ({\"models\": [{\"name\", \"url\", \"sha256\", \"size\", \"config\"}]}) adding to or replacing the official names (after SAM2_MODELS).",
    };
    public Option<bool> Offline { get; } = new("--offline")
    {
        Description = "Never use the network (also SAM2_OFFLINE=1): a model given by name must be in the cache.",
    };

    public void AddTo(Command c) { c.Options.Add(Models); c.Options.Add(Offline); }

    /// <summary>A hub from the environment (SAM2_HOME, SAM2_MODELS, SAM2_MODEL_BASE_URL, SAM2_OFFLINE) and these options.</summary>
    public ModelHub Create(ParseResult r) => new(ModelHubOptions.FromEnvironment(r.GetValue(Models), r.GetValue(Offline)));

    /// <summary>The cached checkpoint (and registered config) of <paramref name="name"/>, downloaded with progress on standard error if needed.</summary>
    public (string CheckpointPath, string? Config) Resolve(ParseResult r, string name)
    {
        using var hub = Create(r);
        return hub.Resolve(name, new DownloadProgressView());
    }
}
