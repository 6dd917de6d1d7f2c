using System.Diagnostics;
using Sam2Sharp.Video;
using Sam2Sharp.Config;
using Sam2Sharp.IO;
using Sam2Sharp.Imaging;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary>
/// A seeded mutation fuzzer over every parser of user files: each target gets a corpus of good inputs and the
/// issue-12 cases, mutated (bit flips, interesting bytes, inserted, deleted, repeated and cut ranges) for a bounded
/// time. Every input must either parse or end as a <see cref="Sam2Exception"/>; any other exception, or an input
/// taking more than 10 s, fails the test with the seed and iteration that reproduce it.
/// CI runs 3 s per target; longer: <c>SAM2_FUZZ_SECONDS=600 SAM2_FUZZ_SEED=7 dotnet test tests/Sam2Sharp.Tests -c Release
/// --filter FullyQualifiedName~FuzzTests</c> (docs/reliability.md).
/// </summary>
public sealed class FuzzTests : IDisposable
{
    static double Seconds => double.TryParse(Environment.GetEnvironmentVariable("SAM2_FUZZ_SECONDS"), out var s) ? s : 3;
    static int Seed => int.TryParse(Environment.GetEnvironmentVariable("SAM2_FUZZ_SEED"), out var s) ? s : 12;
    static string Micro => Path.Combine(Golden.SharedDir, "golden", "sam2.1-micro");

    readonly string dir = TestCli.TempDir("sam2-fuzz-");
    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void ConfigLoader_() => Fuzz("config", [File.ReadAllBytes(Path.Combine(Micro, "config.yaml")), "model: [[[["u8.ToArray(), "model: {a: &x 1, b: *x}"u8.ToArray()],
        b => ConfigLoader.LoadYaml(new MemoryStream(b), "fuzz.yaml"));

    [Fact]
    public void CheckpointReader_()
    {
        // Small official-layout checkpoints: a torch.save zip (our writer, as the reference's) and safetensors.
        var pt = Path.Combine(dir, "small.pt");
        using (var m = Tiny()) Checkpoint.Save(m, pt);
        var st = Path.Combine(dir, "small.safetensors");
        Safetensors.SaveStateDict(st, new Dictionary<string, TorchSharp.torch.Tensor> { ["a"] = ones(3, 4), ["b"] = arange(6).to_type(ScalarType.Int64) });
        var evil = Path.Combine(dir, "evil.pt");
        HostileFiles.WriteTorchZip(evil, HostileFiles.CallingPickle("os", "system"));
        var declared = Path.Combine(dir, "declared.pt");
        HostileFiles.WriteTorchZip(declared, HostileFiles.StateDictPickle([("w", [2, 3]), ("b", [3])]), 24, 12);
        Fuzz("checkpoint", [File.ReadAllBytes(pt), File.ReadAllBytes(st), File.ReadAllBytes(evil), File.ReadAllBytes(declared), HostileFiles.NonePickle()], b =>
        {
            using var r = CheckpointReader.Open(new MemoryStream(b), "fuzz.pt");
            foreach (var k in r.Tensors.Keys) r.Read(k).Dispose();
        });
    }

    static TorchSharp.torch.nn.Module Tiny() => TorchSharp.torch.nn.Linear(3, 2);

    [Fact]
    public void ImageDecoder_()
    {
        var png = new MemoryStream();
        PalettePng.WriteIndexed(png, Enumerable.Range(0, 64).Select(i => (byte)(i % 3)).ToArray(), 8, 8, PalettePng.DavisPalette);
        var rgbPath = Path.Combine(dir, "rgb.png");
        new RgbImage(6, 5, Enumerable.Range(0, 90).Select(i => (byte)(i * 13)).ToArray()).SavePng(rgbPath);
        var jpg = File.ReadAllBytes(Path.Combine(Golden.SharedDir, "samples", "videos", "bedroom", "00000.jpg"));
        var limits = new ImageLimits { MaxPixels = 4_000_000 };
        Fuzz("image", [png.ToArray(), File.ReadAllBytes(rgbPath), jpg, HostileFiles.PngHeaderBomb(60000, 60000)],
            b => RgbImage.Decode(b, "fuzz", limits));
    }

    [Fact]
    public void PngCodec_()
    {
        var png = new MemoryStream();
        PalettePng.WriteIndexed(png, Enumerable.Range(0, 64).Select(i => (byte)(i % 3)).ToArray(), 8, 8, PalettePng.DavisPalette);
        var gray = new MemoryStream();
        PalettePng.WriteGray(gray, Enumerable.Range(0, 30).Select(i => (byte)(i * 8)).ToArray(), 6, 5);
        Fuzz("png", [png.ToArray(), gray.ToArray(), HostileFiles.PngHeaderBomb(60000, 60000), HostileFiles.PngHeaderBomb(5000, 5000)],
            b => PalettePng.Decode(b, "fuzz.png"));
    }

