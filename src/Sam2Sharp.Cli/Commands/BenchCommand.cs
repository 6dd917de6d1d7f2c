using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Sam2Sharp.Amg;
using Sam2Sharp.Benchmarking;
using Sam2Sharp.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 bench</c>: medians of the image encoder and the per-prompt decoder time, one figure a line.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var model = new ModelOptions(checkpointRequired: false);
        var runs = new Option<int>("--runs") { Description = "Timed runs per figure (after one warm-up).", DefaultValueFactory = _ => 5 };
        var threads = new Option<int?>("--threads") { Description = "Torch intra-op threads (default: torch's choice)." };
        var amg = new Option<bool>("--amg") { Description = "Also time the automatic mask generator at its default options (32×32 points) on a 1024×1024 image." };
        var cmd = new Command("bench", "Time the image encoder and the mask decoder, and with --amg the automatic mask generator (random weights when no checkpoint is given).");
        model.AddTo(cmd);
        cmd.Options.Add(runs);
        cmd.Options.Add(threads);
        cmd.Options.Add(amg);
        cmd.SetAction(r => Cli.Run(() =>
        {
            int n = r.GetValue(runs);
            if (n < 1) throw new Sam2Exception("--runs must be at least 1");
            if (r.GetValue(threads) is { } th) { if (th < 1) throw new Sam2Exception("--threads must be at least 1"); set_num_threads(th); }
            using var sam = model.Load(r, defaultConfig: "sam2.1_hiera_t");
            int s = sam.ImageSize;
            var image = SyntheticImage(s, s);
            using var predictor = new Sam2ImagePredictor(sam);

            var encoderMs = Stats.MedianMs(n, () => predictor.SetImage(image));
            var point = new float[,] { { s / 2f, s / 2f } };
            var decoderMs = Stats.MedianMs(n, () => predictor.Predict(point, [1], multimaskOutput: true).Dispose());
            double gflop = EncoderFlops.Count(sam.Config) / 1e9;
            Print("config", sam.Config.Name, "");
            Print("image_size", s.ToString(CultureInfo.InvariantCulture), "px");
            Print("image_encoder_ms", F(encoderMs), "ms");
            Print("decoder_ms_per_prompt", F(decoderMs), "ms");
            Print("threads", get_num_threads().ToString(CultureInfo.InvariantCulture), "threads");
            Print("encoder_gflop", F(gflop), "GFLOP");
            Print("encoder_gflops", F(gflop / (encoderMs / 1000)), "GFLOP/s");
            if (r.GetValue(amg))
            {
                var amgImage = SyntheticImage(1024, 1024);
                using var generator = new Sam2AutomaticMaskGenerator(sam);
                int count = 0;
                var amgMs = Stats.MedianMs(n, () => count = generator.Generate(amgImage).Count);
                Print("amg_ms", F(amgMs), "ms");
                Print("amg_masks", count.ToString(CultureInfo.InvariantCulture), "masks");
            }
            Print("runs", n.ToString(CultureInfo.InvariantCulture), "runs");
            return 0;
        }));
        return cmd;
    }

    internal static void Print(string name, string value, string unit) => Console.WriteLine($"{name} {value} {unit}".TrimEnd());

    internal static string F(double v) => v.ToString("F2", CultureInfo.InvariantCulture);

    /// <summary>A smooth colour gradient with a disc, so the encoder sees a plausible image.</summary>
    static RgbImage SyntheticImage(int w, int h)
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
