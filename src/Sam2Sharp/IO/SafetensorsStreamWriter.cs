using System.Runtime.InteropServices;
using System.Text.Json;
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
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            foreach (var (name, shape, begin, end) in entries)
            {
                w.WriteStartObject(name);
                w.WriteString("dtype", "F32");
                w.WriteStartArray("shape");
                foreach (var s in shape) w.WriteNumberValue(s);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(begin);
                w.WriteNumberValue(end);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        // The format pads the header with spaces so the data starts 8-byte aligned.
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        f.Write(BitConverter.GetBytes((ulong)ms.Length)); // little-endian on every .NET platform we run on
        ms.Position = 0;
        ms.CopyTo(f);
        data.Flush();
        data.Position = 0;
        data.CopyTo(f);
    }

    public void Dispose() => data.Dispose();
}
