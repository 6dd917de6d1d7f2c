using Sam2Sharp;

namespace Sam2Sharp.Cli.Commands;

/// <summary>What every command shares: running an action with user errors turned into one line and exit 1.</summary>
public static class Cli
{
    public static int Run(Func<int> action)
    {
        try { return action(); }
        catch (Sam2Exception e)
        {
            Console.Error.WriteLine($"error: {ToFlags(e.Message)}");
            return 1;
        }
    }

    // The library's messages name its own settings; on the command line the flags that set them are clearer.
    static readonly (string Term, string Flag)[] Flags =
    [
        ("VosInferenceOptions.TrackObjectAppearingLaterInVideo", "--track-object-appearing-later-in-video"),
        ("SyntheticVosOptions.Videos", "--videos"),
        ("SyntheticVosOptions.ValVideos", "--split-val"),
        ("SyntheticVosOptions.Frames", "--frames"),
        ("SyntheticVosOptions.Width × Height", "--size"),
        ("SyntheticVosOptions.Objects", "--objects"),
        ("resume it (resume: true)", "resume it with --resume"),
        ("name the config (", "give --config ("),
    ];

    /// <summary>A library message with its setting names replaced by the flags of this CLI.</summary>
    public static string ToFlags(string message)
    {
        foreach (var (term, flag) in Flags) message = message.Replace(term, flag, StringComparison.Ordinal);
        return message;
    }
}
