using Sam2Sharp.Imaging;
using Sam2Sharp.Video;
using static TorchSharp.torch;

namespace Sam2Sharp.IO;

/// <summary>Where a steps run writes: any of a mask folder, an overlay video and a tensors file.</summary>
/// <param name="MaskFolder">One indexed PNG per frame that got an output, named like the frame (DAVIS layout: value = object id).</param>
/// <param name="OverlayVideo">The frames that got an output, in frame order, each in its last state, with the masks overlaid.</param>
/// <param name="Tensors">Safetensors file with output k's logits as <c>s{k:02}_logits</c> (objects × H × W float32).</param>
/// <param name="FrameRate">Of the overlay video, as ffmpeg reads it (see <see cref="OverlayVideoWriter.FormatFrameRate"/>);
/// default: the input video file's, 24 for a folder of frames.</param>
/// <param name="VideoFile">The input, if it is a video file (for its frame rate).</param>
public sealed record VideoOutputOptions(OutputTarget? MaskFolder = null, OutputTarget? OverlayVideo = null, OutputTarget? Tensors = null,
    string? FrameRate = null, string? VideoFile = null);

/// <summary>
/// The outputs of a steps run, written as the run goes (tensors stream to a scratch file; each frame keeps its latest
/// label map, PNG-encoded) and committed together by <see cref="Commit"/> through <see cref="StagedOutputs"/>:
/// nothing appears under the given names unless every step ran and every output was written.
/// </summary>
public sealed class VideoOutputs : IDisposable
{
    readonly VideoOutputOptions options;
    readonly IFrameSource frames;
    readonly StagedOutputs staged;
    readonly SafetensorsStreamWriter? tensors;
    readonly List<int> allIds;
    readonly string? encoder, frameRate;
    readonly SortedDictionary<int, byte[]> lastState = new(); // frame → its latest label map, PNG-encoded (small)

    /// <summary>How many outputs were added.</summary>
    public int Count { get; private set; }

    /// <summary>How many distinct frames got an output.</summary>
    public int FrameCount => framesWithOutput.Count;
    readonly HashSet<int> framesWithOutput = new();

    bool LabelMaps => options.MaskFolder is not null || options.OverlayVideo is not null;

    /// <summary>The paths written, for reporting.</summary>
    public IEnumerable<string> Paths => new[] { options.MaskFolder, options.OverlayVideo, options.Tensors }.Where(t => t is not null).Select(t => Path.TrimEndingDirectorySeparator(Path.GetFullPath(t!.Path)));

    VideoOutputs(VideoOutputOptions options, IFrameSource frames, StagedOutputs staged, IReadOnlyList<int> allIds, string? encoder, string? frameRate)
    {
        this.options = options; this.frames = frames; this.staged = staged; this.allIds = allIds.ToList();
        this.encoder = encoder; this.frameRate = frameRate;
        tensors = options.Tensors is { } t ? new SafetensorsStreamWriter(staged.Scratch(t.Path)) : null;
    }

