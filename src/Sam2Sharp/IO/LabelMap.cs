using static TorchSharp.torch;

namespace Sam2Sharp.IO;

/// <summary>
/// The DAVIS label map of one frame: each pixel holds the id of an object covering it, the smallest id where several
/// do (the reference's vos_inference paints objects from the largest id down), 0 for background.
/// </summary>
public static class LabelMap
{
    /// <summary>Composes per-object masks (row-major, <paramref name="pixels"/> long) into a label map.</summary>
    /// <exception cref="Sam2Exception">an id cannot be stored in an 8-bit label map (1 to 255).</exception>
    public static byte[] Compose(IEnumerable<KeyValuePair<int, bool[]>> masks, int pixels)
    {
        var map = new byte[pixels];
        foreach (var (id, mask) in masks.OrderByDescending(kv => kv.Key))
        {
            if (id is < 1 or > 255) throw new Sam2Exception($"object id {id} cannot be stored in a label map (ids 1 to 255)");
            if (mask.Length != pixels) throw new ArgumentException($"object {id}: mask of {mask.Length} pixels, expected {pixels}");
            for (int p = 0; p < pixels; p++) if (mask[p]) map[p] = (byte)id;
        }
        return map;
    }

    /// <summary>Per-object on/off pixels (row-major) of N×H×W or N×1×H×W logits: on where above <paramref name="threshold"/>.</summary>
    public static Dictionary<int, bool[]> Threshold(Tensor logits, IReadOnlyList<int> objIds, double threshold = 0)
    {
        if (logits.shape[0] != objIds.Count) throw new ArgumentException($"{logits.shape[0]} masks for {objIds.Count} object ids");
        using var scope = NewDisposeScope();
        var on = (logits > threshold).reshape(objIds.Count, -1).cpu();
        var result = new Dictionary<int, bool[]>();
        for (int i = 0; i < objIds.Count; i++) result[objIds[i]] = on[i].data<bool>().ToArray();
        return result;
    }

    /// <summary>The label map of N×H×W or N×1×H×W logits (an object is on where its logit is above <paramref name="threshold"/>).</summary>
    public static byte[] FromLogits(Tensor logits, IReadOnlyList<int> objIds, double threshold = 0) =>
        Compose(Threshold(logits, objIds, threshold), (int)(logits.shape[^1] * logits.shape[^2]));
}
