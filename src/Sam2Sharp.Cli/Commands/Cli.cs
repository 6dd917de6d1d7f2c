using Sam2Sharp;

namespace Sam2Sharp.Cli.Commands;

/// <summary>
/// What every command shares: running its action so that nothing but one line reaches the user. A user error
/// (<see cref="Sam2Exception"/>) or a file-system error exits 1; anything else is a bug, reported as
/// <c>error: internal error: …</c> with exit 2 (the stack trace only under <c>--verbose</c>).
/// </summary>
public static class Cli
{
    /// <summary>Exit code for a problem with what the user gave (a file, an option, a value).</summary>
    public const int UserError = 1;

    /// <summary>Exit code for an unexpected failure (a bug, or the machine running out of memory).</summary>
    public const int InternalError = 2;

    /// <summary>Print the full exception of an internal error (set from the root's <c>--verbose</c>).</summary>
    public static bool Verbose { get; set; }

    /// <summary>Exit code of a command cancelled by Ctrl-C or SIGTERM (128 + SIGINT, the shell's convention).</summary>
    public const int Cancelled = 130;

    /// <summary>Runs a command's action, its errors as one line (see the class).</summary>
    public static int Run(Func<int> action) => RunAsync(() => Task.FromResult(action())).GetAwaiter().GetResult();

    /// <summary>
    /// Runs a long command's action on a worker thread, so that System.CommandLine's Ctrl-C / SIGTERM handling can
    /// cancel <paramref name="cancellationToken"/> (the command's token, which the action passes to the library): the
    /// library stops at its next step, and the command ends with one line and <see cref="Cancelled"/>. Outputs are
    /// staged, so a cancelled run leaves nothing partial, and a batch's finished items stay for a re-run to skip.
    /// <paramref name="cancelled"/> says instead what a cancelled run left (training: the step it saved).
    /// </summary>
    public static Task<int> Run(Func<int> action, CancellationToken cancellationToken, Func<string>? cancelled = null) =>
        RunAsync(() => Task.Run(action, CancellationToken.None), cancellationToken, cancelled);

    /// <summary>The same for an action that awaits (a server that runs until Ctrl-C); a cancellation of
    /// <paramref name="cancellationToken"/> that ends it is reported as <see cref="Cancelled"/>.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> action, CancellationToken cancellationToken = default, Func<string>? cancelled = null)
    {
        try { return await action(); }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Console.Error.WriteLine($"error: cancelled; {cancelled?.Invoke() ?? "nothing partial was written (a batch re-run resumes after its finished items)"}");
            return Cancelled;
        }
        catch (Sam2Exception e)
        {
            Console.Error.WriteLine($"error: {ToFlags(FirstLine(e.Message))}");
            return UserError;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {FirstLine(e.Message)}");
            return UserError;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"error: internal error: {e.GetType().Name}: {FirstLine(e.Message)}{(Verbose ? "" : " (run with --verbose for details)")}");
            if (Verbose) Console.Error.WriteLine(e);
            return InternalError;
        }
    }

    static string FirstLine(string s) => s.Split('\n')[0].TrimEnd('\r');

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
