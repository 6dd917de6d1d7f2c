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

    /// <summary>Runs a command and returns its exit code with what it wrote to standard error.</summary>
    public static (int Code, string Stderr) RunCapturingErrors(Command command, params string[] args)
    {
        var err = new StringWriter();
        var old = Console.Error;
        Console.SetError(err);
        try { return (Run(command, args), err.ToString()); }
        finally { Console.SetError(old); }
    }

    public static string TempDir(string prefix)
    {
        var d = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }
}