    /// <summary>Checks everything the outputs need before any compute (targets, their locks, object ids, frame names,
    /// the overlay's format and encoder) and opens them.</summary>
    /// <param name="options">The outputs to write; at least one must be given.</param>
    /// <param name="frames">The video the steps run on (its frame names name the mask PNGs).</param>
    /// <param name="steps">The steps to run: their object ids are the outputs' objects.</param>
    /// <param name="stepsSource">Names the steps in messages.</param>
    public static VideoOutputs Open(VideoOutputOptions options, IFrameSource frames, IReadOnlyList<VideoStep> steps, string stepsSource)
    {
        var targets = new[] { options.MaskFolder is { } m ? m with { IsFolder = true } : null, options.OverlayVideo, options.Tensors }
            .Where(t => t is not null).Select(t => t!).ToList();
        if (targets.Count == 0) throw new ArgumentException("no output was given", nameof(options));
        options = options with { MaskFolder = targets.FirstOrDefault(t => t.IsFolder) };
        string? encoder = null, frameRate = null;
        if (options.OverlayVideo is { } ov)
        {
            if (!OverlayVideoWriter.Extensions.Contains(Path.GetExtension(ov.Path).ToLowerInvariant()))
                throw new Sam2Exception($"{ov.Label} {ov.Path}: the name must end in one of {string.Join(", ", OverlayVideoWriter.Extensions)}");
        }
        var allIds = steps.Select(s => s.ObjectId).Where(id => id is not null).Select(id => id!.Value).Distinct().Order().ToList();
        if (options.MaskFolder is not null || options.OverlayVideo is not null)
        {
            string labels = string.Join("/", new[] { options.MaskFolder, options.OverlayVideo }.Where(t => t is not null).Select(t => t!.Label));
            foreach (var s in steps)
                if (s.ObjectId is { } id && id is < 1 or > 255)
                    throw new Sam2Exception($"{stepsSource}: step {s.Index} ({s.Op}), field 'obj_id': {id} cannot be stored in an indexed PNG ({labels} need object ids 1 to 255)");
            if (options.MaskFolder is { } mf)
            {
                var names = new HashSet<string>(StringComparer.Ordinal);
                for (int i = 0; i < frames.Count; i++)
                    if (!names.Add(frames.Name(i))) throw new Sam2Exception($"two frames of the video are named {frames.Name(i)}, so their PNGs in {mf.Label} would collide");
            }
        }
        var staged = StagedOutputs.Open(targets);
        try
        {
            if (options.OverlayVideo is not null)
            {
                encoder = OverlayVideoWriter.ChooseEncoder();
                frameRate = options.FrameRate ?? (options.VideoFile is { } vf ? OverlayVideoWriter.FrameRateOf(vf) : null) ?? "24";
            }
            return new VideoOutputs(options, frames, staged, allIds, encoder, frameRate);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            staged.Dispose();
            throw new Sam2Exception($"{options.Tensors?.Label} {options.Tensors?.Path}: cannot make its scratch file ({e.Message})", e);
        }
        catch { staged.Dispose(); throw; }
    }

    /// <summary>Records one output (the caller still owns and disposes it).</summary>
    public void Add(VideoFrameMasks r)
    {
        tensors?.Add($"s{Count:D2}_logits", r.MaskLogits.squeeze(1));
        if (LabelMaps)
        {
            using var ms = new MemoryStream();
            PalettePng.WriteIndexed(ms, LabelMap.FromLogits(r.MaskLogits, r.ObjIds), frames.Width, frames.Height, PalettePng.DavisPalette);
            lastState[r.FrameIdx] = ms.ToArray();
        }
        framesWithOutput.Add(r.FrameIdx);
        Count++;
    }

    /// <summary>Writes every output under its temporary name, then moves them all into place.</summary>
    /// <exception cref="Sam2Exception">writing failed; nothing was written under the given names.</exception>
    public void Commit()
    {
        try
        {
            if (tensors is not null) tensors.Finish(staged.File(options.Tensors!.Path));
            if (options.MaskFolder is { } mf)
            {
                var dir = staged.Folder(mf.Path);
                foreach (var (frame, png) in lastState) File.WriteAllBytes(Path.Combine(dir, frames.Name(frame) + ".png"), png);
            }
            if (options.OverlayVideo is { } ov) WriteOverlay(staged.File(ov.Path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Sam2Exception($"writing the outputs failed: {e.Message}", e);
        }
        staged.Commit();
    }

    void WriteOverlay(string path)
    {
        using var writer = new OverlayVideoWriter(path, frames.Width, frames.Height, frameRate!, encoder!);
        foreach (var (frame, png) in lastState)
        {
            var labels = PalettePng.Read(new MemoryStream(png), "label map").Samples;
            // One mask per object id of the whole run, so an object keeps its colour on every frame.
            var masks = allIds.Select(id =>
            {
                var m = new byte[labels.Length];
                for (int i = 0; i < m.Length; i++) m[i] = labels[i] == id ? (byte)1 : (byte)0;
                return m;
            }).ToList();
            writer.Write(MaskImages.Overlay(frames.Read(frame), masks));
        }
        writer.Finish();
    }

    /// <summary>Deletes whatever was not committed and releases the outputs' locks.</summary>
    public void Dispose()
    {
        tensors?.Dispose();
        staged.Dispose();
    }
}
