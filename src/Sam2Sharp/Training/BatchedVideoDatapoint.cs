using static TorchSharp.torch;

namespace Sam2Sharp.Training;

/// <summary>
/// A batch of training clips as SAM2Train consumes it (the reference's BatchedVideoDatapoint):
/// T frames of B videos, and O objects, each belonging to one video, with a mask on every frame.
/// </summary>
/// <param name="ImgBatch">T×B×3×S×S preprocessed frames (float32).</param>
/// <param name="ObjToFrameIdx">T×O×2 int32: for each frame and object, (frame index, video index).</param>
/// <param name="Masks">T×O×S×S ground-truth masks (bool).</param>
public sealed record BatchedVideoDatapoint(Tensor ImgBatch, Tensor ObjToFrameIdx, Tensor Masks) : IDisposable
{
    /// <summary>T, the frames per clip.</summary>
    public long NumFrames => ImgBatch.shape[0];
    /// <summary>B, the clips in the batch.</summary>
    public long NumVideos => ImgBatch.shape[1];

    /// <summary>Per frame and object, the index of its image in the T·B flattened batch (video-major).</summary>
    public Tensor FlatObjToImgIdx
    {
        get
        {
            var parts = ObjToFrameIdx.unbind(-1);
            return parts[1] * NumFrames + parts[0];
        }
    }

    /// <summary>The images flattened video-major to (B·T)×3×S×S, matching <see cref="FlatObjToImgIdx"/>.</summary>
    public Tensor FlatImgBatch => ImgBatch.transpose(0, 1).flatten(0, 1);

    /// <summary>A copy on <paramref name="device"/> (the model's), leaving this one as it is.</summary>
    public BatchedVideoDatapoint To(Device device) => new(ImgBatch.to(device), ObjToFrameIdx.to(device), Masks.to(device));

    /// <summary>Frees the three tensors.</summary>
    public void Dispose() { ImgBatch.Dispose(); ObjToFrameIdx.Dispose(); Masks.Dispose(); }
}
