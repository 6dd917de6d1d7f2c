using System.Collections;
using System.Globalization;
using Sam2Sharp.Config;
using Sam2Sharp.IO;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Sam2Sharp;

/// <summary>
/// Official SAM 2 checkpoints: <c>torch.save({"model": state_dict})</c>, a PyTorch zip archive with
/// a pickle inside. Loading is strict: every key must be there, with its shape, and nothing else.
/// </summary>
public static class Checkpoint
{
    /// <summary>Reads every tensor of a checkpoint file (torch.save zip or safetensors), within the reader's caps.</summary>
    /// <exception cref="Sam2Exception">not a checkpoint, a refused declaration or a non-finite tensor, named.</exception>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        using var reader = CheckpointReader.Open(path);
        return ReadAll(reader);
    }

    /// <summary>Reads every tensor of a checkpoint from a seekable stream.</summary>
    public static Dictionary<string, Tensor> ReadStateDict(Stream stream, string name)
    {
        using var reader = CheckpointReader.Open(stream, name, leaveOpen: true);
        return ReadAll(reader);
    }

    static Dictionary<string, Tensor> ReadAll(CheckpointReader reader)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try { foreach (var k in reader.Tensors.Keys) result[k] = reader.Read(k); }
        catch { foreach (var t in result.Values) t.Dispose(); throw; }
        return result;
    }

    /// <summary>
    /// Writes a model as <c>torch.save({"model": state_dict})</c> would (PyTorch's zip format), so that it loads
    /// here, in <c>sam2 image/video</c> and in the reference. Written to a temporary file first, then moved.
    /// </summary>
    public static void Save(nn.Module model, string path)
    {
        var sd = new Hashtable();
        foreach (var (k, t) in model.state_dict()) sd[k] = t.detach().cpu().contiguous();
        var tmp = path + ".tmp";
        using (var fs = File.Create(tmp))
            PyTorchPickler.PickleStateDict(fs, new Hashtable { ["model"] = sd });
        File.Move(tmp, path, overwrite: true);
    }

    static string FirstLine(string s) => s.Split('\n')[0];

    /// <summary>Copies a state dict into a module; missing, unexpected or wrongly shaped keys are refused by name.</summary>
    public static void LoadInto(nn.Module module, IReadOnlyDictionary<string, Tensor> sd, string source)
    {
        CheckFits(module, sd.ToDictionary(kv => kv.Key, kv => kv.Value.shape), source);
        using var _ = no_grad();
        foreach (var (k, t) in module.state_dict()) t.copy_(sd[k].to_type(t.dtype));
    }

    /// <summary>
    /// Loads a checkpoint into a module: every declared shape is checked against the module first, so a
    /// tensor that does not belong to this model is refused before its data is read; then one tensor at a time.
    /// </summary>
    public static void LoadInto(nn.Module module, CheckpointReader reader)
    {
        CheckFits(module, reader.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.Shape), reader.Name);
        using var _ = no_grad();
        foreach (var (k, t) in module.state_dict())
        {
            using var src = reader.Read(k);
            t.copy_(src.to_type(t.dtype));
        }
    }

    static void CheckFits(nn.Module module, Dictionary<string, long[]> shapes, string source)
    {
        var own = module.state_dict();
        var missing = own.Keys.Where(k => !shapes.ContainsKey(k)).ToList();
        var unexpected = shapes.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var wrong = own.Keys.Where(shapes.ContainsKey)
            .Where(k => !own[k].shape.SequenceEqual(shapes[k]))
            .Select(k => $"{k} {Shape(shapes[k])} (model has {Shape(own[k].shape)})").ToList();
        if (missing.Count + unexpected.Count + wrong.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"missing keys: {List(missing)}");
            if (unexpected.Count > 0) parts.Add($"unexpected keys: {List(unexpected)}");
            if (wrong.Count > 0) parts.Add($"wrong shapes: {List(wrong)}");
            throw new Sam2Exception($"checkpoint {source} does not fit the config: {string.Join("; ", parts)}");
        }
    }

    static string Shape(long[] shape) => "[" + string.Join(",", shape) + "]";

    static string List(List<string> items) =>
        string.Join(", ", items.Take(5)) + (items.Count > 5 ? $" and {items.Count - 5} more" : "");

    /// <summary>
    /// The built-in config that matches a state dict's keys and shapes (trunk width and depth,
    /// SAM 2.1 keys), for loading an official checkpoint without naming its config.
    /// </summary>
    public static Sam2Config InferConfig(IReadOnlyDictionary<string, Tensor> sd, string source) =>
        InferConfig(sd.ToDictionary(kv => kv.Key, kv => kv.Value.shape), source);

    /// <summary>As above, from declared shapes only (no tensor data needed). Keys that do not parse are left to the strict load.</summary>
    public static Sam2Config InferConfig(IReadOnlyDictionary<string, long[]> shapes, string source)
    {
        const string prefix = "image_encoder.trunk.blocks.";
        if (!shapes.TryGetValue("image_encoder.trunk.patch_embed.proj.weight", out var pe) || pe.Length == 0)
            throw new Sam2Exception($"checkpoint {source}: no image_encoder.trunk.patch_embed.proj.weight, so it is not a SAM 2 model");
        long embed = pe[0];
        int blocks = shapes.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
            .Select(k => k[prefix.Length..].Split('.')[0])
            .Select(i => int.TryParse(i, NumberStyles.None, CultureInfo.InvariantCulture, out var b) && b < 10000 ? b : -1)
            .DefaultIfEmpty(-1).Max() + 1;
        string v = shapes.ContainsKey("no_obj_embed_spatial") ? "sam2.1" : "sam2";
        foreach (var size in new[] { "t", "s", "b+", "l" })
        {
            var c = BuiltinConfigs.Get($"{v}_hiera_{size}");
            if (c.ImageEncoder.Trunk.EmbedDim == embed && c.ImageEncoder.Trunk.Stages.Sum() == blocks) return c;
        }
        throw new Sam2Exception($"checkpoint {source} (trunk width {embed}, {blocks} blocks) matches no built-in config; name the config (a built-in name or a YAML file)");
    }
}
