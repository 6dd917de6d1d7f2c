using System.Globalization;
using System.Security.Cryptography;
using Sam2Sharp.Imaging;
using Sam2Sharp.IO;
using Sam2Sharp.Modeling;
using static TorchSharp.torch;

namespace Sam2Sharp;

/// <summary>
/// An image's embedding saved to disk (safetensors): the image embedding and the decoder's
/// high-resolution features, with the model (name and a fingerprint of its weights), the precision,
/// the model's image size, the image's size and a SHA-256 of its pixels, so that clicks can be
/// answered later without the encoder, and never against another model or image.
/// </summary>
public static class ImageEmbeddingFile
{
    const string Format = "sam2sharp-image-embedding/1";

    /// <summary>Writes the embedding of the image set on <paramref name="predictor"/> (<paramref name="image"/>) to <paramref name="path"/>, replacing it whole.</summary>
    public static void Save(Sam2ImagePredictor predictor, RgbImage image, string path)
    {
        if (!predictor.IsImageSet || predictor.IsBatch) throw new InvalidOperationException("Save needs one image set with SetImage(...).");
        var (h, w) = predictor.OriginalSizes[0];
        if (h != image.Height || w != image.Width) throw new ArgumentException("the image is not the one set on the predictor", nameof(image));
        var m = predictor.Model;
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["model"] = m.Config.Name,
            ["weights"] = WeightsFingerprint(m),
            ["precision"] = PrecisionName(m.Precision),
            ["model_image_size"] = m.ImageSize.ToString(CultureInfo.InvariantCulture),
            ["image_height"] = h.ToString(CultureInfo.InvariantCulture),
            ["image_width"] = w.ToString(CultureInfo.InvariantCulture),
            ["image_sha256"] = ImageHash(image),
        };
        var tensors = new List<(string, Tensor)> { ("image_embed", predictor.ImageEmbedding) };
        tensors.AddRange(predictor.HighResFeatures.Select((t, i) => ($"high_res_feat{i}", t)));
        // Written beside the target and moved over it, so a failed write never leaves half a file under its name.
        string partial = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.partial-{Guid.NewGuid():N}");
        try
        {
            SafetensorsFormat.Write(partial, tensors, metadata);
            File.Move(partial, path, overwrite: true);
        }
        finally { if (File.Exists(partial)) File.Delete(partial); }
    }

    /// <summary>
    /// Sets the embedding saved in <paramref name="path"/> on <paramref name="predictor"/> (no encoder run).
    /// With <paramref name="image"/>, it must be the image that was embedded.
    /// </summary>
    /// <exception cref="Sam2Exception">the file is unreadable, or was made by another model, precision or image.</exception>
    public static void Load(Sam2ImagePredictor predictor, string path, RgbImage? image = null)
    {
        if (!File.Exists(path)) throw new Sam2Exception($"embedding file not found: {path}");
        Dictionary<string, Tensor> tensors;
        Dictionary<string, string> meta;
        try { (tensors, meta) = SafetensorsFormat.Read(path); }
        catch (Exception e) when (e is InvalidDataException or IOException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new Sam2Exception($"embedding {path} is not a readable safetensors file ({e.Message.Split('\n')[0]})");
        }
        string Meta(string key) => meta.TryGetValue(key, out var v) ? v
            : throw new Sam2Exception($"embedding {path}: metadata '{key}' is missing (not written by sam2 embed)");
        if (Meta("format") != Format) throw new Sam2Exception($"embedding {path}: format '{Meta("format")}' is not {Format}");
        var m = predictor.Model;
        if (Meta("precision") != PrecisionName(m.Precision))
            throw new Sam2Exception($"embedding {path} was made in {Meta("precision")}, this model runs in {PrecisionName(m.Precision)} (give --precision {Meta("precision")})");
        if (Meta("weights") != WeightsFingerprint(m) || Meta("model_image_size") != m.ImageSize.ToString(CultureInfo.InvariantCulture))
            throw new Sam2Exception($"embedding {path} was made by model {Meta("model")} (weights {Meta("weights")}), not by this one ({m.Config.Name}, weights {WeightsFingerprint(m)})");
        int h = int.Parse(Meta("image_height"), CultureInfo.InvariantCulture), w = int.Parse(Meta("image_width"), CultureInfo.InvariantCulture);
        if (image is not null && (image.Height != h || image.Width != w || ImageHash(image) != Meta("image_sha256")))
            throw new Sam2Exception($"embedding {path} was made from another image ({w}×{h}, sha256 {Meta("image_sha256")[..12]}…)");
        if (!tensors.TryGetValue("image_embed", out var embed)) throw new Sam2Exception($"embedding {path} has no tensor named image_embed");
        long side = m.ImageSize / m.Config.BackboneStride;
        if (!embed.shape.SequenceEqual(new long[] { 1, m.HiddenDim, side, side }))
            throw new Sam2Exception($"embedding {path}: image_embed is [{string.Join(",", embed.shape)}], expected [1,{m.HiddenDim},{side},{side}]");
        var highRes = new List<Tensor>();
        for (int i = 0; tensors.TryGetValue($"high_res_feat{i}", out var t); i++) highRes.Add(t);
        // The decoder's high-resolution inputs: C/8 channels at 4× and C/4 at 2× the embedding's side.
        long[][] expected = m.Config.UseHighResFeaturesInSam
            ? [[1, m.HiddenDim / 8, side * 4, side * 4], [1, m.HiddenDim / 4, side * 2, side * 2]] : [];
        if (highRes.Count != expected.Length)
            throw new Sam2Exception($"embedding {path} has {highRes.Count} high-resolution features, this model uses {expected.Length}");
        for (int i = 0; i < expected.Length; i++)
            if (!highRes[i].shape.SequenceEqual(expected[i]))
                throw new Sam2Exception($"embedding {path}: high_res_feat{i} is [{string.Join(",", highRes[i].shape)}], expected [{string.Join(",", expected[i])}]");
        predictor.SetEmbedding(embed, highRes, (h, w));
    }

    /// <summary>The precision as the CLI and the metadata name it.</summary>
    public static string PrecisionName(Sam2Precision p) => p == Sam2Precision.BFloat16 ? "bf16" : "fp32";

    /// <summary>SHA-256 (hex) of the image's size and RGB pixels.</summary>
    public static string ImageHash(RgbImage image)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(BitConverter.GetBytes(image.Width));
        sha.AppendData(BitConverter.GetBytes(image.Height));
        sha.AppendData(image.Data);
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>
    /// A fingerprint of the weights: SHA-256 over every parameter's name, shape and first values
    /// (as float32), so another checkpoint of the same config gives another fingerprint, cheaply.
    /// </summary>
    public static string WeightsFingerprint(Sam2Base model)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, p) in model.state_dict())
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            foreach (var s in p.shape) sha.AppendData(BitConverter.GetBytes(s));
            var head = p.flatten()[TensorIndex.Slice(0, 16)].to_type(ScalarType.Float32).cpu().data<float>().ToArray();
            foreach (var v in head) sha.AppendData(BitConverter.GetBytes(v));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }
}
