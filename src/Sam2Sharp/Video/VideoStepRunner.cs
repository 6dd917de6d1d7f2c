using Sam2Sharp.Imaging;
using static TorchSharp.torch;

namespace Sam2Sharp.Video;

/// <summary>How far a step has got: frames done of the frames it visits (one for a prompt step).</summary>
public readonly record struct VideoStepProgress(VideoStep Step, int Done, int Total);

/// <summary>
/// Plays steps (see <see cref="VideoSteps"/>) on a session, as an interactive user would, yielding every output:
/// one per add or clear_prompts step, one per frame of a propagation, one per updated frame of remove_object
/// (reset gives none). Outputs are produced lazily; the caller disposes each. A failure inside the predictor is
/// a one-line <see cref="Sam2Exception"/> naming the step.
/// </summary>
public sealed class VideoStepRunner(Sam2VideoPredictor predictor, VideoSession session)
{
    /// <summary>The outputs of every step in order, each with its step.</summary>
    public IEnumerable<(VideoStep Step, VideoFrameMasks Masks)> Run(IEnumerable<VideoStep> steps,
        IProgress<VideoStepProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        foreach (var step in steps)
            foreach (var masks in Play(step, progress, cancellationToken))
                yield return (step, masks);
    }

    /// <summary>The outputs of one step.</summary>
    public IEnumerable<VideoFrameMasks> Play(VideoStep step, IProgress<VideoStepProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        using var outputs = Outputs(step, progress, cancellationToken).GetEnumerator();
        while (true)
        {
            try
            {
                if (!outputs.MoveNext()) yield break;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One line naming the step, whatever went wrong inside the predictor.
                string msg = e is Sam2Exception ? e.Message : $"{e.GetType().Name}: {e.Message}";
                throw new Sam2Exception($"step {step.Index} ({step.Op}): {msg.Split('\n')[0].Trim()}", e);
            }
            yield return outputs.Current;
        }
    }

    IEnumerable<VideoFrameMasks> Outputs(VideoStep step, IProgress<VideoStepProgress>? progress, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var p = predictor;
        var s = session;
        switch (step)
        {
            case AddPointsStep a:
                yield return p.AddNewPointsOrBox(s, a.Frame, a.ObjId, Points(a.Points), a.Labels, clearOldPoints: a.ClearOldPoints);
                break;
            case AddBoxStep a:
                yield return p.AddNewPointsOrBox(s, a.Frame, a.ObjId, box: a.Box);
                break;
            case AddMaskStep a:
                VideoFrameMasks masks;
                using (var m = a.MaskPath is null ? zeros(s.VideoHeight, s.VideoWidth, ScalarType.Bool)
                       : a.MaskValue is int v ? MaskImages.ReadLabelTensor(a.MaskPath, v) : MaskImages.ReadPngTensor(a.MaskPath))
                    masks = p.AddNewMask(s, a.Frame, a.ObjId, m);
                yield return masks;
                break;
            case ClearPromptsStep a:
                yield return p.ClearAllPromptsInFrame(s, a.Frame, a.ObjId)!;
                break;
            case RemoveObjectStep a:
                foreach (var r in p.RemoveObject(s, a.ObjId).Updated) yield return r;
                break;
            case ResetStep:
                p.ResetState(s);
                break;
            case PropagateStep a:
                var results = p.PropagateInVideo(s, a.StartFrame, a.MaxFrames, a.Reverse); // runs the preflight now
                int total = p.PropagationFrames(s, a.StartFrame, a.MaxFrames, a.Reverse).Count, done = 0;
                progress?.Report(new VideoStepProgress(step, 0, total));
                foreach (var r in results)
                {
                    yield return r;
                    progress?.Report(new VideoStepProgress(step, ++done, total));
                    ct.ThrowIfCancellationRequested();
                }
                break;
            default:
                throw new ArgumentException($"unknown step type {step.GetType().Name}", nameof(step));
        }
    }

    static float[,] Points(float[][] rows)
    {
        var a = new float[rows.Length, 2];
        for (int i = 0; i < rows.Length; i++) { a[i, 0] = rows[i][0]; a[i, 1] = rows[i][1]; }
        return a;
    }
}
