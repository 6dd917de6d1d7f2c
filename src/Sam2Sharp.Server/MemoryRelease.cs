using System.Runtime;
using System.Runtime.InteropServices;

namespace Sam2Sharp.Server;

/// <summary>
/// Gives the memory of a closed session back to the operating system: an aggressive collection (which decommits
/// free managed segments) and, on glibc, <c>malloc_trim</c> for the freed native tensor memory. Without it a
/// long-running server's resident size stays at its high-water mark.
/// </summary>
static class MemoryRelease
{
    [DllImport("libc", EntryPoint = "malloc_trim")]
    static extern int MallocTrim(nuint pad);

    static bool trimAvailable = OperatingSystem.IsLinux();

    public static void Now()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        if (!trimAvailable) return;
        try { MallocTrim(0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { trimAvailable = false; } // not glibc
    }
}
