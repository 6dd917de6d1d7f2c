using Sam2Sharp.Benchmarking;
using Sam2Sharp.Video;
using Xunit;
using Xunit.Abstractions;

namespace Sam2Sharp.Tests;

/// <summary>
/// What tracking keeps does not grow with the video's length: after 2N frames the session holds as many tensor bytes
/// in memory, and as many tensors are alive, as after N (the micro model, two objects, the golden frames looped).
/// Frames beyond the reach of memory attention are spilled to disk whole (masks, memories, pointers, scores).
/// </summary>
public class LongVideoMemoryTests(ITestOutputHelper log)
{
    [Fact]
    public void RetainedStateIsFlatInVideoLength()
    {
        string folder = Golden.Folders().First(f => Path.GetFileName(f) == "sam2.1-micro");
        using var model = Sam2Builder.Load(Path.Combine(folder, "config.yaml"), Path.Combine(folder, "model.pt"));
        var predictor = new Sam2VideoPredictor(model);
        // Past the spill distance (num_maskmem + 2 = 9) and the object pointers' reach (16 frames).
        const int n = 24;
        var samples = VideoBenchmark.Run(predictor, Path.Combine(folder, "inputs", "video"), 2 * n, objects: 2);
        var atN = samples.Single(s => s.Frame == n - 1);
        var at2N = samples.Single(s => s.Frame == 2 * n - 1);
        log.WriteLine($"long_video: after {n} frames {atN.SessionTensorBytes} tensor bytes, {atN.LiveTensors} live tensors; " +
            $"after {2 * n}: {at2N.SessionTensorBytes} bytes, {at2N.LiveTensors} tensors");
        Assert.True(atN.SessionTensorBytes > 0);
        Assert.Equal(atN.SessionTensorBytes, at2N.SessionTensorBytes);
        Assert.Equal(atN.LiveTensors, at2N.LiveTensors);
    }
}