    [Fact]
    public void StepsFileParser_()
    {
        var steps = File.ReadAllBytes(Path.Combine(Golden.RepoRoot, "docs", "examples", "bedroom_steps.json"));
        var path = Path.Combine(dir, "steps.json");
        using var video = new FakeVideo();
        Fuzz("steps", [steps, """{"steps": [{"op": "add_mask", "frame": 0, "obj_id": 1, "mask": "m.png"}]}"""u8.ToArray()], b =>
        {
            File.WriteAllBytes(path, b);
            VideoSteps.Load(path, video);
        });
    }

    sealed class FakeVideo : IFrameSource
    {
        public int Count => 200;
        public int Width => 960;
        public int Height => 540;
        public string Name(int index) => index.ToString("D5");
        public RgbImage Read(int index) => new(Width, Height);
        public void Dispose() { }
    }

    static readonly byte[] Interesting = [0, 1, 0x7f, 0x80, 0xff, (byte)'[', (byte)'{', (byte)'-', (byte)'9', (byte)'\n'];

    /// <summary>One mutation of <paramref name="input"/>.</summary>
    static byte[] Mutate(byte[] input, Random rng)
    {
        var b = new List<byte>(input);
        int n = 1 + rng.Next(4);
        for (int k = 0; k < n; k++)
        {
            int at = b.Count == 0 ? 0 : rng.Next(b.Count), len = Math.Min(b.Count - at, 1 + rng.Next(16));
            switch (rng.Next(7))
            {
                case 0 when b.Count > 0: b[at] ^= (byte)(1 << rng.Next(8)); break;
                case 1 when b.Count > 0: b[at] = Interesting[rng.Next(Interesting.Length)]; break;
                case 2: b.InsertRange(at, Enumerable.Range(0, 1 + rng.Next(8)).Select(_ => (byte)rng.Next(256))); break;
                case 3 when b.Count > 0: b.RemoveRange(at, len); break;
                case 4 when b.Count > 0: b.InsertRange(at, b.GetRange(at, len)); break;
                case 5 when b.Count > 0: b.RemoveRange(at, b.Count - at); break;
                case 6 when b.Count > 3: // a 32-bit field set to a large or negative value (sizes, lengths)
                    int v = rng.Next(3) switch { 0 => int.MaxValue, 1 => -1, _ => rng.Next() };
                    int o = rng.Next(b.Count - 3);
                    for (int j = 0; j < 4; j++) b[o + j] = (byte)(v >> (8 * (rng.Next(2) == 0 ? j : 3 - j)));
                    break;
            }
        }
        return [.. b];
    }

    /// <summary>Runs the seeds, then mutations for <see cref="Seconds"/>; records how many inputs ran.</summary>
    static void Fuzz(string name, byte[][] corpus, Action<byte[]> target)
    {
        var rng = new Random(Seed);
        var watch = Stopwatch.StartNew();
        int runs = 0, refused = 0;
        for (int i = 0; i < corpus.Length || watch.Elapsed.TotalSeconds < Seconds; i++)
        {
            var input = i < corpus.Length ? corpus[i] : Mutate(corpus[rng.Next(corpus.Length)], rng);
            var task = Task.Run(() =>
            {
                using var scope = NewDisposeScope();
                target(input);
            });
            try
            {
                if (!task.Wait(TimeSpan.FromSeconds(10)))
                    Assert.Fail($"fuzz {name}: input {i} (seed {Seed}) ran longer than 10 s");
            }
            catch (AggregateException e) when (e.InnerException is Sam2Exception) { refused++; }
            catch (AggregateException e)
            {
                var path = Path.Combine(Path.GetTempPath(), $"sam2-fuzz-{name}-{Seed}-{i}.bin");
                File.WriteAllBytes(path, input);
                Assert.Fail($"fuzz {name}: input {i} (seed {Seed}, saved to {path}) threw {e.InnerException!.GetType().Name}: {e.InnerException.Message.Split('\n')[0]} at {string.Join(" < ", (e.InnerException.StackTrace ?? "").Split('\n').Take(4).Select(l => l.Trim()))}");
            }
            runs++;
        }
        Console.WriteLine($"fuzz {name}: {runs} inputs in {watch.Elapsed.TotalSeconds:F1} s, {refused} refused with a message, seed {Seed}");
        Assert.True(runs > corpus.Length, $"fuzz {name}: no mutated input ran");
    }
}
