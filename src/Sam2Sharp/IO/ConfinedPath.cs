namespace Sam2Sharp.IO;

/// <summary>
/// Paths that a remote user names relative to a root folder, kept inside it: no absolute path,
/// no <c>..</c>, and no symbolic link anywhere on the way that leads out of the root.
/// </summary>
public static class ConfinedPath
{
    /// <summary>The full path of <paramref name="relative"/> under <paramref name="root"/>, which must exist.</summary>
    /// <exception cref="Sam2Exception">the path is absolute, climbs out, leaves through a link, or does not exist.</exception>
    public static string Resolve(string root, string relative)
    {
        if (string.IsNullOrWhiteSpace(relative)) throw new Sam2Exception("path is empty");
        if (Path.IsPathRooted(relative) || relative.Contains('\\') || relative.Contains('\0'))
            throw new Sam2Exception($"path '{relative}' must be relative to the data folder");
        var parts = relative.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Any(p => p == ".."))
            throw new Sam2Exception($"path '{relative}' must not contain '..'");
        string rootFull = RealFromTop(Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar));
        string current = rootFull;
        foreach (var part in parts.Where(p => p != "."))
        {
            current = Path.Combine(current, part);
            if (!File.Exists(current) && !Directory.Exists(current))
                throw Sam2Exception.NotFound($"path '{relative}' does not exist under the data folder");
            // Each step is resolved through its links, so a link pointing outside is caught where it is.
            current = Real(current);
            if (!IsUnder(current, rootFull)) throw new Sam2Exception($"path '{relative}' leads outside the data folder");
        }
        return current;
    }

    static bool IsUnder(string path, string root) =>
        path == root || path.StartsWith(root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>An entry of a folder that is itself free of links: the entry, or where its link finally leads.</summary>
    static string Real(string path)
    {
        FileSystemInfo info = Directory.Exists(path) ? new DirectoryInfo(path) : new FileInfo(path);
        if (info.LinkTarget is null) return info.FullName.TrimEnd(Path.DirectorySeparatorChar) is { Length: > 0 } p ? p : info.FullName;
        var target = info.ResolveLinkTarget(returnFinalTarget: true)
            ?? throw new Sam2Exception($"'{path}' is a broken link");
        // The target's own folders may be links too: resolve them from the top.
        return RealFromTop(target.FullName);
    }

    static string RealFromTop(string full)
    {
        string? parent = Path.GetDirectoryName(full);
        if (parent is null) return full;
        return Real(Path.Combine(RealFromTop(parent), Path.GetFileName(full)));
    }
}
