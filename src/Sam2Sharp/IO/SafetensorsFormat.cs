using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace Sam2Sharp.IO;

/// <summary>
/// The safetensors layout (8-byte little-endian header length, JSON header, raw data) for float32
/// tensors with an optional string <c>__metadata__</c> map.
/// </summary>
public static class SafetensorsFormat
{
    /// <summary>Writes the length and the JSON header for F32 entries (name, shape, byte range in the data), padded to 8 bytes.</summary>
    public static void WriteHeader(Stream output, IEnumerable<(string Name, long[] Shape, long Begin, long End)> entries,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is not null)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
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
        output.Write(BitConverter.GetBytes((ulong)ms.Length)); // little-endian on every .NET platform we run on
        ms.Position = 0;
        ms.CopyTo(output);
    }

    /// <summary>Writes float32 copies of <paramref name="tensors"/> and the metadata to <paramref name="path"/>.</summary>
    public static void Write(string path, IReadOnlyList<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var blobs = new List<float[]>();
        var entries = new List<(string, long[], long, long)>();
        long offset = 0;
        foreach (var (name, t) in tensors)
        {
            using var c = t.to_type(ScalarType.Float32).contiguous().cpu();
            var values = c.data<float>().ToArray();
            blobs.Add(values);
            entries.Add((name, c.shape.ToArray(), offset, offset + 4L * values.Length));
            offset += 4L * values.Length;
        }
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        WriteHeader(f, entries, metadata);
        foreach (var b in blobs) f.Write(MemoryMarshal.AsBytes(b.AsSpan()));
    }

    /// <summary>The F32 tensors and the metadata of a file; an <see cref="InvalidDataException"/> names what is wrong.</summary>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) throw new InvalidDataException("too short for a safetensors file");
        ulong headerLen = BitConverter.ToUInt64(bytes, 0);
        if (headerLen > (ulong)(bytes.Length - 8)) throw new InvalidDataException("the header length runs past the end of the file");
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLen));
        long dataStart = 8 + (long)headerLen;
        var tensors = new Dictionary<string, Tensor>();
        var metadata = new Dictionary<string, string>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__")
            {
                foreach (var m in p.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString() ?? "";
                continue;
            }
            string dtype = p.Value.GetProperty("dtype").GetString() ?? "";
            if (dtype != "F32") throw new InvalidDataException($"tensor '{p.Name}' is {dtype}; only F32 is read");
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray();
            var off = p.Value.GetProperty("data_offsets").EnumerateArray().Select(v => v.GetInt64()).ToArray();
            long count = shape.Aggregate(1L, (a, b) => a * b);
            if (off.Length != 2 || off[1] - off[0] != 4 * count || dataStart + off[1] > bytes.Length)
                throw new InvalidDataException($"tensor '{p.Name}': its data range does not fit its shape or the file");
            var values = MemoryMarshal.Cast<byte, float>(bytes.AsSpan((int)(dataStart + off[0]), (int)(4 * count))).ToArray();
            tensors[p.Name] = tensor(values, shape, device: CPU); // read on the CPU; a consumer moves it where it is used
        }
        return (tensors, metadata);
    }
}
