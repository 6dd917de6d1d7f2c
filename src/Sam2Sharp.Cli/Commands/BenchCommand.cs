using System.CommandLine;
using System.Globalization;
using Sam2Sharp.Amg;
using Sam2Sharp.Benchmarking;
using Sam2Sharp.Imaging;
using Sam2Sharp.Modeling;
using static TorchSharp.torch;

namespace Sam2Sharp.Cli.Commands;

/// <summary>
/// <c>sam2 bench</c>: this machine's matrix-product peaks, then medians of the image encoder and the
/// per-prompt decoder time (and the automatic mask generator), each with its GFLOP/s and fraction of the peak.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var model = new ModelOptions(checkpointRequired: false);
        var runs = new Option<int>("--runs") { Description = "Timed runs per figure (after one warm-up).", DefaultValueFactory = _ => 5 };
        var threads = new Option<int?>("--threads") { Description = "Torch intra-op threads (default: torch's choice)." };
        var amg = new Option<bool>("--amg") { Description = "Also time the automatic mask generator at its default options (32×32 points) on a 1024×1024 image." };
        var amgKeepAll = new Option<bool>("--amg-keep-all") { Description = "Also time it keeping everything (pred_iou_thresh 0, stability_score_thresh 0): the worst case." };
        var decoderBatch = new Option<int>("--decoder-batch") { Description = "Also time the decoder on a batch of this many point prompts on a grid (one automatic-mask batch is 64), without upscaling.", DefaultValueFactory = _ => 0 };
        var profile = new Option<bool>("--profile") { Description = "Also print the time of each module (encoder stages, neck, decoder, mask upscaling, generator stages), with GFLOP/s where counted." };
        var cmd = new Command("bench", "Time the image encoder and the mask decoder, and with --amg the automatic mask generator (random weights when no checkpoint is given).");
        model.AddTo(cmd);
        foreach (var o in new Option[] { runs, threads, amg, amgKeepAll, decoderBatch, profile }) cmd.Options.Add(o);
        cmd.SetAction((r, ct) => Cli.Run(() =>
        {
            int n = r.GetValue(runs);
            if (n < 1) throw new Sam2Exception("--runs must be at least 1");
            if (r.GetValue(decoderBatch) < 0) throw new Sam2Exception("--decoder-batch must not be negative");
            SetThreads(r.GetValue(threads));
            using var sam = model.Load(r, defaultConfig: "sam2.1_hiera_t");
            double peak = PrintMachine(sam.Precision);
            int s = sam.ImageSize;
            var image = SyntheticImage(s, s);
            using var predictor = new Sam2ImagePredictor(sam);

            var encoderMs = Stats.MedianMs(n, () => predictor.SetImage(image), ct);
            var point = new float[,] { { s / 2f, s / 2f } };
            void Decode() => predictor.Predict(point, [1], multimaskOutput: true).Dispose();
            var decoderMs = Stats.MedianMs(n, Decode, ct);
            Print("config", sam.Config.Name, "");
            Print("image_size", I(s), "px");
            PrintRate("image_encoder", encoderMs, EncoderFlops.Count(sam.Config), peak);
            PrintRate("decoder_per_prompt", decoderMs, ModuleFlops.Decoder(sam.Config), peak);
            if (r.GetValue(profile))
            {
                PrintProfile(Profile(n, () => predictor.SetImage(image), ct), SectionFlops(sam.Config, 1), peak);
                PrintProfile(Profile(n, Decode, ct), SectionFlops(sam.Config, 1), peak);
            }
            if (r.GetValue(decoderBatch) is > 0 and var nb)
            {
                using var grid = GridPoints(nb, s, sam.Device);
                using var labels = ones(nb, 1, ScalarType.Int32, sam.Device);
                void DecodeBatch() { var (m, iou) = predictor.DecodeTorch(grid, labels, multimaskOutput: true); m.Dispose(); iou.Dispose(); }
                var batchMs = Stats.MedianMs(n, DecodeBatch, ct);
                PrintRate($"decoder_batch{nb}", batchMs, nb * ModuleFlops.Decoder(sam.Config), peak);
                if (r.GetValue(profile))
                    PrintProfile(Profile(n, DecodeBatch, ct), SectionFlops(sam.Config, nb), peak, $"batch{nb}.");
            }
            var amgRuns = new List<(string Name, AmgOptions Options)>();
            if (r.GetValue(amg)) amgRuns.Add(("amg", new AmgOptions()));
            if (r.GetValue(amgKeepAll)) amgRuns.Add(("amg_keep_all", new AmgOptions { PredIouThresh = 0, StabilityScoreThresh = 0 }));
            foreach (var (name, options) in amgRuns)
            {
                var amgImage = SyntheticImage(1024, 1024);
                using var generator = new Sam2AutomaticMaskGenerator(sam, options);
                int count = 0;
                var amgMs = Stats.MedianMs(n, () => count = generator.Generate(amgImage, cancellationToken: ct).Count, ct);
                int prompts = generator.PointCount;
                double flops = generator.CropCount * EncoderFlops.Count(sam.Config) + prompts * ModuleFlops.Decoder(sam.Config);
                PrintRate(name, amgMs, flops, peak);
                Print($"{name}_masks", I(count), "masks");
                if (r.GetValue(profile))
                    PrintProfile(Profile(1, () => generator.Generate(amgImage, cancellationToken: ct), ct), SectionFlops(sam.Config, prompts), peak, name + ".");
            }
            Print("runs", I(n), "runs");
            return 0;
        }, ct, () => "nothing was written"));
        return cmd;
    }

    /// <summary><paramref name="n"/> points of a square grid over an <paramref name="s"/>-pixel image (model frame), n×1×2, on <paramref name="device"/>.</summary>
    static Tensor GridPoints(int n, int s, Device device)
    {
        int side = (int)Math.Ceiling(Math.Sqrt(n));
        var xy = new float[n * 2];
        for (int i = 0; i < n; i++) { xy[2 * i] = (i % side + 0.5f) * s / side; xy[2 * i + 1] = (i / side + 0.5f) * s / side; }
        return tensor(xy, new long[] { n, 1, 2 }, device: device);
    }

    internal static void SetThreads(int? threads)
    {
        if (threads is not { } th) return;
        if (th < 1) throw new Sam2Exception("--threads must be at least 1");
        set_num_threads(th);
    }

    /// <summary>Prints the CPU, its bf16/AMX flags, the threads and both matrix-product peaks; returns the peak of <paramref name="precision"/>.</summary>
    internal static double PrintMachine(Sam2Precision precision)
    {
        var cpu = CpuInfo.Current;
        Print("cpu", cpu.Name, "");
        Print("cpu_flags", cpu.Flags, "");
        Print("threads", I(get_num_threads()), "threads");
        Print("precision", precision == Sam2Precision.BFloat16 ? "bf16" : "fp32", "");
        Print("huge_pages", HugePages.Requested ? "requested" : "off", $"(kernel: {HugePages.KernelMode ?? "unknown"})");
        // Without bf16 instructions libtorch's bf16 product is a slow fallback (a 4096² product takes minutes): a
        // 1024² product says as much.
        int bf16Size = cpu.HasFastBf16 ? 4096 : 1024;
        double fp32 = MatmulPeak.Measure(ScalarType.Float32), bf16 = MatmulPeak.Measure(ScalarType.BFloat16, bf16Size);
        Print("matmul_peak_fp32_gflops", F(fp32), "GFLOP/s");
        Print("matmul_peak_bf16_gflops", F(bf16), "GFLOP/s");
        if (!cpu.HasFastBf16) Print("matmul_peak_bf16_size", I(bf16Size), "(no bf16 instructions: a smaller product)");
        return precision == Sam2Precision.BFloat16 ? bf16 : fp32;
    }

    /// <summary>name_ms, name_gflop, name_gflops and name_fraction_of_peak.</summary>
    internal static void PrintRate(string name, double ms, double flops, double peak)
    {
        Print($"{name}_ms", F(ms), "ms");
        Print($"{name}_gflop", F(flops / 1e9), "GFLOP");
        double gflops = flops / 1e9 / (ms / 1000);
        Print($"{name}_gflops", F(gflops), "GFLOP/s");
        Print($"{name}_fraction_of_peak", F(gflops / peak), "");
    }

    /// <summary>Section totals of <paramref name="passes"/> runs of <paramref name="action"/>, per run.</summary>
    internal static IReadOnlyList<(string Name, double Ms, long Calls)> Profile(int passes, Action action, CancellationToken cancellationToken)
    {
        void Passes() { for (int i = 0; i < passes; i++) { cancellationToken.ThrowIfCancellationRequested(); action(); } }
        Profiler.Start();
        try { Passes(); }
        finally { Profiler.Stop(); }
        Profiler.Start();
        try { Passes(); }
        catch { Profiler.Stop(); throw; }
        return Profiler.Stop().Select(x => (x.Name, x.Ms / passes, x.Calls / passes)).ToList();
    }

    /// <summary>profile_SECTION_ms per run, and its GFLOP/s and fraction of the peak where the section's FLOPs are counted.</summary>
    internal static void PrintProfile(IReadOnlyList<(string Name, double Ms, long Calls)> sections, IReadOnlyDictionary<string, double> flops,
        double peak, string prefix = "")
    {
        foreach (var (name, ms, calls) in sections)
        {
            Print($"profile_{prefix}{name}_ms", F(ms), $"ms ({I(calls)} calls)");
            if (flops.TryGetValue(name, out var f) && ms > 0)
            {
                double gflops = f / 1e9 / (ms / 1000);
                Print($"profile_{prefix}{name}_gflops", F(gflops), "GFLOP/s");
                Print($"profile_{prefix}{name}_fraction_of_peak", F(gflops / peak), "");
            }
        }
    }

    /// <summary>FLOPs of the profiled sections for one image with <paramref name="prompts"/> decoded prompts.</summary>
    internal static Dictionary<string, double> SectionFlops(Config.Sam2Config config, int prompts)
    {
        var (patch, stages, neck) = EncoderFlops.Breakdown(config);
        var d = new Dictionary<string, double>
        {
            ["encoder"] = EncoderFlops.Count(config),
            ["encoder.patch_embed"] = patch,
            ["encoder.neck"] = neck,
            ["decoder"] = prompts * ModuleFlops.Decoder(config),
        };
        for (int i = 0; i < stages.Length; i++) d[$"encoder.stage{i + 1}"] = stages[i];
        return d;
    }

    internal static void Print(string name, string value, string unit) => Console.WriteLine($"{name} {value} {unit}".TrimEnd());

    internal static string F(double v) => v.ToString("F2", CultureInfo.InvariantCulture);

    internal static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>A smooth colour gradient with a disc, so the encoder sees a plausible image.</summary>
    internal static RgbImage SyntheticImage(int w, int h)
    {
        var data = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int i = (y * w + x) * 3;
                bool disc = Math.Pow(x - w / 2.0, 2) + Math.Pow(y - h / 2.0, 2) < Math.Pow(w / 5.0, 2);
                data[i] = (byte)(disc ? 230 : 255 * x / w);
                data[i + 1] = (byte)(disc ? 40 : 255 * y / h);
                data[i + 2] = (byte)(disc ? 40 : 128);
            }
        return new RgbImage(w, h, data);
    }
}
