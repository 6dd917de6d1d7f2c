using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.RegularExpressions;

[assembly: InternalsVisibleTo("Sam2Sharp.Tests")]

namespace Sam2Sharp.IO;

/// <summary>One output of a run: a file or a folder. <see cref="Label"/> names it in messages (e.g. the option that gave it).</summary>
/// <param name="Label">Names the output in messages, e.g. the option that gave it.</param>
/// <param name="Path">Where the output goes.</param>
/// <param name="IsFolder">Whether the output is a folder (else a file).</param>
/// <param name="Overwrite">Whether an existing regular file may be replaced (a folder must always be new or empty).</param>
public sealed record OutputTarget(string Label, string Path, bool IsFolder = false, bool Overwrite = true);

/// <summary>
/// The outputs of one run, committed all together or not at all. <see cref="Open"/> checks every target before any
/// compute (parent folder present and writable; an existing entry must be a regular file, or an empty folder for a
/// folder) and takes an exclusive lock beside each one (<c>.NAME.sam2-lock</c>), so a second run writing a same name
/// fails at once. Outputs are written under hidden names (<c>.NAME.partial-XXXXXXXX</c>) and <see cref="Commit"/>
/// moves them all into place under a journal (<c>.NAME.sam2-commit</c>): if a move fails every target is put back as
/// it was, and if the process dies midway the next run on any of these names finds the journal and does the same, so
/// a set of outputs is never left mixed. Disposing without a commit deletes what this run wrote.
/// </summary>
public sealed class StagedOutputs : IDisposable
{
    const string LockSuffix = ".sam2-lock", JournalSuffix = ".sam2-commit";

    readonly List<(OutputTarget Target, FileStream Lock, string LockPath)> targets = new();
    readonly List<(string Temp, string Target, bool IsFolder)> staged = new();
    readonly List<string> scratch = new();

    /// <summary>Test hook: runs after each move of a commit (a test throws from it to stand for a killed process).</summary>
    internal Action<int>? AfterMove { get; set; }

    StagedOutputs() { }

    /// <summary>Checks and locks the targets, first finishing what an interrupted earlier run on them left behind.</summary>
    /// <exception cref="Sam2Exception">a target cannot be produced, two targets are the same, or another run holds one.</exception>
    public static StagedOutputs Open(IEnumerable<OutputTarget> outputs)
    {
        var list = outputs.Select(t => t with { Path = FullPath(t.Path) }).ToList();
        foreach (var g in list.GroupBy(t => t.Path, StringComparer.Ordinal).Where(g => g.Count() > 1))
            throw new Sam2Exception($"{string.Join(" and ", g.Select(t => t.Label))} are the same path ({g.Key}); give each output its own name");
        foreach (var t in list) { CheckParent(t); CheckTarget(t); } // before the locks: nothing is made beside a refused target
        var s = new StagedOutputs();
        try
        {
            foreach (var t in list) s.Lock(t);
            foreach (var t in list) Recover(t.Path);
            foreach (var t in list) { RemoveLeftovers(t.Path); CheckTarget(t); }
        }
        catch { s.Dispose(); throw; }
        return s;
    }

