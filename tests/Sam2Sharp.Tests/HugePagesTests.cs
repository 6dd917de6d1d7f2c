using System.Globalization;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>Asked for before the first tensor (this test assembly does, as <c>sam2 amg</c> does), libtorch takes huge pages.</summary>
public sealed class HugePagesTests
{
    [Fact]
    public void LibtorchBacksALargeTensorWithHugePages()
    {
        Assert.True(OperatingSystem.IsLinux(), "huge pages are asked for on Linux");
        Assert.True(HugePages.Requested, $"{HugePages.Variable} is not set in the native environment of this process");
        var mode = HugePages.KernelMode;
        Assert.NotNull(mode);
        long before = AnonHugePagesKb();
        using var t = ones(64L << 20 >> 2); // 64 MB, written through
        long gained = AnonHugePagesKb() - before;
        // In "madvise" mode only advised memory gets huge pages, so this shows libtorch took the advice.
        if (mode == "never") Assert.Equal(0, gained);
        else Assert.True(gained >= 32 << 10, $"a 64 MB tensor added {gained} kB of huge pages (kernel mode {mode})");
    }

    /// <summary>The process's AnonHugePages (/proc/self/smaps_rollup), in kB.</summary>
    static long AnonHugePagesKb()
    {
        var line = File.ReadLines("/proc/self/smaps_rollup").First(l => l.StartsWith("AnonHugePages:"));
        return long.Parse(line["AnonHugePages:".Length..].Replace("kB", "").Trim(), CultureInfo.InvariantCulture);
    }
}
