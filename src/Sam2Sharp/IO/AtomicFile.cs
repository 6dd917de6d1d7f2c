namespace Sam2Sharp.IO;

/// <summary>Small files replaced whole: written beside the target, flushed to disk, then renamed over it, so a reader
/// (or a run after a crash) sees the old content or the new, never a part.</summary>
internal static class AtomicFile
{
    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, byte[] bytes)
    {
        string temp = path + $".partial-{Environment.ProcessId}";
        using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None)) { f.Write(bytes); f.Flush(flushToDisk: true); }
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Writes <paramref name="text"/> (UTF-8) to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, string text) => Write(path, System.Text.Encoding.UTF8.GetBytes(text));
}