    /// <summary>The absolute path without a trailing separator ("masks/" names the folder masks).</summary>
    static string FullPath(string path) => System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(path));

    static void CheckParent(OutputTarget t)
    {
        string? parent = System.IO.Path.GetDirectoryName(t.Path);
        if (parent is null) throw new Sam2Exception($"{t.Label} {t.Path}: not a path to write to");
        var kind = FileKind.Of(parent);
        if (kind is FileKindType.Missing) throw new Sam2Exception($"{t.Label} {t.Path}: the folder {parent} does not exist");
        if (kind is not FileKindType.Directory && !Directory.Exists(parent))
            throw new Sam2Exception($"{t.Label} {t.Path}: {parent} is {FileKind.Describe(kind)}, not a folder");
    }

    static void CheckTarget(OutputTarget t)
    {
        var kind = FileKind.Of(t.Path);
        string what = $"{t.Label} {t.Path}";
        switch (kind)
        {
            case FileKindType.Missing: return;
            case FileKindType.Directory when t.IsFolder:
                if (Directory.EnumerateFileSystemEntries(t.Path).Any()) throw new Sam2Exception($"{what} exists and is not empty; give a new or empty folder");
                return;
            case FileKindType.Directory: throw new Sam2Exception($"{what} is a folder, not a file");
            case FileKindType.Regular when t.IsFolder: throw new Sam2Exception($"{what} is a file, not a folder");
            case FileKindType.Regular when !t.Overwrite: throw new Sam2Exception($"{what} exists; refusing to overwrite it (give --force to replace it)");
            case FileKindType.Regular: return;
            default: throw new Sam2Exception($"{what} exists and is {FileKind.Describe(kind)}; refusing to replace it (give a new name)");
        }
    }

    void Lock(OutputTarget t)
    {
        string path = Hidden(t.Path, LockSuffix);
        for (int attempt = 0; ; attempt++)
        {
            FileStream fs;
            try { fs = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException e) when (e is not DirectoryNotFoundException && System.IO.File.Exists(path))
            {
                throw new Sam2Exception($"{t.Label} {t.Path} is being written by another run (it holds {path}); wait for it to finish", e);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new Sam2Exception($"{t.Label} {t.Path}: cannot write in the folder {System.IO.Path.GetDirectoryName(t.Path)} ({e.Message})", e);
            }
            // The lock file may have been deleted by the run that held it just before we locked it: lock the new one.
            if (FileKind.SameFile(fs.SafeFileHandle, path) || attempt == 3) { targets.Add((t, fs, path)); return; }
            fs.Dispose();
        }
    }

    /// <summary>A temporary file to write instead of <paramref name="target"/> (a path given to <see cref="Open"/>).</summary>
    public string File(string target) => Stage(target, folder: false);

    /// <summary>A temporary (created, empty) folder to fill instead of <paramref name="target"/>.</summary>
    public string Folder(string target) => Stage(target, folder: true);

    string Stage(string target, bool folder)
    {
        target = FullPath(target);
        var t = targets.FirstOrDefault(x => x.Target.Path == target).Target
            ?? throw new ArgumentException($"{target} was not opened as an output", nameof(target));
        if (t.IsFolder != folder) throw new ArgumentException($"{target} was opened as a {(t.IsFolder ? "folder" : "file")}", nameof(target));
        var temp = Beside(target, "partial");
        if (folder) Directory.CreateDirectory(temp);
        staged.Add((temp, target, folder));
        return temp;
    }

    /// <summary>A working file beside the output <paramref name="near"/>, deleted when this is disposed, committed or not.</summary>
    public string Scratch(string near)
    {
        var t = Beside(FullPath(near), "scratch");
        scratch.Add(t);
        return t;
    }

    sealed record Move(string Temp, string Target, bool IsFolder, string? Backup, bool FolderExisted);
    sealed record Journal(List<Move> Moves);

    /// <summary>Moves every staged output into place, all or none.</summary>
    /// <exception cref="Sam2Exception">a move failed; every target is as it was before.</exception>
    public void Commit()
    {
        var moves = staged.Select(s => new Move(s.Temp, s.Target, s.IsFolder,
            !s.IsFolder && System.IO.File.Exists(s.Target) ? Beside(s.Target, "old") : null,
            s.IsFolder && Directory.Exists(s.Target))).ToList();
        var journals = moves.Select(m => Hidden(m.Target, JournalSuffix)).ToList();
        try
        {
            var json = JsonSerializer.SerializeToUtf8Bytes(new Journal(moves));
            foreach (var j in journals) AtomicFile.Write(j, json);
            for (int i = 0; i < moves.Count; i++)
            {
                var m = moves[i];
                if (m.IsFolder)
                {
                    if (m.FolderExisted) Directory.Delete(m.Target); // checked empty, and locked, since Open
                    Directory.Move(m.Temp, m.Target);
                }
                else
                {
                    if (m.Backup is not null) System.IO.File.Move(m.Target, m.Backup);
                    System.IO.File.Move(m.Temp, m.Target);
                }
                AfterMove?.Invoke(i);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Undo(moves);
            foreach (var j in journals) Delete(j, false);
            throw new Sam2Exception($"moving the outputs into place failed ({e.Message}); none of them was written", e);
        }
        // Journals first: while any is left, the backups it names must still be there for an undo.
        foreach (var j in journals) Delete(j, false);
        foreach (var m in moves) if (m.Backup is not null) Delete(m.Backup, false);
        staged.Clear();
    }

    /// <summary>Puts every target of a commit back as it was before it (the moves may have been done in part).</summary>
    static void Undo(IEnumerable<Move> moves)
    {
        foreach (var m in moves.Reverse())
        {
            if (m.IsFolder)
            {
                if (!Directory.Exists(m.Temp) && Directory.Exists(m.Target)) Directory.Move(m.Target, m.Temp);
                if (m.FolderExisted && !Directory.Exists(m.Target)) Directory.CreateDirectory(m.Target);
            }
            else if (m.Backup is not null && System.IO.File.Exists(m.Backup)) System.IO.File.Move(m.Backup, m.Target, overwrite: true);
            else if (m.Backup is null && !System.IO.File.Exists(m.Temp) && System.IO.File.Exists(m.Target)) System.IO.File.Delete(m.Target);
            Delete(m.Temp, m.IsFolder);
        }
    }

    /// <summary>Undoes the commit of a run that died while committing, found by its journal beside <paramref name="target"/>.</summary>
    static void Recover(string target)
    {
        var path = Hidden(target, JournalSuffix);
        if (!System.IO.File.Exists(path)) return;
        Journal? journal;
        try { journal = JsonSerializer.Deserialize<Journal>(System.IO.File.ReadAllBytes(path)); }
        catch (JsonException) { journal = null; }
        if (journal?.Moves is not { } moves) throw new Sam2Exception($"{path} is not a readable commit journal; delete it and check {target}");
        try { Undo(moves); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Sam2Exception($"an interrupted earlier run left {path}, and undoing its outputs failed ({e.Message})", e);
        }
        foreach (var m in moves)
        {
            Delete(Hidden(m.Target, JournalSuffix), false);
            if (m.Target != target) RemoveStaleLock(Hidden(m.Target, LockSuffix));
        }
    }

    /// <summary>Deletes a lock file the dead run left on another of its targets, unless a live run holds it.</summary>
    static void RemoveStaleLock(string path)
    {
        if (!System.IO.File.Exists(path)) return;
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            System.IO.File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>Deletes the temporary files an earlier run that was killed left beside <paramref name="target"/> (we hold its lock).</summary>
    static void RemoveLeftovers(string target)
    {
        string dir = System.IO.Path.GetDirectoryName(target)!;
        var re = new Regex($"^\\.{Regex.Escape(System.IO.Path.GetFileNameWithoutExtension(target))}\\.(partial|scratch|old)-[0-9a-f]{{8}}{Regex.Escape(System.IO.Path.GetExtension(target))}$");
        foreach (var e in Directory.EnumerateFileSystemEntries(dir).Where(e => re.IsMatch(System.IO.Path.GetFileName(e))).ToList())
            Delete(e, FileKind.Of(e) is FileKindType.Directory);
    }

    static string Hidden(string target, string suffix) =>
        System.IO.Path.Combine(System.IO.Path.GetDirectoryName(target)!, "." + System.IO.Path.GetFileName(target) + suffix);

    static string Beside(string target, string tag)
    {
        string dir = System.IO.Path.GetDirectoryName(target)!;
        // The extension stays last so tools that pick the format from it (ffmpeg) see the right one.
        return System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileNameWithoutExtension(target)}.{tag}-{Guid.NewGuid().ToString("N")[..8]}{System.IO.Path.GetExtension(target)}");
    }

    /// <summary>Deletes what was not committed, then releases the locks.</summary>
    public void Dispose()
    {
        foreach (var (temp, _, isFolder) in staged) Delete(temp, isFolder);
        foreach (var s in scratch) Delete(s, false);
        staged.Clear();
        scratch.Clear();
        foreach (var (_, fs, path) in targets)
        {
            Delete(path, false); // while still locked, so no other run locks a file that is then deleted
            fs.Dispose();
        }
        targets.Clear();
    }

    /// <summary>Test hook: releases the locks and forgets the staged files, as a killed process would.</summary>
    internal void Abandon()
    {
        foreach (var (_, fs, _) in targets) fs.Dispose();
        targets.Clear();
        staged.Clear();
        scratch.Clear();
    }

    static void Delete(string path, bool folder)
    {
        try
        {
            if (folder) { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
            else if (System.IO.File.Exists(path)) System.IO.File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
