using Sam2Sharp;

namespace Sam2Sharp.Cli.Commands;

/// <summary>What every command shares: running an action with user errors turned into one line and exit 1.</summary>
public static class Cli
{
    public static int Run(Func<int> action) => RunAsync(() => Task.FromResult(action())).GetAwaiter().GetResult();

    /// <summary>The same for an action that awaits (a server that runs until Ctrl-C).</summary>
    public static async Task<int> RunAsync(Func<Task<int>> action)
    {
        try { return await action(); }
        catch (Sam2Exception e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
