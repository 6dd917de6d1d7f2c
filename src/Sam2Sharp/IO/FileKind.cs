using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Sam2Sharp.IO;

/// <summary>What a path names, without following a symbolic link.</summary>
public enum FileKindType
{
    /// <summary>Nothing exists at the path.</summary>
    Missing,
    /// <summary>A regular file.</summary>
    Regular,
    /// <summary>A directory.</summary>
    Directory,
    /// <summary>A symbolic link (not followed).</summary>
    SymbolicLink,
    /// <summary>A named pipe.</summary>
    Fifo,
    /// <summary>A character device, e.g. /dev/zero.</summary>
    CharacterDevice,
    /// <summary>A block device.</summary>
    BlockDevice,
    /// <summary>A Unix domain socket.</summary>
    Socket,
    /// <summary>Any other type.</summary>
    Other,
}

/// <summary>
/// The type of a file system entry (.NET's attributes do not tell a FIFO or a device from a file). On Linux this
/// asks <c>statx(2)</c>, whose record has the same layout on every architecture; elsewhere only links are told apart.
/// </summary>
public static class FileKind
{
    const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100, AtEmptyPath = 0x1000;
    const uint StatxType = 0x1, StatxIno = 0x100;
    const int ModeOffset = 28, InoOffset = 32, BufferSize = 256;

    [DllImport("libc", SetLastError = true)]
    static extern unsafe int statx(int dirfd, byte* pathname, int flags, uint mask, byte* buf);

    /// <summary>The kind of entry at <paramref name="path"/> (<see cref="FileKindType.Missing"/> when there is none);
    /// with <paramref name="followLinks"/>, of what a symbolic link points to.</summary>
    public static FileKindType Of(string path, bool followLinks = false)
    {
        if (OperatingSystem.IsLinux()) return Stat(AtFdCwd, path, followLinks ? 0 : AtSymlinkNoFollow) is { } s ? TypeOf(s.Mode) : FileKindType.Missing;
        var info = new FileInfo(path);
        if (!followLinks && info.LinkTarget is not null) return FileKindType.SymbolicLink;
        return Directory.Exists(path) ? FileKindType.Directory : info.Exists ? FileKindType.Regular : FileKindType.Missing;
    }

    /// <summary>Whether an open handle and a path are the same file (true where this cannot be told).</summary>
    internal static bool SameFile(SafeFileHandle handle, string path)
    {
        if (!OperatingSystem.IsLinux()) return true;
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var a = Stat((int)handle.DangerousGetHandle(), "", AtEmptyPath);
            var b = Stat(AtFdCwd, path, AtSymlinkNoFollow);
            return a is not null && b is not null && a.Value.Ino == b.Value.Ino;
        }
        finally { if (added) handle.DangerousRelease(); }
    }

    static unsafe (ushort Mode, ulong Ino)? Stat(int dirfd, string path, int flags)
    {
        var name = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        var buf = stackalloc byte[BufferSize];
        fixed (byte* p = name)
            if (statx(dirfd, p, flags, StatxType | StatxIno, buf) != 0) return null;
        return (*(ushort*)(buf + ModeOffset), *(ulong*)(buf + InoOffset));
    }

    static FileKindType TypeOf(ushort mode) => (mode & 0xF000) switch
    {
        0x8000 => FileKindType.Regular,
        0x4000 => FileKindType.Directory,
        0xA000 => FileKindType.SymbolicLink,
        0x1000 => FileKindType.Fifo,
        0x2000 => FileKindType.CharacterDevice,
        0x6000 => FileKindType.BlockDevice,
        0xC000 => FileKindType.Socket,
        _ => FileKindType.Other,
    };

    /// <summary>How a kind is named in messages ("a FIFO", "a symbolic link", …).</summary>
    public static string Describe(FileKindType k) => k switch
    {
        FileKindType.Regular => "a file",
        FileKindType.Directory => "a folder",
        FileKindType.SymbolicLink => "a symbolic link",
        FileKindType.Fifo => "a FIFO (named pipe)",
        FileKindType.CharacterDevice => "a character device",
        FileKindType.BlockDevice => "a block device",
        FileKindType.Socket => "a socket",
        FileKindType.Missing => "missing",
        _ => "not a regular file",
    };
}
