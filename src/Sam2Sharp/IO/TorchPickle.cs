using System.Buffers.Binary;
using System.Text;
using static TorchSharp.torch;

namespace Sam2Sharp.IO;

/// <summary>A storage a pickled tensor points at: its dtype, archive key and element count.</summary>
internal sealed record StorageRef(ScalarType DType, string Key, long Numel);

/// <summary>A pickled tensor as declared: storage, offset, shape and stride; no data is read.</summary>
internal sealed record TensorRef(StorageRef Storage, long Offset, long[] Shape, long[] Stride);

/// <summary>
/// The pickle inside a <c>torch.save</c> archive, run by a small stack machine that knows only what a
/// state dict needs (dicts, lists, tuples, numbers, strings, <c>OrderedDict</c>, tensor rebuilds and
/// storages). Any other Python global is refused when it is named, so no object but these is ever
/// made, and tensors come back as <see cref="TensorRef"/> declarations, to be checked before reading.
/// </summary>
internal static class TorchPickle
{
    sealed class Global(string module, string name)
    {
        public string Module { get; } = module;
        public string Name { get; } = name;
    }

    /// <summary>A pickled dict or OrderedDict, in insertion order.</summary>
    internal sealed class PyDict : Dictionary<object, object?>;

    static readonly object Mark = new();

    static readonly Dictionary<string, ScalarType> Storages = new()
    {
        ["DoubleStorage"] = ScalarType.Float64, ["FloatStorage"] = ScalarType.Float32, ["HalfStorage"] = ScalarType.Float16,
        ["BFloat16Storage"] = ScalarType.BFloat16, ["LongStorage"] = ScalarType.Int64, ["IntStorage"] = ScalarType.Int32,
        ["ShortStorage"] = ScalarType.Int16, ["CharStorage"] = ScalarType.Int8, ["ByteStorage"] = ScalarType.Byte,
        ["BoolStorage"] = ScalarType.Bool,
    };

    const int MaxDims = 16;

    /// <summary>Runs the pickle; <paramref name="where"/> prefixes messages.</summary>
    /// <exception cref="Sam2Exception">a malformed pickle or a Python object that is not part of a state dict.</exception>
    public static object? Load(byte[] data, string where)
    {
        var stack = new List<object?>();
        var marks = new Stack<int>();
        var memo = new Dictionary<long, object?>();
        int pos = 0;

        Sam2Exception Bad(string why) => new($"{where}: {why} (pickle byte {pos})");
        ReadOnlySpan<byte> Take(long n)
        {
            if (n < 0 || n > data.Length - pos) throw Bad("the pickle ends early");
            var s = data.AsSpan(pos, (int)n);
            pos += (int)n;
            return s;
        }
        object? Pop()
        {
            if (stack.Count == 0 || stack[^1] == Mark) throw Bad("the pickle pops an empty stack");
            var v = stack[^1]; stack.RemoveAt(stack.Count - 1); return v;
        }
        object? Top() => stack.Count > 0 && stack[^1] != Mark ? stack[^1] : throw Bad("the pickle reads an empty stack");
        List<object?> PopToMark()
        {
            if (marks.Count == 0) throw Bad("the pickle has no mark");
            int m = marks.Pop();
            var items = stack.GetRange(m + 1, stack.Count - m - 1);
            stack.RemoveRange(m, stack.Count - m);
            return items;
        }
        string Line()
        {
            int end = Array.IndexOf(data, (byte)'\n', pos, Math.Min(256, data.Length - pos));
            if (end < 0) throw Bad("a global name is not terminated");
            var s = Encoding.ASCII.GetString(data, pos, end - pos);
            pos = end + 1;
            return s;
        }
        void Push(object? v) => stack.Add(v);
        void SetItems(object? target, List<object?> kv)
        {
            if (target is not PyDict d) throw Bad("the pickle sets items on something that is not a dict");
            for (int i = 0; i + 1 < kv.Count; i += 2) d[kv[i] ?? throw Bad("a dict key is None")] = kv[i + 1];
        }

