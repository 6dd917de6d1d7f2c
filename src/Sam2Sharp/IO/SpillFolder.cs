using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.IO;

/// <summary>
/// A private temporary folder for tensors moved out of memory (a long video's memory bank): made on first
/// use, deleted with everything in it on <see cref="Dispose"/>. Each tensor is one file of its raw bytes.
/// </summary>
internal sealed class SpillFolder : IDisposable
{
    private string? dir;

    /// <summary>The folder, once something was written.</summary>
    public string? Path => dir;

    /// <summary>Writes the tensor's bytes to a new file; the tensor itself is left as it is.</summary>
    public SpilledTensor Write(Tensor t)
    {
        try
        {
            if (dir is null)
            {
                var d = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sam2sharp-" + Guid.NewGuid().ToString("N"));
                Directory.CreateDirectory(d);
                dir = d;
            }
            var file = System.IO.Path.Combine(dir, Guid.NewGuid().ToString("N") + ".bin");
            using (var cpu = t.device_type == DeviceType.CPU ? null : t.cpu())
                File.WriteAllBytes(file, (cpu ?? t).bytes.ToArray());
            return new SpilledTensor(file, t.shape, t.dtype, t.device);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Sam2Exception($"cannot move tracking memories to the temporary folder {dir ?? System.IO.Path.GetTempPath()}: {e.Message}");
        }
    }

    public void Dispose()
    {
        if (dir is not null && Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        dir = null;
    }
}

/// <summary>A tensor held in a file of a <see cref="SpillFolder"/>; each <see cref="Load"/> reads a fresh copy.</summary>
internal sealed class SpilledTensor(string file, long[] shape, ScalarType dtype, Device device)
{
    /// <summary>A copy of the tensor, in the current dispose scope.</summary>
    public Tensor Load()
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Sam2Exception($"cannot read back tracking memories from {file}: {e.Message}");
        }
        var t = empty(shape, dtype);
        t.bytes = bytes;
        return device.type == DeviceType.CPU ? t : t.to(device);
    }

    /// <summary>Removes the file (nothing if already gone).</summary>
    public void Delete()
    {
        if (File.Exists(file)) File.Delete(file);
    }
}
