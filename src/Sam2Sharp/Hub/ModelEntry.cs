namespace Sam2Sharp.Hub;

/// <summary>
/// One checkpoint the hub can fetch by name: where it lives, what it must hash to, and the
/// config it is built with (a built-in name or a YAML path; null: inferred from the checkpoint).
/// </summary>
/// <param name="Name">The name given to <c>--model</c>; also names the cached file.</param>
/// <param name="Url">An http(s) URL of the checkpoint.</param>
/// <param name="Sha256">The SHA-256 of the file, 64 lowercase hex digits.</param>
/// <param name="Size">Its size in bytes, when known (checked before and after the download).</param>
/// <param name="Config">A built-in config name or a YAML path; null: inferred from the checkpoint's keys and shapes.</param>
public sealed record ModelEntry(string Name, Uri Url, string Sha256, long? Size = null, string? Config = null)
{
    /// <summary>The cached file's name: the model's name with the URL's extension (".pt" by default).</summary>
    public string FileName => Name + (Path.GetExtension(Url.AbsolutePath) is { Length: > 1 } ext ? ext : ".pt");
}
