using System.Buffers.Binary;
using System.IO.Compression;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.IO;

/// <summary>A tensor as a checkpoint declares it, known before any of its data is read.</summary>
public sealed record TensorInfo(ScalarType DType, long[] Shape)
{
    /// <summary>The number of elements (the product of <see cref="Shape"/>).</summary>
    public long Numel => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A checkpoint opened for reading: the <c>torch.save</c> zip format (<c>{"model": state_dict}</c> or a bare state
/// dict) or safetensors. Opening reads only the declarations (names, dtypes, shapes), within caps, so that a caller
/// can check them against a model before a byte of tensor data is inflated; <see cref="Read"/> then reads one
/// tensor, refusing non-finite values by name.
/// </summary>
public sealed class CheckpointReader : IDisposable
{
    /// <summary>At most this many elements in one tensor (the largest SAM 2 tensor has about 5 million).</summary>
    public const long MaxTensorElements = 1L << 28;

    /// <summary>At most this many declared bytes over all tensors (sam2.1_hiera_large is 0.9 GB).</summary>
    public const long MaxTotalBytes = 8L << 30;

    const int MaxPickleBytes = 64 << 20, MaxHeaderBytes = 64 << 20;

    readonly Stream stream;
    readonly bool leaveOpen;
    readonly ZipArchive? zip;
    readonly Dictionary<string, Func<byte[]>> readers = new(StringComparer.Ordinal);
    readonly Dictionary<string, Func<Tensor, Tensor>> views = new(StringComparer.Ordinal);

    /// <summary>The file or stream name used in messages.</summary>
    public string Name { get; }

    /// <summary>The state dict's tensors, by key, as declared.</summary>
    public IReadOnlyDictionary<string, TensorInfo> Tensors { get; }

    /// <summary>Opens a checkpoint file.</summary>
    /// <exception cref="Sam2Exception">the file is missing, a folder, not a checkpoint, or declares something refused.</exception>
    /// <param name="path">The <c>.pt</c> file.</param>
    /// <param name="kind">What the file is to the caller, for messages ("checkpoint", "mask input", …).</param>
    public static CheckpointReader Open(string path, string kind = "checkpoint") => new(InputFiles.OpenRegular(path, kind), path, false, kind);

    /// <summary>Opens a checkpoint from a seekable stream; <paramref name="name"/> names it in messages.</summary>
    public static CheckpointReader Open(Stream stream, string name, bool leaveOpen = false)
    {
        if (!stream.CanSeek || !stream.CanRead) throw new Sam2Exception($"checkpoint {name}: the stream must be readable and seekable");
        return new CheckpointReader(stream, name, leaveOpen, "checkpoint");
    }

    readonly string kind;

    CheckpointReader(Stream stream, string name, bool leaveOpen, string kind)
    {
        this.stream = stream; this.leaveOpen = leaveOpen; Name = name; this.kind = kind;
        try
        {
            var head = new byte[9];
            stream.Position = 0;
            int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            stream.Position = 0;
            var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
            if (n == 0) throw Error("is empty");
            if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4)
                zip = OpenTorchZip(tensors);
            else if (head[0] == 0x80)
                throw Error("is a plain Python pickle, not a PyTorch zip checkpoint (a legacy-format torch.save file: re-save it with a current PyTorch, or as safetensors)");
            else if (n == 9 && head[8] == '{' && BinaryPrimitives.ReadUInt64LittleEndian(head) <= (ulong)(stream.Length - 8))
                OpenSafetensors(BinaryPrimitives.ReadUInt64LittleEndian(head), tensors);
            else
                throw Error("is not a checkpoint: neither a PyTorch zip archive nor a safetensors file");
            if (tensors.Count == 0) throw Error("holds no tensors");
            long total = 0;
            foreach (var (k, t) in tensors) total += t.Numel * ElementSize(t.DType);
            if (total > MaxTotalBytes) throw Error($"declares {total >> 20} MB of tensors (at most {MaxTotalBytes >> 20} MB)");
            Tensors = tensors;
        }
        // InvalidOperationException: System.Text.Json on a header string that is not UTF-8 (found by fuzzing).
        catch (Exception e) when (e is InvalidDataException or IOException or JsonException or NotSupportedException or InvalidOperationException or FormatException)
        {
            Dispose();
            throw Error($"is damaged or not a checkpoint ({e.Message.Split('\n')[0]})", e);
        }
        catch { Dispose(); throw; }
    }

    Sam2Exception Error(string what, Exception? inner = null) => new($"{kind} {Name} {what}", inner);

    ZipArchive OpenTorchZip(Dictionary<string, TensorInfo> tensors)
    {
        var archive = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        var pkl = archive.Entries.FirstOrDefault(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1)
            ?? throw Error("is a zip archive without data.pkl, so not a torch.save checkpoint");
        string prefix = pkl.FullName[..^"data.pkl".Length];
        if (pkl.Length > MaxPickleBytes) throw Error($"has a {pkl.Length >> 20} MB data.pkl (at most {MaxPickleBytes >> 20} MB)");
        byte[] bytes;
        using (var s = pkl.Open()) bytes = InputFiles.ReadCapped(s, MaxPickleBytes, $"checkpoint {Name} data.pkl");
        var top = TorchPickle.Load(bytes, $"{kind} {Name}");
        var sd = StateDict(top);
        var entries = new Dictionary<string, ZipArchiveEntry>(StringComparer.Ordinal);
        foreach (var e in archive.Entries)
            if (!entries.TryAdd(e.FullName, e)) throw Error($"has two archive entries named {e.FullName}");
        foreach (var (key, value) in sd)
        {
            if (value is not TensorRef t) throw Error($"entry '{key}' is {Describe(value)}, not a tensor");
            var info = new TensorInfo(t.Storage.DType, t.Shape);
            Check(key, info);
            if (info.Numel > 0 && (!FitsStorage(t) || t.Storage.Numel > MaxTensorElements))
                throw Error($"tensor '{key}' reaches past its storage ({t.Storage.Numel} elements)");
            if (!entries.TryGetValue($"{prefix}data/{t.Storage.Key}", out var entry))
                throw Error($"tensor '{key}' has no data in the archive ({prefix}data/{t.Storage.Key})");
            long need = t.Storage.Numel * ElementSize(t.Storage.DType);
            if (entry.Length != need) throw Error($"tensor '{key}': the archive holds {entry.Length} bytes, its storage needs {need}");
            tensors[key] = info;
            readers[key] = () => ReadExactly(entry, need);
            views[key] = storage => storage.as_strided(t.Shape, t.Stride, t.Offset);
        }
        return archive;
    }

    /// <summary>The last element the view reaches lies inside the storage (checked: a huge stride must not wrap around).</summary>
    static bool FitsStorage(TensorRef t)
    {
        try
        {
            if (t.Offset < 0) return false;
            long extent = checked(t.Offset + 1);
            for (int i = 0; i < t.Shape.Length; i++) extent = checked(extent + checked((t.Shape[i] - 1) * t.Stride[i]));
            return extent <= t.Storage.Numel;
        }
        catch (OverflowException) { return false; }
    }

    Dictionary<string, object?> StateDict(object? top)
    {
        if (top is not TorchPickle.PyDict d) throw Error($"holds {Describe(top)}, not a state dict");
        // The official layout nests the state dict under "model"; a bare state dict is accepted too.
        var sd = d.TryGetValue("model", out var m) ? m as TorchPickle.PyDict ?? throw Error($"has a 'model' entry that is {Describe(m)}, not a state dict") : d;
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (k, v) in sd) result[k as string ?? throw Error($"has a key that is {Describe(k)}, not a name")] = v;
        return result;
    }

