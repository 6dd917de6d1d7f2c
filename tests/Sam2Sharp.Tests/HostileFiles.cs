using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Sam2Sharp.Tests;

/// <summary>Hostile and broken input files, made by the tests (nothing large is committed).</summary>
public static class HostileFiles
{
    /// <summary>A pickle as torch.save writes it: <c>{"model": {key: tensor}}</c>, float32 storages "0", "1", … (protocol 2).</summary>
    public static byte[] StateDictPickle(IReadOnlyList<(string Key, long[] Shape)> tensors)
    {
        var p = new Pickle();
        p.Op(0x80, 2).Op('}').Str("model").Op('}').Op('(');
        for (int i = 0; i < tensors.Count; i++)
        {
            var (key, shape) = tensors[i];
            long numel = shape.Aggregate(1L, (a, b) => a * b);
            var stride = new long[shape.Length];
            for (int d = shape.Length - 1, s = 1; d >= 0; s *= (int)Math.Min(shape[d], int.MaxValue), d--) stride[d] = s;
            p.Str(key).Global("torch._utils", "_rebuild_tensor_v2").Op('(')
                .Op('(').Str("storage").Global("torch", "FloatStorage").Str(i.ToString()).Str("cpu").Long(numel).Op('t').Op('Q')
                .Long(0).Tuple(shape).Tuple(stride).Op(0x89).Op(')').Op('t').Op('R');
        }
        return p.Op('u').Op('s').Op('.').Bytes();
    }

    /// <summary>A pickle that names a Python global (e.g. <c>os.system</c>) and calls it, as a malicious checkpoint does.</summary>
    public static byte[] CallingPickle(string module, string name) =>
        new Pickle().Op(0x80, 2).Global(module, name).Str("echo pwned").Op(0x85).Op('R').Op('.').Bytes();

    /// <summary>torch.save(None).</summary>
    public static byte[] NonePickle() => new Pickle().Op(0x80, 2).Op('N').Op('.').Bytes();

    /// <summary>A torch.save zip: archive/data.pkl and archive/data/&lt;i&gt; with <paramref name="storageBytes"/>[i] zero bytes
    /// (streamed into the deflater, so a huge declared storage makes a small file).</summary>
    public static void WriteTorchZip(string path, byte[] pickle, params long[] storageBytes)
    {
        using var fs = File.Create(path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        using (var s = zip.CreateEntry("archive/data.pkl", CompressionLevel.NoCompression).Open()) s.Write(pickle);
        var zeros = new byte[1 << 20];
        for (int i = 0; i < storageBytes.Length; i++)
        {
            using var s = zip.CreateEntry($"archive/data/{i}", CompressionLevel.SmallestSize).Open();
            for (long left = storageBytes[i]; left > 0; left -= zeros.Length) s.Write(zeros, 0, (int)Math.Min(left, zeros.Length));
        }
    }

    /// <summary>A PNG whose header claims <paramref name="width"/>×<paramref name="height"/> with one tiny data chunk.</summary>
    public static byte[] PngHeaderBomb(int width, int height)
    {
        var ms = new MemoryStream();
        ms.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; ihdr[9] = 0; // 8-bit gray
        Chunk(ms, "IHDR", ihdr);
        var row = new MemoryStream();
        using (var z = new ZLibStream(row, CompressionLevel.Optimal, leaveOpen: true)) z.Write(new byte[1 + Math.Min(width, 4096)]);
        Chunk(ms, "IDAT", row.ToArray());
        Chunk(ms, "IEND", []);
        return ms.ToArray();
    }

    static void Chunk(Stream s, string type, byte[] body)
    {
        var head = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(head, body.Length);
        Encoding.ASCII.GetBytes(type, head.AsSpan(4));
        s.Write(head);
        s.Write(body);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32([.. head.AsSpan(4).ToArray(), .. body]));
        s.Write(crc);
    }

    static uint Crc32(byte[] data)
    {
        uint c = 0xFFFFFFFF;
        foreach (var b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return c ^ 0xFFFFFFFF;
    }

    sealed class Pickle
    {
        readonly MemoryStream ms = new();
        public Pickle Op(char op) { ms.WriteByte((byte)op); return this; }
        public Pickle Op(int op, params byte[] args) { ms.WriteByte((byte)op); ms.Write(args); return this; }
        public Pickle Str(string s)
        {
            var b = Encoding.UTF8.GetBytes(s);
            var len = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(len, b.Length);
            ms.WriteByte((byte)'X'); ms.Write(len); ms.Write(b);
            return this;
        }
        public Pickle Global(string module, string name) { ms.WriteByte((byte)'c'); ms.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n")); return this; }
        public Pickle Long(long v)
        {
            var b = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(b, v);
            ms.WriteByte(0x8a); ms.WriteByte(8); ms.Write(b);
            return this;
        }
        public Pickle Tuple(long[] values) { Op('('); foreach (var v in values) Long(v); return Op('t'); }
        public byte[] Bytes() => ms.ToArray();
    }
}
