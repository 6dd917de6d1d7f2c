using System.Globalization;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>Asked for before the first tensor (this test assembly does, as <c>sam2 amg</c> does), libtorch takes huge pages.</summary>
public sealed class HugePagesTests
{
    [Fact]
    public unsafe void LibtorchBacksALargeTensorWithHugePages()
    {
        Assert.True(OperatingSystem.IsLinux(), "huge pages are asked for on Linux");
        Assert.True(HugePages.Requested, $"{HugePages.Variable} is not set in the native environment of this process");
        var mode = HugePages.KernelMode;
        Assert.NotNull(mode);
        using var t = ones(64L << 20 >> 2); // 64 MB, written through
        ulong address;
        fixed (byte* data = t.bytes) address = (ulong)data;
        // The tensor's own mapping: the process's total moves with what tests running beside this one free.
        long huge = AnonHugePagesKbOfMappingAt(address);
        // In "madvise" mode only advised memory gets huge pages, so this shows libtorch took the advice.
        if (mode == "never") Assert.Equal(0, huge);
        else Assert.True(huge >= 32 << 10, $"a 64 MB tensor is backed by {huge} kB of huge pages (kernel mode {mode})");
    }

    /// <summary>AnonHugePages of the mapping holding <paramref name="address"/> (/proc/self/smaps), in kB.</summary>
    static long AnonHugePagesKbOfMappingAt(ulong address)
    {
        bool inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var range = line.Split(' ', 2)[0].Split('-');
            if (range.Length == 2 && ulong.TryParse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var from)
                && ulong.TryParse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var to))
                inside = address >= from && address < to;
            else if (inside && line.StartsWith("AnonHugePages:"))
                return long.Parse(line["AnonHugePages:".Length..].Replace("kB", "").Trim(), CultureInfo.InvariantCulture);
        }
        throw new InvalidOperationException($"no mapping holds address {address:x}");
    }
}
