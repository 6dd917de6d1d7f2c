using Spectre.Console;

namespace Sam2Sharp.Cli.Commands;

/// <summary>
/// The one place the CLI shows a library operation's progress: a live bar on an interactive terminal, otherwise a
/// line per finished item (and at the end); messages from the operation are lines in both. Nothing when quiet.
/// </summary>
public static class ProgressDisplay
{
    /// <summary>Whether a live bar can be drawn (a terminal, not redirected, not quiet).</summary>
    public static bool IsInteractive(bool quiet) =>
        !quiet && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>Runs <paramref name="work"/> with the progress sink for <paramref name="title"/> (null when quiet).</summary>
    public static T Run<T>(string title, bool quiet, Func<IProgress<Sam2Progress>?, T> work)
    {
        if (!IsInteractive(quiet)) return work(quiet ? null : new Lines());
        T result = default!;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx => result = work(new Bar(ctx.AddTask(title), title)));
        return result;
    }

    /// <summary>As <see cref="Run{T}"/> for work without a result.</summary>
    public static void Run(string title, bool quiet, Action<IProgress<Sam2Progress>?> work) =>
        Run(title, quiet, p => { work(p); return 0; });

    // Reports may come from worker threads (evaluation), hence the locks; both handle them at once, in order.
    sealed class Bar(ProgressTask task, string title) : IProgress<Sam2Progress>
    {
        public void Report(Sam2Progress p)
        {
            lock (this)
            {
                task.MaxValue = Math.Max(p.Total, 1);
                task.Value = p.Done;
                task.Description = Markup.Escape(p.Item ?? title);
                if (p.Message is not null) AnsiConsole.WriteLine(p.Message);
            }
        }
    }

    sealed class Lines : IProgress<Sam2Progress>
    {
        long last;

        public void Report(Sam2Progress p)
        {
            lock (this)
            {
                if (p.Message is not null) Console.WriteLine(p.Message);
                else if (p.Done > last && (p.Item is not null || p.Done == p.Total))
                    Console.WriteLine($"{p.Done}/{p.Total} {p.Unit}{(p.Item is null ? "" : ": " + p.Item)}");
                if (p.Message is null) last = Math.Max(last, p.Done);
            }
        }
    }
}
