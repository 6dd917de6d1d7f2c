using System.Diagnostics;
using Sam2Sharp.IO;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary>All-or-nothing outputs: refused targets, the lock between runs, a failed commit and a killed one.</summary>
public sealed class StagedOutputsTests : IDisposable
{
    readonly string dir = TestCli.TempDir("sam2-staged-");
    public void Dispose() => Directory.Delete(dir, recursive: true);

    string P(string name) => Path.Combine(dir, name);

    /// <summary>Every entry of the folder, hidden ones included, with the files' contents.</summary>
    string[] Snapshot() => Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
        .Select(e => Path.GetRelativePath(dir, e) + (File.Exists(e) && FileKind.Of(e) == FileKindType.Regular ? "=" + File.ReadAllText(e) : "")).ToArray();

    internal static void MakeFifo(string path)
    {
        using var p = Process.Start("mkfifo", [path])!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    [Fact]
    public void NonRegularTargetsAreRefusedAndLeftAlone()
    {
        File.WriteAllText(P("real.txt"), "keep");
        File.CreateSymbolicLink(P("link.txt"), P("real.txt"));
        MakeFifo(P("pipe.txt"));
        var before = Snapshot();
        foreach (var (path, kind) in new[] { (P("link.txt"), "symbolic link"), (P("pipe.txt"), "FIFO"), ("/dev/full", "character device") })
        {
            var e = Assert.Throws<Sam2Exception>(() => StagedOutputs.Open([new OutputTarget("--out", path)]));
            Assert.Contains($"--out {path} exists and is a {kind}", e.Message);
        }
        Assert.Equal(before, Snapshot());
        Assert.Equal(FileKindType.CharacterDevice, FileKind.Of("/dev/full"));
        Assert.False(File.Exists("/dev/.full.sam2-lock"));
    }

    [Fact]
    public void ExistingFileIsKeptUnlessOverwriteAndSamePathTwiceIsRefused()
    {
        File.WriteAllText(P("a.png"), "old");
        var e = Assert.Throws<Sam2Exception>(() => StagedOutputs.Open([new OutputTarget("--output", P("a.png"), Overwrite: false)]));
        Assert.Contains("exists; refusing to overwrite it", e.Message);
        e = Assert.Throws<Sam2Exception>(() => StagedOutputs.Open([new OutputTarget("--output", P("b.png")), new OutputTarget("--overlay", P("./b.png"))]));
        Assert.Contains("--output and --overlay are the same path", e.Message);
        Assert.Equal(["a.png=old"], Snapshot());
    }

    [Fact]
    public void UnwritableFolderIsFoundAtOpen()
    {
        var e = Assert.Throws<Sam2Exception>(() => StagedOutputs.Open([new OutputTarget("--output", "/proc/sam2-out.png")]));
        Assert.Contains("--output /proc/sam2-out.png: cannot write in the folder /proc", e.Message);
    }

    [Fact]
    public void ASecondRunOnTheSameNamesFailsWhileTheFirstHoldsThem()
    {
        using (var first = StagedOutputs.Open([new OutputTarget("--output", P("m")), new OutputTarget("--save-tensors", P("t.st"))]))
        {
            var e = Assert.Throws<Sam2Exception>(() => StagedOutputs.Open([new OutputTarget("--save-tensors", P("t.st"))]));
            Assert.Contains($"--save-tensors {P("t.st")} is being written by another run", e.Message);
        }
        using (StagedOutputs.Open([new OutputTarget("--save-tensors", P("t.st"))])) { }
        Assert.Empty(Snapshot());
    }

    /// <summary>A previous run's outputs (a replaced file, a file and a folder to be made) and a new run staging all three.</summary>
    StagedOutputs StageNewRun()
    {
        File.WriteAllText(P("a.txt"), "old a");
        var s = StagedOutputs.Open([new OutputTarget("a", P("a.txt")), new OutputTarget("b", P("b.txt")), new OutputTarget("c", P("c"), IsFolder: true)]);
        File.WriteAllText(s.File(P("a.txt")), "new a");
        File.WriteAllText(s.File(P("b.txt")), "new b");
        File.WriteAllText(Path.Combine(s.Folder(P("c")), "x.png"), "new x");
        File.WriteAllText(s.Scratch(P("b.txt")), "scratch");
        return s;
    }

    [Fact]
    public void CommitMovesEverythingAndLeavesNothingHidden()
    {
        using (var s = StageNewRun()) s.Commit();
        Assert.Equal(["a.txt=new a", "b.txt=new b", "c", "c/x.png=new x"], Snapshot());
    }

    [Fact]
    public void AFailedMovePutsEveryTargetBack()
    {
        using (var s = StageNewRun())
        {
            s.AfterMove = i => { if (i == 1) throw new IOException("disk full"); };
            var e = Assert.Throws<Sam2Exception>(s.Commit);
            Assert.Contains("disk full", e.Message);
            Assert.Contains("none of them was written", e.Message);
        }
        Assert.Equal(["a.txt=old a"], Snapshot());
    }

    sealed class Killed : Exception;

    [Fact]
    public void ACommitKilledBetweenMovesIsUndoneByTheNextRun()
    {
        var s = StageNewRun();
        s.AfterMove = i => { if (i == 1) throw new Killed(); };
        Assert.Throws<Killed>(s.Commit);
        s.Abandon(); // the process is gone: its locks are released, its files stay
        Assert.Contains("b.txt=new b", Snapshot());
        Assert.Contains(".b.txt.sam2-commit", string.Join(" ", Snapshot()));

        // The next run on one of those names finds the journal and restores the previous run's outputs.
        using (StagedOutputs.Open([new OutputTarget("b", P("b.txt"))])) { }
        Assert.Equal(["a.txt=old a"], Snapshot());
    }

    [Fact]
    public void TemporaryFilesOfAKilledRunAreRemovedByTheNextRun()
    {
        File.WriteAllText(P(".t.partial-0123abcd.safetensors"), "partial");
        File.WriteAllText(P(".t.scratch-89abcdef.safetensors"), "scratch");
        File.WriteAllText(P(".other.partial-0123abcd.safetensors"), "someone else's");
        using (StagedOutputs.Open([new OutputTarget("t", P("t.safetensors"))])) { }
        Assert.Equal([".other.partial-0123abcd.safetensors=someone else's"], Snapshot());
    }

    [Fact]
    public void AFolderNamedWithATrailingSlashIsThatFolder()
    {
        using (var s = StagedOutputs.Open([new OutputTarget("--output", P("masks") + "/", IsFolder: true)]))
        {
            File.WriteAllText(Path.Combine(s.Folder(P("masks") + "/"), "00000.png"), "png");
            s.Commit();
        }
        Assert.Equal(["masks", "masks/00000.png=png"], Snapshot());
    }
}
