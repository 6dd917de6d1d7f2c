using System.CommandLine;
using Sam2Sharp.IO;
using Sam2Sharp.Imaging;

namespace Sam2Sharp.Cli.Commands;

/// <summary><c>sam2 embed</c>: runs the image encoder once and saves the embedding for <c>sam2 image --embedding</c>.</summary>
public static class EmbedCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var image = new Option<string>("--image") { Description = "The image (PNG, JPEG, …).", Required = true };
        var output = new Option<string>("--output") { Description = "The embedding file (safetensors, with the model, precision, sizes and the image's SHA-256).", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace the output file if it exists (never a symbolic link, FIFO or device)." };
        var cmd = new Command("embed", "Save an image's embedding, so that prompts on it need no encoder run (sam2 image --embedding FILE).");
        model.AddTo(cmd);
        cmd.Options.Add(image);
        cmd.Options.Add(output);
        cmd.Options.Add(force);
        cmd.SetAction(r => Cli.Run(() =>
        {
            var img = RgbImage.Load(r.GetValue(image)!);
            string path = r.GetValue(output)!;
            // Checked and locked before the model is loaded; written under a temporary name and moved into place at the end.
            using var staged = StagedOutputs.Open([new OutputTarget("--output", path, Overwrite: r.GetValue(force))]);
            using var sam = model.Load(r);
            using var predictor = new Sam2ImagePredictor(sam);
            predictor.SetImage(img);
            try { predictor.SaveEmbedding(staged.File(path), img); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new Sam2Exception($"writing the embedding failed: {e.Message}", e);
            }
            staged.Commit();
            Console.WriteLine($"embedding of {img.Width}×{img.Height} written to {path} ({ImageEmbeddingFile.PrecisionName(sam.Precision)})");
            return 0;
        }));
        return cmd;
    }
}
