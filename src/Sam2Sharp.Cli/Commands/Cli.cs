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
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
