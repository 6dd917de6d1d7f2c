using System.Diagnostics;

namespace Sam2Sharp.Benchmarking;

/// <summary>
/// Wall time per named section of the model (encoder stages, decoder parts, memory attention layers,
/// automatic-mask stages), summed while <see cref="Start"/> is in effect; a null check otherwise.
/// CPU kernels are synchronous, so a section's wall time is its compute. Sections may nest
/// (each is inclusive of those inside it).
/// </summary>
public static class Profiler
{
    static readonly object Gate = new();
    static Dictionary<string, (double Ms, long Calls)>? totals;

    /// <summary>Whether sections are being collected (between <see cref="Start"/> and <see cref="Stop"/>).</summary>
    public static bool IsActive => totals is not null;

    /// <summary>Starts (or restarts) collecting.</summary>
    public static void Start() { lock (Gate) totals = new(); }

    /// <summary>Stops collecting and returns the totals per section, in the order first seen.</summary>
    public static IReadOnlyList<(string Name, double Ms, long Calls)> Stop()
    {
        lock (Gate)
        {
            var r = totals?.Select(kv => (kv.Key, kv.Value.Ms, kv.Value.Calls)).ToList() ?? [];
            totals = null;
            return r;
        }
    }

    /// <summary>Times the section until the returned value is disposed (a no-op when not collecting or when <paramref name="name"/> is null).</summary>
    public static Section Time(string? name) => new(totals is null ? null : name);

    /// <summary>A running section of <see cref="Time"/>; disposing it adds its time to the totals.</summary>
    public readonly struct Section : IDisposable
    {
        readonly string? name;
        readonly long start;

        internal Section(string? name) { this.name = name; start = name is null ? 0 : Stopwatch.GetTimestamp(); }

        /// <summary>Stops the section and adds its wall time and one call to its name's totals.</summary>
        public void Dispose()
        {
            if (name is null) return;
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            lock (Gate)
            {
                if (totals is null) return;
                var (t, c) = totals.GetValueOrDefault(name);
                totals[name] = (t + ms, c + 1);
            }
        }
    }
}
