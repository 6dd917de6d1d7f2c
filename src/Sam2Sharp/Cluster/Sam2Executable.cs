using System.Reflection;

namespace Sam2Sharp.Cluster;

/// <summary>The words that start <c>sam2</c> in a task: the running executable, or one the user names.</summary>
public static class Sam2Executable
{
    /// <summary>
    /// <paramref name="path"/> when given (a <c>.dll</c> runs under <c>dotnet</c>), else the running program: its apphost,
    /// or <c>dotnet</c> and the entry assembly when it was started as <c>dotnet sam2.dll</c>. Paths are made absolute.
    /// </summary>
    /// <exception cref="Sam2Exception">the named file does not exist.</exception>
    public static IReadOnlyList<string> Resolve(string? path)
    {
        if (path is not null)
        {
            string full = Path.GetFullPath(path);
            if (!File.Exists(full)) throw new Sam2Exception($"--sam2 {path}: file not found");
            return full.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? [DotnetHost(), full] : [full];
        }
        string process = Environment.ProcessPath ?? throw new Sam2Exception("the running program's path is unknown; give --sam2 PATH");
        bool hosted = Path.GetFileNameWithoutExtension(process).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
        if (!hosted) return [process];
        string entry = Assembly.GetEntryAssembly()?.Location is { Length: > 0 } l ? l
            : throw new Sam2Exception("the running program's assembly is unknown; give --sam2 PATH");
        return [process, entry];
    }

    static string DotnetHost() =>
        Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p).Equals("dotnet", StringComparison.OrdinalIgnoreCase) ? p : "dotnet";
}
