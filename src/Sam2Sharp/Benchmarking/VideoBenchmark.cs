using System.Diagnostics;
using Sam2Sharp.Imaging;
using Sam2Sharp.Modeling;
using Sam2Sharp.Video;

namespace Sam2Sharp.Benchmarking;

/// <summary>
/// One frame's timing and the memory after it: the process's resident set (now and peak), the bytes of the tensors
/// the session holds in memory (<see cref="VideoSession.ResidentTensorBytes"/>) and the tensors alive on the tracking
/// thread (TorchSharp's count of those created and not yet disposed there).
/// </summary>
public sealed record VideoBenchmarkSample(int Frame, double Milliseconds, long WorkingSetBytes, long PeakWorkingSetBytes,
    long SessionTensorBytes, long LiveTensors);

/// <summary>
/// Tracks <c>objects</c> boxes from frame 0 through a video played to <c>frames</c> frames and
/// records the time of each propagated frame and the process's resident memory after it (its peak counted from the
/// start of tracking where the system allows).
/// </summary>
public static class VideoBenchmark
{
    /// <summary>Runs the benchmark and returns one sample per propagated frame, in order.</summary>
    /// <param name="predictor">The video predictor to time.</param>
    /// <param name="video">A frame folder or video file, looped to <paramref name="frames"/> frames.</param>
    /// <param name="frames">Frames to track.</param>
    /// <param name="objects">Objects to track, each prompted with a box on frame 0.</param>
    /// <param name="progress">Called with each sample as soon as it is measured.</param>
    /// <param name="cancellationToken">Checked before each frame.</param>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static IReadOnlyList<VideoBenchmarkSample> Run(Sam2VideoPredictor predictor, string video, int frames, int objects,
        Action<VideoBenchmarkSample>? progress = null, CancellationToken cancellationToken = default)
    {
        var src = FrameSource.Open(video);
        using var session = predictor.InitState(new LoopedFrameSource(src, frames));
        int w = session.VideoWidth, h = session.VideoHeight;
        for (int k = 0; k < objects; k++)
        {
            // Boxes side by side across the middle of the frame.
            float x0 = w * (k + 0.1f) / objects, x1 = w * (k + 0.9f) / objects;
            predictor.AddNewPointsOrBox(session, 0, k + 1, box: [x0, h * 0.25f, x1, h * 0.75f]).Dispose();
        }
        var samples = new List<VideoBenchmarkSample>();
        ResetPeakResidentSet();
        var proc = Process.GetCurrentProcess();
        var sw = Stopwatch.StartNew();
        foreach (var r in predictor.PropagateInVideo(session, cancellationToken: cancellationToken))
        {
            r.Dispose();
            double ms = sw.Elapsed.TotalMilliseconds;
            proc.Refresh();
            var sample = new VideoBenchmarkSample(r.FrameIdx, ms, proc.WorkingSet64, proc.PeakWorkingSet64, session.ResidentTensorBytes,
                TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
            samples.Add(sample);
            progress?.Invoke(sample);
            sw.Restart();
        }
        return samples;
    }

    /// <summary>
    /// On Linux, restarts the process's peak resident set from its current size (writing 5 to /proc/self/clear_refs),
    /// so that the peaks reported are those of tracking, not of what ran before (the matrix-product peaks: three
    /// 4096² matrices). Elsewhere the peak keeps counting from the start of the process.
    /// </summary>
    static void ResetPeakResidentSet()
    {
        try { if (OperatingSystem.IsLinux()) File.WriteAllText("/proc/self/clear_refs", "5"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