    static string Describe(object? v) => v switch
    {
        null => "None",
        TensorRef => "a tensor",
        TorchPickle.PyDict => "a dict",
        string => "a string",
        long or double or bool => $"the number {v}",
        object?[] => "a tuple",
        List<object?> => "a list",
        _ => "a Python object",
    };

    void OpenSafetensors(ulong headerLength, Dictionary<string, TensorInfo> tensors)
    {
        if (headerLength > MaxHeaderBytes) throw Error($"has a {headerLength >> 20} MB safetensors header (at most {MaxHeaderBytes >> 20} MB)");
        var header = new byte[headerLength];
        stream.Position = 8;
        stream.ReadExactly(header);
        long dataStart = 8 + (long)headerLength, dataLength = stream.Length - dataStart;
        using var doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Error("has a safetensors header that is not an object");
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var e = p.Value;
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("dtype", out var dt) || !e.TryGetProperty("shape", out var sh)
                || !e.TryGetProperty("data_offsets", out var off) || sh.ValueKind != JsonValueKind.Array || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
                throw Error($"tensor '{p.Name}' has a malformed safetensors entry");
            var dtype = SafetensorsType(dt.GetString()) ?? throw Error($"tensor '{p.Name}' has an unsupported dtype '{dt}'");
            var shape = sh.EnumerateArray().Select(x => x.TryGetInt64(out var v) && v >= 0 ? v : throw Error($"tensor '{p.Name}' has a bad shape")).ToArray();
            var info = new TensorInfo(dtype, shape);
            Check(p.Name, info);
            long begin = off[0].GetInt64(), end = off[1].GetInt64(), need = info.Numel * ElementSize(dtype);
            if (begin < 0 || end < begin || end > dataLength || end - begin != need)
                throw Error($"tensor '{p.Name}' has data offsets [{begin}, {end}] that do not fit its shape or the file");
            tensors[p.Name] = info;
            readers[p.Name] = () =>
            {
                var buf = new byte[need];
                stream.Position = dataStart + begin;
                stream.ReadExactly(buf);
                return buf;
            };
            views[p.Name] = storage => storage.view(shape);
        }
    }

    static ScalarType? SafetensorsType(string? s) => s switch
    {
        "F64" => ScalarType.Float64, "F32" => ScalarType.Float32, "F16" => ScalarType.Float16, "BF16" => ScalarType.BFloat16,
        "I64" => ScalarType.Int64, "I32" => ScalarType.Int32, "I16" => ScalarType.Int16, "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte, "BOOL" => ScalarType.Bool, _ => null,
    };

    void Check(string key, TensorInfo t)
    {
        double numel = t.Shape.Aggregate(1.0, (a, b) => a * b); // in double: a product of huge dims must not wrap
        if (numel > MaxTensorElements) throw Error($"tensor '{key}' declares shape [{string.Join(",", t.Shape)}], more than {MaxTensorElements} elements");
    }

    internal static long ElementSize(ScalarType t) => t switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };

    static byte[] ReadExactly(ZipArchiveEntry entry, long length)
    {
        var buf = new byte[length];
        using var s = entry.Open();
        s.ReadExactly(buf);
        return buf;
    }

    /// <summary>Reads one tensor (CPU, its stored dtype). Floating tensors with NaN or infinite values are refused by name.</summary>
    public Tensor Read(string key)
    {
        if (!readers.TryGetValue(key, out var read)) throw Error($"has no tensor '{key}'");
        var info = Tensors[key];
        byte[] bytes;
        try { bytes = read(); }
        catch (Exception e) when (e is InvalidDataException or IOException) { throw Error($"tensor '{key}' cannot be read ({e.Message})", e); }
        using var scope = NewDisposeScope();
        var storage = empty(bytes.Length / ElementSize(info.DType), info.DType);
        if (bytes.Length > 0) storage.bytes = bytes;
        var t = views[key](storage).contiguous();
        if (t.is_floating_point() && t.numel() > 0 && !t.isfinite().all().item<bool>())
            throw Error($"tensor '{key}' contains NaN or infinite values");
        return t.MoveToOuterDisposeScope();
    }

    /// <summary>Closes the archive, and the stream unless it was opened with <c>leaveOpen</c>.</summary>
    public void Dispose()
    {
        zip?.Dispose();
        if (!leaveOpen) stream.Dispose();
    }
}
