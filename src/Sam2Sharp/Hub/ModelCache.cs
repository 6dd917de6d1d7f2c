using System.Globalization;
using System.Security.Cryptography;

namespace Sam2Sharp.Hub;

/// <summary>
/// The folder of downloaded checkpoints. Beside each verified file <c>NAME.pt</c> lies
/// <c>NAME.pt.sha256</c> ("hash size"), written once its hash was checked, so that using a cached
/// file costs a size check, not a re-hash. Downloads in progress are <c>NAME.pt.part</c>, and the
/// empty <c>.locks/NAME.pt.lock</c> serialises processes fetching the same model (it stays; see <see cref="FileLock"/>).
/// </summary>
public sealed class ModelCache(string folder)
{
    /// <summary>The cache folder (it may not exist yet).</summary>
    public string Folder { get; } = Path.GetFullPath(folder);

    /// <summary><c>$SAM2_HOME</c>, else the platform's cache folder + <c>sam2sharp</c>
    /// (<c>$XDG_CACHE_HOME</c> or <c>~/.cache</c>; <c>%LOCALAPPDATA%</c> on Windows; <c>~/Library/Caches</c> on macOS).</summary>
    public static string DefaultFolder()
    {
        if (Environment.GetEnvironmentVariable("SAM2_HOME") is { Length: > 0 } home) return Path.GetFullPath(home);
        var user = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (OperatingSystem.IsWindows()) return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "sam2sharp");
        if (OperatingSystem.IsMacOS()) return Path.Combine(user, "Library", "Caches", "sam2sharp");
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        return Path.Combine(xdg is { Length: > 0 } && Path.IsPathRooted(xdg) ? xdg : Path.Combine(user, ".cache"), "sam2sharp");
    }

    /// <summary>Where the model's checkpoint is (or will be) cached.</summary>
    public string PathOf(ModelEntry e) => Path.Combine(Folder, e.FileName);

    internal string PartPath(ModelEntry e) => PathOf(e) + ".part";
    internal string LockPath(ModelEntry e) => Path.Combine(Folder, ".locks", e.FileName + ".lock");
    string RecordPath(ModelEntry e) => PathOf(e) + ".sha256";

    /// <summary>
    /// True when the file is cached and known good: its recorded hash is the entry's and its size the
    /// recorded (and expected) one. Nothing is hashed here.
    /// </summary>
    public bool IsVerified(ModelEntry e)
    {
        var file = new FileInfo(PathOf(e));
        if (!file.Exists || (e.Size is { } size && file.Length != size)) return false;
        return ReadRecord(e) is var (hash, length) && hash == e.Sha256 && length == file.Length;
    }

    /// <summary>Re-hashes the cached file; a good one gets its record, a bad one is removed. Null: not cached.</summary>
    public VerifyResult? Verify(ModelEntry e, CancellationToken cancellationToken = default)
    {
        var path = PathOf(e);
        if (!File.Exists(path)) return null;
        var actual = HashFile(path, cancellationToken);
        long length = new FileInfo(path).Length;
        bool ok = actual == e.Sha256 && (e.Size is null || e.Size == length);
        if (ok) WriteRecord(e, actual, length);
        else Remove(e);
        return new VerifyResult(e, path, ok, actual, length);
    }

    /// <summary>Removes the model's file, its record and an unfinished download; false if none was there.</summary>
    public bool Remove(ModelEntry e)
    {
        bool any = false;
        foreach (var p in new[] { PathOf(e), RecordPath(e), PartPath(e) })
            if (File.Exists(p)) { File.Delete(p); any = true; }
        return any;
    }

    /// <summary>Moves a verified download into place, after its record (a crash in between leaves only a stale record).</summary>
    internal void Commit(ModelEntry e, string partPath, string hash, long length)
    {
        WriteRecord(e, hash, length);
        File.Move(partPath, PathOf(e), overwrite: true);
    }

    /// <summary>Lowercase hex SHA-256 of a file.</summary>
    public static string HashFile(string path, CancellationToken cancellationToken = default)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buf = new byte[1 << 20];
        for (int n; (n = s.Read(buf)) > 0;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            sha.AppendData(buf, 0, n);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    (string Hash, long Length)? ReadRecord(ModelEntry e)
    {
        try
        {
            var parts = File.ReadAllText(RecordPath(e)).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return parts.Length == 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? (parts[0], n) : null;
        }
        catch (IOException) { return null; }
    }

    void WriteRecord(ModelEntry e, string hash, long length)
    {
        var tmp = RecordPath(e) + ".tmp";
        File.WriteAllText(tmp, $"{hash} {length.ToString(CultureInfo.InvariantCulture)}\n");
        File.Move(tmp, RecordPath(e), overwrite: true);
    }
}
