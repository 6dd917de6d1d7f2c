namespace Sam2Sharp;

/// <summary>The CPU's name and the flags that decide whether bfloat16 pays (Linux: /proc/cpuinfo).</summary>
public sealed record CpuInfo(string Name, bool Avx512F, bool Avx512Bf16, bool AmxBf16)
{
    /// <summary>This machine's CPU; name "unknown" and no flags where /proc/cpuinfo cannot be read.</summary>
    public static CpuInfo Current { get; } = Read("/proc/cpuinfo");

    /// <summary>Reads a /proc/cpuinfo-format file (the first processor's model name and flags); "unknown" and no flags when it cannot be read.</summary>
    public static CpuInfo Read(string path)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return new("unknown", false, false, false); }
        string Field(string key) => lines.Select(l => l.Split(':', 2)).Where(p => p.Length == 2 && p[0].Trim() == key)
            .Select(p => p[1].Trim()).FirstOrDefault() ?? "";
        var flags = Field("flags").Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        string name = Field("model name");
        return new(name.Length > 0 ? name : "unknown", flags.Contains("avx512f"), flags.Contains("avx512_bf16"), flags.Contains("amx_bf16"));
    }

    /// <summary>The flags as the benchmarks print them, e.g. "avx512f avx512_bf16 amx_bf16".</summary>
    public string Flags => string.Join(' ', new[] { ("avx512f", Avx512F), ("avx512_bf16", Avx512Bf16), ("amx_bf16", AmxBf16) }
        .Where(f => f.Item2).Select(f => f.Item1).DefaultIfEmpty("none"));

    /// <summary>Whether the CPU has bfloat16 matrix instructions (AMX or AVX512_BF16), without which bf16 runs slower than fp32.</summary>
    public bool HasFastBf16 => AmxBf16 || Avx512Bf16;

    /// <summary>The precision to use when the user asks for the fastest: bf16 where the CPU has bfloat16 instructions.</summary>
    public Sam2Precision FastestPrecision => HasFastBf16 ? Sam2Precision.BFloat16 : Sam2Precision.Float32;

    /// <summary>One line for the user when <paramref name="p"/> would be slower than float32 here; null otherwise.</summary>
    public string? SlowPrecisionWarning(Sam2Precision p) => p == Sam2Precision.BFloat16 && !HasFastBf16
        ? $"warning: this CPU ({Name}) has neither AMX nor AVX512_BF16: bf16 will be slower than fp32 here (use --precision fp32)"
        : null;
}
