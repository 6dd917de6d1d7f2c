using System.Runtime.InteropServices;

namespace Sam2Sharp;

/// <summary>
/// Whether libtorch backs its large CPU tensors (2 MB and up) with transparent huge pages, which an application asks for
/// with <see cref="Request"/> before its first tensor (libtorch reads <see cref="Variable"/> once, at its first
/// allocation). Batches of many prompts (the automatic mask generator's 64) make temporaries of hundreds of MB, fresh
/// memory on every pass, and where the first touch of a 4 kB page is slow (a virtual machine: about 1 ms per MB on
/// one) a 2 MB page takes one fault instead of 512: <c>sam2 amg</c> asks for them. It is not the default: libtorch then
/// page-aligns every block of 2 MB and up, and glibc serves page-aligned blocks of a few MB from fresh pages where it
/// would reuse the freed ones (an elementwise pass making a 4 MB result: 8.0 against 0.34 ms on that machine), so one
/// prompt at a time (clicks) may decode more slowly; paired runs there did not decide it. Where the kernel's transparent
/// huge pages are <c>never</c> it does nothing.
/// </summary>
public static class HugePages
{
    /// <summary>libtorch's switch (c10's CPU allocator: blocks of 2 MB and up page-aligned and advised <c>MADV_HUGEPAGE</c>).</summary>
    public const string Variable = "THP_MEM_ALLOC_ENABLE";

    const string KernelSetting = "/sys/kernel/mm/transparent_hugepage/enabled";

    /// <summary>Whether libtorch is asked for huge pages in this process (the variable is set and not <c>0</c>).</summary>
    public static bool Requested => NativeVariable(Variable) is { } v && v != "0";

    /// <summary>The kernel's transparent-huge-page mode (<c>always</c>, <c>madvise</c> or <c>never</c>; null where unknown).</summary>
    public static string? KernelMode
    {
        get
        {
            try
            {
                // "always [madvise] never": the bracketed one is in force.
                var s = File.ReadAllText(KernelSetting);
                int a = s.IndexOf('['), b = s.IndexOf(']');
                return a >= 0 && b > a ? s[(a + 1)..b] : null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        }
    }

    /// <summary>
    /// Asks libtorch for huge pages (sets <see cref="Variable"/> to 1 in the native environment unless it is set: 0 keeps
    /// them off). Call it before the process makes its first tensor; later it changes nothing.
    /// </summary>
    public static void Request()
    {
        if (OperatingSystem.IsLinux()) setenv(Variable, "1", overwrite: 0);
    }

    [DllImport("libc")]
    static extern int setenv(string name, string value, int overwrite);

    [DllImport("libc")]
    static extern IntPtr getenv(string name);

    // The native environment, which libtorch reads (.NET's Environment keeps a copy of its own on Unix).
    static string? NativeVariable(string name) => OperatingSystem.IsLinux() ? Marshal.PtrToStringUTF8(getenv(name)) : null;
}
