using System.Text.Json;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>
/// The golden folders: every folder under ../shared/golden (beside the repository) and every
/// folder named in SAM2_GOLDEN_DIRS (':'-separated). A new folder is a new test, no code change.
/// </summary>
public static class Golden
{
    /// <summary>Builds a model from its config as written (no inference post-processing), as training does.</summary>
    public static readonly Sam2ModelOptions AsWritten = new() { ApplyPostprocessing = false };

    public static string RepoRoot { get; } = FindRepoRoot();

    static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Sam2Sharp.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root (Sam2Sharp.slnx) not found");
    }

    public static string SharedDir => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    public static IReadOnlyList<string> Folders()
    {
        var list = new List<string>();
        var root = Path.Combine(SharedDir, "golden");
        if (Directory.Exists(root))
            list.AddRange(Directory.GetDirectories(root).Where(d => File.Exists(Path.Combine(d, "cases.json"))).OrderBy(d => d, StringComparer.Ordinal));
        var extra = Environment.GetEnvironmentVariable("SAM2_GOLDEN_DIRS");
        if (!string.IsNullOrEmpty(extra))
            list.AddRange(extra.Split(':', StringSplitOptions.RemoveEmptyEntries).Select(Path.GetFullPath));
        if (list.Count == 0) throw new InvalidOperationException($"no golden folders under {root}");
        return list;
    }

    public static JsonElement Cases(string folder) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "cases.json"))).RootElement;

    /// <summary>(folder, case name) for every case of the given kind, for xunit's MemberData.</summary>
    public static IEnumerable<object[]> CasesOfKind(string kind)
    {
        foreach (var folder in Folders())
            foreach (var c in Cases(folder).GetProperty("cases").EnumerateArray())
                if (c.GetProperty("kind").GetString() == kind)
                    yield return new object[] { folder, c.GetProperty("name").GetString()! };
    }

    public static JsonElement Case(string folder, string name) =>
        Cases(folder).GetProperty("cases").EnumerateArray().First(c => c.GetProperty("name").GetString() == name);

    public static Dictionary<string, Tensor> Tensors(string file) => Safetensors.LoadStateDict(file);

    public static double MaxAbs(Tensor t) => t.abs().max().item<float>();

    public static double MaxAbsDiff(Tensor a, Tensor b) =>
        (a.to_type(float32) - b.to_type(float32)).abs().max().item<float>();

    /// <summary>IoU of two binary masks (anything > 0 is on); 1 when both are empty.</summary>
    public static double Iou(Tensor a, Tensor b)
    {
        var x = a.to_type(float32) > 0; var y = b.to_type(float32) > 0;
        double inter = (x & y).sum().item<long>(), union = (x | y).sum().item<long>();
        return union == 0 ? 1.0 : inter / union;
    }
}
