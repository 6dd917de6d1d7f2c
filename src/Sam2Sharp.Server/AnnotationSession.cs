using System.Security.Cryptography;
using Sam2Sharp.Amg;
using Sam2Sharp.Export;
using Sam2Sharp.Imaging;

namespace Sam2Sharp.Server;

/// <summary>One object's mask in an API response: its COCO RLE (logits &gt; 0) and a score when the model gives one.</summary>
public sealed record ObjectMask(int ObjId, CocoRle Rle, double? Score);

/// <summary>The masks of every object on one frame, as the prompt, clear and propagation responses give them.</summary>
public sealed record FrameMasks(int Frame, IReadOnlyList<ObjectMask> Masks);

/// <summary>
/// An image or video opened in the server: its frames, its objects' masks (for display and export), its own
/// temporary folder, and the locks that keep one operation and at most one propagation running on it.
/// </summary>
public abstract class AnnotationSession : IDisposable
{
    readonly string? tempFolder;
    int propagating;

    protected AnnotationSession(string? tempFolder)
    {
        this.tempFolder = tempFolder;
        Id = Convert.ToHexString(RandomNumberGenerator.GetBytes(12)).ToLowerInvariant();
    }

    public string Id { get; }
    public abstract string Kind { get; }
    public abstract int NumFrames { get; }
    public abstract int Width { get; }
    public abstract int Height { get; }
    /// <summary>The masks shown and exported: the latest of every object on every frame.</summary>
    public abstract AnnotatedFrames Annotations { get; }
    /// <summary>The size of the source before the frames were shrunk to the cap.</summary>
    public int SourceWidth { get; init; }
    public int SourceHeight { get; init; }

    Task embedding = Task.CompletedTask;
    double embedProgress;

    /// <summary>
    /// Queues the first embedding (the image, or the video's first frame) on <paramref name="compute"/>; the session
    /// answers status requests meanwhile, and its model operations wait for it (<see cref="WhenReadyAsync"/>).
    /// </summary>
    public void BeginEmbedding(ComputeThread compute) =>
        embedding = compute.RunAsync(() =>
        {
            if (!IsClosed) Embed(new InlineProgress<Sam2Progress>(p => Volatile.Write(ref embedProgress, (double)p.Done / p.Total)));
            return 0;
        });

    /// <summary>Runs the first embedding, reporting each encoder block.</summary>
    protected abstract void Embed(IProgress<Sam2Progress> progress);

    /// <summary>Whether the first embedding is done.</summary>
    public bool IsReady => embedding.IsCompletedSuccessfully;
    /// <summary>How far the first embedding is, 0 to 1 (the encoder's blocks done).</summary>
    public double EmbedProgress => IsReady ? 1 : Volatile.Read(ref embedProgress);
    /// <summary>Why the first embedding failed, if it did.</summary>
    public string? EmbedError => embedding.IsFaulted ? ApiException.OneLine(embedding.Exception!.InnerException!.Message) : null;
    /// <summary>How many frames have their image features ready.</summary>
    public abstract int EmbeddedFrames { get; }

    /// <summary>Waits for the first embedding; refuses the operation (400) if it failed.</summary>
    public async Task WhenReadyAsync()
    {
        try { await embedding; }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw ApiException.BadRequest($"session {Id} could not be opened: {e.Message}");
        }
    }

    /// <summary>Serialises the session's operations (a prompt, an export, one propagation).</summary>
    public SemaphoreSlim Lock { get; } = new(1, 1);
    public DateTime LastUsedUtc { get; private set; } = DateTime.UtcNow;
    public void Touch() => LastUsedUtc = DateTime.UtcNow;

    /// <summary>Cancels the running propagation, if any (the cancel endpoint, or closing the session).</summary>
    public CancellationTokenSource? PropagationCancel { get; private set; }
    public bool IsPropagating => Volatile.Read(ref propagating) == 1;

    /// <summary>Marks a propagation as started; false when one is already running.</summary>
    public bool TryBeginPropagation(out CancellationTokenSource cancel)
    {
        cancel = new CancellationTokenSource();
        if (Interlocked.CompareExchange(ref propagating, 1, 0) != 0) { cancel.Dispose(); return false; }
        PropagationCancel = cancel;
        return true;
    }

    public void EndPropagation()
    {
        var c = PropagationCancel;
        PropagationCancel = null;
        Volatile.Write(ref propagating, 0);
        c?.Dispose();
    }

    /// <summary>Refuses an operation while a propagation runs on the session (409).</summary>
    public void ThrowIfPropagating()
    {
        if (IsPropagating) throw ApiException.Conflict($"a propagation is running on session {Id}; wait for it or cancel it");
    }

    public void CheckFrame(int frame)
    {
        if (frame < 0 || frame >= NumFrames) throw ApiException.NotFound($"frame {frame} does not exist (frames 0 to {NumFrames - 1})");
    }

    /// <summary>Decodes frame <paramref name="frame"/> at the session's size.</summary>
    public abstract RgbImage ReadFrame(int frame);

    /// <summary>Adds clicks and/or a box for an object on a frame; returns every object's masks there.</summary>
    public abstract FrameMasks Prompt(int frame, int objId, float[,]? points, int[]? labels, float[]? box, bool clearOldPoints);

    /// <summary>Removes an object's prompts on a frame; returns the frame's masks.</summary>
    public abstract FrameMasks ClearPrompts(int frame, int objId);

    /// <summary>Removes an object everywhere; returns the frames whose masks changed.</summary>
    public abstract IReadOnlyList<FrameMasks> RemoveObject(int objId);

    /// <summary>The masks of a frame as the API returns them, from <see cref="Annotations"/>.</summary>
    public FrameMasks MasksOn(int frame, IReadOnlyDictionary<int, double>? scores = null) =>
        new(frame, Annotations.On(frame).Select(kv => new ObjectMask(kv.Key, CocoRleCodec.Encode(kv.Value),
            scores is not null && scores.TryGetValue(kv.Key, out var s) ? s : null)).ToList());

    /// <summary>Frees the model state; the session's temporary folder is removed.</summary>
    protected abstract void DisposeState();

    /// <summary>Whether the session was closed (an operation that waited for it must not run).</summary>
    public bool IsClosed { get; private set; }

    /// <summary>Every object's mask on a frame, with the scores the session keeps.</summary>
    public virtual FrameMasks CurrentMasks(int frame)
    {
        CheckFrame(frame);
        return MasksOn(frame);
    }

    public void Dispose()
    {
        IsClosed = true;
        PropagationCancel?.Cancel();
        DisposeState();
        if (tempFolder is not null && Directory.Exists(tempFolder))
        {
            try { Directory.Delete(tempFolder, recursive: true); }
            catch (IOException) { /* a file still open on some platform: the OS temp cleaner takes it */ }
        }
        GC.SuppressFinalize(this);
    }
}
