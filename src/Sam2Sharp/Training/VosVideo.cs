using Sam2Sharp.Imaging;
using Sam2Sharp.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Training;

/// <summary>
/// One annotated frame of a video: its JPEG, its annotation (<paramref name="MaskPath"/> in the palette layout,
/// <paramref name="ObjectMaskPaths"/> object id → PNG in the per-object layout) and the objects visible on it (nonzero mask).
/// </summary>
public sealed record VosFrame(int FrameId, string ImagePath, string? MaskPath, IReadOnlyDictionary<int, string>? ObjectMaskPaths,
    IReadOnlyList<int> VisibleObjectIds);

/// <summary>
/// A validated video of a <see cref="VosRawDataset"/> (the reference's VOSVideo plus its segment loader):
/// every frame has an annotation of the video's size.
/// </summary>
public sealed class VosVideo
{
    public string Name { get; }
    /// <summary>Position in the dataset (the reference's <c>video_id</c>).</summary>
    public int Index { get; }
    public int Width { get; }
    public int Height { get; }
    public VosLayout Layout { get; }
    public IReadOnlyList<VosFrame> Frames { get; }
    /// <summary>Every object id that appears on some frame, ascending.</summary>
    public IReadOnlyList<int> ObjectIds { get; }

    internal VosVideo(string name, int index, int width, int height, VosLayout layout, IReadOnlyList<VosFrame> frames)
    {
        Name = name; Index = index; Width = width; Height = height; Layout = layout; Frames = frames;
        ObjectIds = frames.SelectMany(f => f.VisibleObjectIds).Distinct().Order().ToArray();
    }

    public int Count => Frames.Count;

    /// <summary>The RGB pixels of frame <paramref name="index"/> (position in <see cref="Frames"/>).</summary>
    public RgbImage LoadImage(int index)
    {
        var img = RgbImage.Load(Frames[index].ImagePath);
        if (img.Width != Width || img.Height != Height)
            throw new Sam2Exception($"video {Name} frame {FrameName(Frames[index].FrameId)}: image changed size since validation ({img.Width}x{img.Height}, expected {Width}x{Height})");
        return img;
    }

    /// <summary>
    /// Binary masks (O×H×W uint8, 0/1) of the given objects on frame <paramref name="index"/>, in the order given;
    /// an object absent from the frame gets an empty mask (the reference's <c>always_target</c>).
    /// </summary>
    public Tensor LoadMasks(int index, IReadOnlyList<int> objectIds)
    {
        int plane = Width * Height;
        var data = new byte[objectIds.Count * plane];
        var frame = Frames[index];
        if (frame.MaskPath != null)
        {
            var m = VosRawDataset.ReadMask(frame.MaskPath, Name, frame.FrameId, Width, Height);
            for (int o = 0; o < objectIds.Count; o++)
            {
                int id = objectIds[o], off = o * plane;
                for (int p = 0; p < plane; p++) if (m.Values[p] == id) data[off + p] = 1;
            }
        }
        else
        {
            for (int o = 0; o < objectIds.Count; o++)
            {
                if (frame.ObjectMaskPaths == null || !frame.ObjectMaskPaths.TryGetValue(objectIds[o], out var path)) continue;
                var m = VosRawDataset.ReadMask(path, Name, frame.FrameId, Width, Height);
                for (int p = 0, off = o * plane; p < plane; p++) if (m.Values[p] > 0) data[off + p] = 1;
            }
        }
        return torch.tensor(data, new long[] { objectIds.Count, Height, Width }, ScalarType.Byte);
    }

    internal static string FrameName(int frameId) => frameId.ToString("D5", System.Globalization.CultureInfo.InvariantCulture);
}
