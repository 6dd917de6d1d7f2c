using System.Text.Json;
using System.Text.RegularExpressions;
using Sam2Sharp.Config;

namespace Sam2Sharp.Hub;

/// <summary>
/// The models known by name: the official eight, extended or overridden by registry JSON files
/// (<c>{"models": [{"name", "url", "sha256", "size"?, "config"?}]}</c>); an entry in a file replaces a
/// built-in entry of the same name, and later files replace earlier ones.
/// </summary>
public sealed partial class ModelRegistry
{
    readonly Dictionary<string, ModelEntry> _entries = new(StringComparer.Ordinal);

    /// <summary>The official entries (under <paramref name="baseUrl"/>) followed by those of <paramref name="files"/>.</summary>
    public ModelRegistry(string? baseUrl = null, IEnumerable<string>? files = null)
    {
        foreach (var e in OfficialModels.Entries(baseUrl)) _entries[e.Name] = e;
        foreach (var f in files ?? []) foreach (var e in ReadFile(f)) _entries[e.Name] = e;
    }

    /// <summary>Every entry, official ones first, in the order they were added.</summary>
    public IReadOnlyList<ModelEntry> Entries => _entries.Values.ToList();

    /// <summary>The entry named <paramref name="name"/>; otherwise a <see cref="Sam2Exception"/> naming the closest names.</summary>
    public ModelEntry Find(string name)
    {
        if (_entries.TryGetValue(name, out var e)) return e;
        var closest = _entries.Keys.OrderBy(k => EditDistance(k.ToLowerInvariant(), name.ToLowerInvariant())).ThenBy(k => k, StringComparer.Ordinal).Take(3);
        throw new Sam2Exception($"unknown model '{name}'; closest: {string.Join(", ", closest)} (sam2 models list shows all)");
    }

    /// <summary>The entries of one registry JSON file; a bad file or entry fails with its path, entry and field.</summary>
    public static IReadOnlyList<ModelEntry> ReadFile(string path)
    {
        if (!File.Exists(path)) throw new Sam2Exception($"model registry not found: {path}");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new Sam2Exception($"model registry {path} is not valid JSON ({e.Message})"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("models", out var models) || models.ValueKind != JsonValueKind.Array)
                throw new Sam2Exception($"model registry {path}: expected an object with a \"models\" array");
            var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
            var list = new List<ModelEntry>();
            int i = 0;
            foreach (var m in models.EnumerateArray()) list.Add(ReadEntry(m, $"model registry {path}, entry {i++ + 1}", dir));
            return list;
        }
    }

    static ModelEntry ReadEntry(JsonElement m, string where, string dir)
    {
        if (m.ValueKind != JsonValueKind.Object) throw new Sam2Exception($"{where}: expected an object");
        string Text(string field, bool required)
        {
            if (!m.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
                return required ? throw new Sam2Exception($"{where}: field '{field}' is missing") : "";
            return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new Sam2Exception($"{where}: field '{field}' must be a string");
        }
        var name = Text("name", true);
        if (!SafeName().IsMatch(name)) throw new Sam2Exception($"{where}: field 'name': '{name}' must be letters, digits, '.', '_', '+' or '-' (it names the cached file)");
        where += $" ({name})";
        var url = Text("url", true);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new Sam2Exception($"{where}: field 'url': '{url}' is not an http(s) URL");
        var sha = Text("sha256", true).ToLowerInvariant();
        if (!Sha256Hex().IsMatch(sha)) throw new Sam2Exception($"{where}: field 'sha256' must be 64 hex digits");
        long? size = null;
        if (m.TryGetProperty("size", out var s) && s.ValueKind != JsonValueKind.Null)
            size = s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out var n) && n > 0 ? n
                : throw new Sam2Exception($"{where}: field 'size' must be a positive whole number of bytes");
        var config = Text("config", false);
        // A config that is not a built-in name is a YAML path, relative to the registry file.
        string? resolved = config.Length == 0 ? null : BuiltinConfigs.TryGet(config, out _) ? config : Path.GetFullPath(config, dir);
        return new ModelEntry(name, uri, sha, size, resolved);
    }

    static int EditDistance(string a, string b)
    {
        var prev = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            var cur = new int[b.Length + 1];
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            prev = cur;
        }
        return prev[b.Length];
    }

    [GeneratedRegex("^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$")]
    private static partial Regex SafeName();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Hex();
}
