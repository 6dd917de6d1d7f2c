using Sam2Sharp.IO;
using Sam2Sharp.Batch;

namespace Sam2Sharp.Cluster;

/// <summary>
/// The files a submission writes beside a batch's outputs (in <see cref="TaskReport.FolderIn"/>): the sbatch script, the
/// Kubernetes manifest. A file of the same name with other content is someone's earlier submission: it is kept unless
/// the caller says to replace it.
/// </summary>
public static class SubmissionFile
{
    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/> (a temporary file renamed into place).</summary>
    /// <returns>False when the file already held exactly this content (nothing written).</returns>
    /// <exception cref="Sam2Exception">the file exists with other content and <paramref name="replace"/> is false, or is not a regular file.</exception>
    public static bool Write(string path, string content, bool replace)
    {
        var info = new FileInfo(path);
        if (info.Exists || info.LinkTarget is not null)
        {
            if (info.LinkTarget is not null || info.Attributes.HasFlag(FileAttributes.Directory))
                throw new Sam2Exception($"{path}: exists and is not a regular file; not replaced");
            if (File.ReadAllText(path) == content) return false;
            if (!replace)
                throw new Sam2Exception($"{path}: exists with other content (an earlier submission); remove it or pass --force to replace it");
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        AtomicFile.Write(path, content);
        return true;
    }
}
