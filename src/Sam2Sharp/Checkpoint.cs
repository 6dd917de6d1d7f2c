using System.Collections;
using Sam2Sharp.Config;
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
    /// <summary>The state dict of an official checkpoint (<c>torch.save({"model": state_dict})</c>) or of a bare state dict.</summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        if (!File.Exists(path)) throw new Sam2Exception($"checkpoint not found: {path}");
        Hashtable top;
        try
        {
            using var fs = File.OpenRead(path);
            top = PyTorchUnpickler.UnpickleStateDict(fs);
        }
        catch (Exception e) when (e is not Sam2Exception)
        {
            throw new Sam2Exception($"checkpoint {path} is not a readable PyTorch file ({e.GetType().Name}: {FirstLine(e.Message)})", e);
        }
        // The official layout nests the state dict under "model"; a bare state dict is accepted too.
        IDictionary sd = top["model"] as IDictionary ?? top;
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in sd)
        {
            if (e.Key is not string k || e.Value is not Tensor t)
                throw new Sam2Exception($"checkpoint {path}: entry '{e.Key}' is not a tensor (expected {{\"model\": state_dict}})");
            result[k] = t;
        }
        if (result.Count == 0) throw new Sam2Exception($"checkpoint {path} holds no tensors");
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
        var own = module.state_dict();
        var missing = own.Keys.Where(k => !sd.ContainsKey(k)).ToList();
        var unexpected = sd.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var wrong = own.Keys.Where(sd.ContainsKey)
            .Where(k => !own[k].shape.SequenceEqual(sd[k].shape))
            .Select(k => $"{k} {Shape(sd[k])} (model has {Shape(own[k])})").ToList();
        if (missing.Count + unexpected.Count + wrong.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"missing keys: {List(missing)}");
            if (unexpected.Count > 0) parts.Add($"unexpected keys: {List(unexpected)}");
            if (wrong.Count > 0) parts.Add($"wrong shapes: {List(wrong)}");
            throw new Sam2Exception($"checkpoint {source} does not fit the config: {string.Join("; ", parts)}");
        }
        using var _ = no_grad();
        foreach (var (k, t) in own) t.copy_(sd[k].to_type(t.dtype));
    }

    static string Shape(Tensor t) => "[" + string.Join(",", t.shape) + "]";

    static string List(List<string> items) =>
        string.Join(", ", items.Take(5)) + (items.Count > 5 ? $" and {items.Count - 5} more" : "");

    /// <summary>
    /// The built-in config that matches a state dict's keys and shapes (trunk width and depth,
    /// SAM 2.1 keys), for loading an official checkpoint without naming its config.
    /// </summary>
    public static Sam2Config InferConfig(IReadOnlyDictionary<string, Tensor> sd, string source)
    {
        if (!sd.TryGetValue("image_encoder.trunk.patch_embed.proj.weight", out var pe))
            throw new Sam2Exception($"checkpoint {source}: no image_encoder.trunk.patch_embed.proj.weight, so it is not a SAM 2 model");
        long embed = pe.shape[0];
        int blocks = sd.Keys.Where(k => k.StartsWith("image_encoder.trunk.blocks.", StringComparison.Ordinal))
            .Select(k => int.Parse(k.Split('.')[3])).DefaultIfEmpty(-1).Max() + 1;
        string v = sd.ContainsKey("no_obj_embed_spatial") ? "sam2.1" : "sam2";
        foreach (var size in new[] { "t", "s", "b+", "l" })
        {
            var c = BuiltinConfigs.Get($"{v}_hiera_{size}");
            if (c.ImageEncoder.Trunk.EmbedDim == embed && c.ImageEncoder.Trunk.Stages.Sum() == blocks) return c;
        }
        throw new Sam2Exception($"checkpoint {source} (trunk width {embed}, {blocks} blocks) matches no built-in config; name the config (a built-in name or a YAML file)");
    }
}
