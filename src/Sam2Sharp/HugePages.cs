using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sam2Sharp;

/// <summary>
/// Whether libtorch backs its large CPU tensors (2 MB and up) with transparent huge pages. The model makes many fresh
/// megabytes per call (a batch of 64 prompts in the decoder makes gigabytes of temporaries), and where the first touch
/// of a fresh 4 kB page is slow (a virtual machine: about 1 ms per MB measured on one) a 2 MB page takes one fault
/// instead of 512. libtorch reads <see cref="Variable"/> once, at its first allocation, so this assembly sets it in the
/// native environment when it loads, unless it is set already (<c>THP_MEM_ALLOC_ENABLE=0</c> turns it off). Where the
/// kernel's transparent huge pages are <c>never</c> it does nothing.
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

    [SuppressMessage("Usage", "CA2255", Justification = "libtorch reads the variable at its first allocation: it must be set before any tensor exists, which only a module initializer ensures.")]
    [ModuleInitializer]
    internal static void RequestBeforeTheFirstTensor()
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