        while (true)
        {
            if (pos >= data.Length) throw Bad("the pickle ends without STOP");
            byte op = data[pos++];
            switch (op)
            {
                case 0x80: Take(1); break;                                        // PROTO
                case 0x95: Take(8); break;                                        // FRAME
                case (byte)'.': return stack.Count == 1 ? stack[0] : throw Bad("the pickle stops with a malformed stack");
                case (byte)'(': marks.Push(stack.Count); stack.Add(Mark); break;
                case (byte)'}': Push(new PyDict()); break;
                case (byte)']': Push(new List<object?>()); break;
                case (byte)')': Push(Array.Empty<object?>()); break;
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break;
                case 0x89: Push(false); break;
                case (byte)'K': Push((long)Take(1)[0]); break;
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;
                case 0x8a:                                                        // LONG1
                {
                    int n = Take(1)[0];
                    if (n > 8) throw Bad("an integer is wider than 64 bits");
                    var b = Take(n);
                    long v = 0;
                    for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
                    if (n > 0 && n < 8 && (b[n - 1] & 0x80) != 0) v -= 1L << (8 * n);
                    Push(v);
                    break;
                }
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;
                case (byte)'X': Push(Encoding.UTF8.GetString(Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))))); break;
                case 0x8c: Push(Encoding.UTF8.GetString(Take(Take(1)[0]))); break; // SHORT_BINUNICODE
                case 0x8d: Push(Encoding.UTF8.GetString(Take((long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(Take(8)), int.MaxValue)))); break;
                case (byte)'T': Push(Encoding.Latin1.GetString(Take(BinaryPrimitives.ReadInt32LittleEndian(Take(4))))); break;
                case (byte)'U': Push(Encoding.Latin1.GetString(Take(Take(1)[0]))); break;
                case (byte)'B': Push(Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))).ToArray()); break;
                case (byte)'C': Push(Take(Take(1)[0]).ToArray()); break;
                case (byte)'q': memo[Take(1)[0]] = Top(); break;
                case (byte)'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Top(); break;
                case 0x94: memo[memo.Count] = Top(); break;                       // MEMOIZE
                case (byte)'h': Push(memo.TryGetValue(Take(1)[0], out var g1) ? g1 : throw Bad("the pickle reads an unset memo")); break;
                case (byte)'j': Push(memo.TryGetValue(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)), out var g4) ? g4 : throw Bad("the pickle reads an unset memo")); break;
                case (byte)'c': Push(Resolve(Line(), Line(), where)); break;
                case 0x93:                                                        // STACK_GLOBAL
                {
                    var name = Pop() as string; var module = Pop() as string;
                    if (name is null || module is null) throw Bad("a global is not named by strings");
                    Push(Resolve(module, name, where));
                    break;
                }
                case (byte)'t': Push(PopToMark().ToArray()); break;
                case 0x85: Push(new[] { Pop() }); break;
                case 0x86: { var b = Pop(); var a = Pop(); Push(new[] { a, b }); break; }
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new[] { a, b, c }); break; }
                case (byte)'l': Push(PopToMark()); break;
                case (byte)'d': { var d = new PyDict(); SetItems(d, PopToMark()); Push(d); break; }
                case (byte)'a': { var v = Pop(); (Top() as List<object?> ?? throw Bad("append to something that is not a list")).Add(v); break; }
                case (byte)'e': { var items = PopToMark(); (Top() as List<object?> ?? throw Bad("append to something that is not a list")).AddRange(items); break; }
                case (byte)'s': { var v = Pop(); var k = Pop(); SetItems(Top(), [k, v]); break; }
                case (byte)'u': { var kv = PopToMark(); SetItems(Top(), kv); break; }
                case (byte)'R':
                case 0x81:                                                        // REDUCE, NEWOBJ
                {
                    var args = Pop() as object?[] ?? throw Bad("a call's arguments are not a tuple");
                    var f = Pop() as Global ?? throw Bad("the pickle calls something that is not a known function");
                    Push(Call(f, args, Bad));
                    break;
                }
                case (byte)'b':                                                   // BUILD: an OrderedDict's _metadata, ignored
                {
                    Pop();
                    if (Top() is not (PyDict or TensorRef)) throw Bad("the pickle sets the state of an unsupported object");
                    break;
                }
                case (byte)'Q':                                                   // BINPERSID
                    Push(Storage(Pop() as object?[] ?? throw Bad("a persistent id is not a tuple"), Bad));
                    break;
                default: throw Bad($"unsupported pickle opcode 0x{op:x2}");
            }
        }
    }

    static Global Resolve(string module, string name, string where)
    {
        bool ok = (module, name) switch
        {
            ("collections", "OrderedDict") => true,
            ("torch._utils", "_rebuild_tensor_v2" or "_rebuild_tensor" or "_rebuild_parameter") => true,
            ("torch", _) => Storages.ContainsKey(name),
            _ => false,
        };
        if (!ok) throw new Sam2Exception($"{where}: the checkpoint contains a Python object that is not a tensor (`{module}.{name}`); refusing to load it");
        return new Global(module, name);
    }

    static object? Call(Global f, object?[] a, Func<string, Sam2Exception> bad)
    {
        switch (f.Name)
        {
            case "OrderedDict": return new PyDict();
            case "_rebuild_parameter": return a.Length >= 1 && a[0] is TensorRef t ? t : throw bad("a parameter holds no tensor");
            case "_rebuild_tensor_v2" or "_rebuild_tensor":
                if (a.Length < 4 || a[0] is not StorageRef s || a[1] is not long offset || a[2] is not object?[] size || a[3] is not object?[] stride)
                    throw bad("a tensor is rebuilt from unexpected arguments");
                var shape = Longs(size, bad); var strides = Longs(stride, bad);
                if (shape.Length != strides.Length) throw bad("a tensor's shape and stride differ in length");
                return new TensorRef(s, offset, shape, strides);
            default: throw bad($"{f.Module}.{f.Name} is not callable");
        }
    }

    static long[] Longs(object?[] items, Func<string, Sam2Exception> bad)
    {
        if (items.Length > MaxDims) throw bad($"a tensor has more than {MaxDims} dimensions");
        return items.Select(i => i is long l && l >= 0 ? l : throw bad("a tensor's size or stride is not a non-negative integer")).ToArray();
    }

    static StorageRef Storage(object?[] pid, Func<string, Sam2Exception> bad)
    {
        if (pid.Length < 5 || pid[0] is not "storage" || pid[1] is not Global g || pid[2] is not string key || pid[4] is not long numel || numel < 0)
            throw bad("a storage reference is malformed");
        return new StorageRef(Storages.TryGetValue(g.Name, out var t) ? t : throw bad($"{g.Name} is not a storage type"), key, numel);
    }
}
