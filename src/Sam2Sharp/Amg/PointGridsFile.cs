using System.Text.Json;
using Sam2Sharp.IO;

namespace Sam2Sharp.Amg;

/// <summary>The reference's <c>point_grids</c> as a file: a JSON list of grids, each a list of [x, y] in [0, 1].</summary>
public static class PointGridsFile
{
    /// <summary>A grid file larger than this is refused unread.</summary>
    public const int MaxFileBytes = 64 << 20;

    /// <summary>Point grids from a JSON file: a list of grids, each a list of [x, y] in [0, 1].</summary>
    public static List<double[,]> Read(string path)
    {
        string text;
        using (var fs = InputFiles.OpenRegular(path, "point grids"))
            text = InputFiles.ReadText(fs, MaxFileBytes, $"point grids file {path}");
        try
        {
            using var doc = JsonDocument.Parse(text);
            var grids = new List<double[,]>();
            foreach (var g in doc.RootElement.EnumerateArray())
            {
                var pts = g.EnumerateArray().Select(p => p.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToList();
                var grid = new double[pts.Count, 2];
                for (int i = 0; i < pts.Count; i++)
                {
                    if (pts[i].Length != 2) throw new Sam2Exception($"point grids file {path}: every point must be [x, y]");
                    grid[i, 0] = pts[i][0]; grid[i, 1] = pts[i][1];
                }
                grids.Add(grid);
            }
            return grids;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new Sam2Exception($"point grids file {path} is not a JSON list of lists of [x, y] points ({e.Message.Split('\n')[0]})");
        }
    }
}
