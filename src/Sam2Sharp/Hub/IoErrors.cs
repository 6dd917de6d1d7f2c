namespace Sam2Sharp.Hub;

/// <summary>Telling apart the file errors a download must explain: full disk, read-only folder, a lock held elsewhere.</summary>
internal static class IoErrors
{
    // On Unix .NET puts the errno in HResult; on Windows it is 0x8007xxxx with the Win32 code.
    const int ENOSPC = 28, EDQUOT = 122, EROFS = 30, EWOULDBLOCK_LINUX = 11, EWOULDBLOCK_MAC = 35;
    const int ERROR_DISK_FULL = 0x70, ERROR_HANDLE_DISK_FULL = 0x27, ERROR_SHARING_VIOLATION = 0x20, ERROR_LOCK_VIOLATION = 0x21;

    public static bool IsDiskFull(Exception e) => e is IOException && (OperatingSystem.IsWindows()
        ? (e.HResult & 0xFFFF) is ERROR_DISK_FULL or ERROR_HANDLE_DISK_FULL
        : e.HResult is ENOSPC or EDQUOT);

    public static bool IsReadOnly(Exception e) => e is UnauthorizedAccessException || (e is IOException && !OperatingSystem.IsWindows() && e.HResult == EROFS);

    public static bool IsLockedElsewhere(IOException e) => OperatingSystem.IsWindows()
        ? (e.HResult & 0xFFFF) is ERROR_SHARING_VIOLATION or ERROR_LOCK_VIOLATION
        : e.HResult == (OperatingSystem.IsMacOS() ? EWOULDBLOCK_MAC : EWOULDBLOCK_LINUX);
}
