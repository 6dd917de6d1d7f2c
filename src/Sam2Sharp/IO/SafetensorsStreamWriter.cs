using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Sam2Sharp.IO;

/// <summary>
/// Writes float32 tensors to a safetensors file without holding them all in memory: their bytes go to a
/// scratch file as they come, and <see cref="Finish"/> writes the header (which needs every shape) then the data.
/// </summary>
public sealed class SafetensorsStreamWriter(string scratchPath) : IDisposable
{
    readonly FileStream data = new(scratchPath, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
    readonly List<(string Name, long[] Shape, long Begin, long End)> entries = new();

    /// <summary>Appends a tensor (any dtype, stored as float32).</summary>
    public void Add(string name, Tensor t)
    {
        using var scope = NewDisposeScope();
        var c = t.to_type(ScalarType.Float32).contiguous().cpu();
        var values = c.data<float>().ToArray();
        long begin = data.Position;
        data.Write(MemoryMarshal.AsBytes(values.AsSpan()));
        entries.Add((name, c.shape.ToArray(), begin, data.Position));
    }

    /// <summary>Writes the complete file to <paramref name="path"/>.</summary>
    public void Finish(string path)
    {
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        SafetensorsFormat.WriteHeader(f, entries);
        data.Flush();
        data.Position = 0;
        data.CopyTo(f);
    }

    /// <summary>Closes the scratch file; it is its owner's to delete.</summary>
    public void Dispose() => data.Dispose();
}
