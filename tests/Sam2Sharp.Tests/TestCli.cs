using System.CommandLine;

namespace Sam2Sharp.Tests;

/// <summary>Running one CLI command in-process, and scratch folders for its outputs.</summary>
public static class TestCli
{
    public static int Run(Command command, params string[] args)
    {
        var root = new RootCommand("test");
        root.Subcommands.Add(command);
        return root.Parse(args).Invoke();
    }

    public static string TempDir(string prefix)
    {
        var d = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }
}
