using System.ComponentModel;
using System.Diagnostics;

namespace Sam2Sharp.Imaging;

/// <summary>Starting the Debian <c>ffmpeg</c>/<c>ffprobe</c> binaries, with one-line errors when they are missing or fail.</summary>
public static class Ffmpeg
{
    /// <summary>Starts a process; a missing binary is a <see cref="Sam2Exception"/> saying what needs it.</summary>
    public static Process Start(ProcessStartInfo psi, string neededFor)
    {
        try { return Process.Start(psi) ?? throw new Sam2Exception($"cannot start {psi.FileName}"); }
        catch (Win32Exception e)
        {
            throw new Sam2Exception($"'{psi.FileName}' was not found or cannot run ({e.Message}); {neededFor} needs ffmpeg installed (e.g. apt-get install ffmpeg)", e);
        }
    }

    /// <summary>Runs a program to its end and returns its exit code, standard output and standard error.</summary>
    public static (int Code, string Stdout, string Stderr) Run(string program, IEnumerable<string> args, string neededFor)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Start(psi, neededFor);
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.Result);
    }

    /// <summary>The first non-empty line of a tool's message, for one-line errors.</summary>
    public static string FirstLine(string s)
    {
        var line = s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        return string.IsNullOrEmpty(line) ? "(no message)" : line;
    }
}
