using System.Text.Json;
using Sam2Sharp.Evaluation;
using Sam2Sharp.IO;
using Sam2Sharp.Modeling;
using Sam2Sharp.Video;

namespace Sam2Sharp.Training;

/// <summary>J&amp;F of the model at one step on the held-out videos.</summary>
public sealed record HeldOutResult(long Step, double JF, double J, double F, int Videos, string Predictions);

/// <summary>
/// Periodic evaluation during training: semi-supervised VOS on a held-out split, exactly as <c>sam2 vos</c> then
/// <c>sam2 eval</c> would score a checkpoint of the moment (first-frame masks prompt the video predictor, the
/// first and last frames are left out of J&amp;F). The training model tracks in eval mode with the VOS tool's
/// predictor settings and goes back to train mode afterwards.
/// </summary>
public sealed class HeldOutEvaluation
{
    /// <summary>The held-out frames: one folder per video.</summary>
    public string ImageFolder { get; }
    /// <summary>The held-out ground-truth annotations: one folder per video.</summary>
    public string GtFolder { get; }
    /// <summary>The held-out videos, as the file list names them.</summary>
    public IReadOnlyList<string> Videos { get; }
    /// <summary>How the held-out annotations are stored (detected from the first video).</summary>
    public VosLayout Layout { get; }
    /// <summary>Predictions go to <c>step_NNNNNN/</c> below this folder; results to <see cref="LogPath"/>.</summary>
    public string OutputFolder { get; }
    /// <summary>The JSON-lines log: one <see cref="HeldOutResult"/> per evaluation.</summary>
    public string LogPath => Path.Combine(OutputFolder, "eval_log.jsonl");
    // "J&F" as written, not \u0026.
    static readonly JsonSerializerOptions LogJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Checks the split before training starts: the list, and a frame folder and an annotation folder per video.</summary>
    public HeldOutEvaluation(string imageFolder, string gtFolder, string fileList, string outputFolder)
    {
        Videos = VosInference.VideoNames(imageFolder, fileList);
        if (Videos.Count == 0) throw new Sam2Exception($"held-out video list {fileList} names no video");
        VosInference.CheckVideos(imageFolder, Videos);
        foreach (var v in Videos)
            if (!Directory.Exists(Path.Combine(gtFolder, v))) throw new Sam2Exception($"held-out video {v}: no annotation folder {Path.Combine(gtFolder, v)}");
        ImageFolder = imageFolder; GtFolder = gtFolder; OutputFolder = outputFolder;
        Layout = VosMasks.Detect(Path.Combine(gtFolder, Videos[0]));
    }

    /// <summary>Tracks every held-out video with the weights of <paramref name="model"/>, scores J&amp;F and appends it to the log.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked before each frame); nothing is logged.</exception>
    public HeldOutResult Evaluate(Sam2Base model, long step, CancellationToken cancellationToken = default)
    {
        var predictions = Path.Combine(OutputFolder, $"step_{step:D6}");
        // Our own folder: a resumed run that evaluates the same step again replaces it.
        if (Directory.Exists(predictions)) Directory.Delete(predictions, recursive: true);
        var options = new VosInferenceOptions
        {
            BaseVideoDir = ImageFolder, InputMaskDir = GtFolder, OutputMaskDir = predictions, Layout = Layout,
        };
        // The training model itself, in eval mode for the moment: no copy of its weights, and its gradients and
        // optimiser state are untouched (tracking runs without gradients).
        bool wasTraining = model.training;
        model.eval();
        try
        {
            var predictor = new Sam2VideoPredictor(model, VosInference.PredictorOptions(Layout));
            foreach (var v in Videos) VosInference.RunVideo(predictor, options, v, cancellationToken: cancellationToken);
        }
        finally
        {
            if (wasTraining) model.train();
        }
        var scored = VosBenchmark.Run(new VosBenchmarkPlan(GtFolder, predictions, Videos, []), new VosBenchmarkOptions());
        var result = new HeldOutResult(step, scored.GlobalJF, scored.GlobalJ, scored.GlobalF, Videos.Count, predictions);
        File.AppendAllText(LogPath, JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["step"] = step, ["J&F"] = Math.Round(result.JF, 4), ["J"] = Math.Round(result.J, 4), ["F"] = Math.Round(result.F, 4), ["videos"] = Videos.Count,
        }, LogJson) + "\n");
        return result;
    }
}
