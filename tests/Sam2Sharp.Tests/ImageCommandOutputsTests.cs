using Sam2Sharp.Cli.Commands;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary><c>sam2 image</c> outputs: never an existing file replaced without --force, never a non-regular one, no
/// two outputs on one path, and an unwritable folder found before the model is loaded.</summary>
public sealed class ImageCommandOutputsTests : IDisposable
{
    readonly string dir = TestCli.TempDir("sam2-imageout-");
    readonly string folder = Golden.Folders()[0];
    public void Dispose() => Directory.Delete(dir, recursive: true);

    string P(string name) => Path.Combine(dir, name);

    (int Code, string Line) Run(string checkpoint, params string[] outputs)
    {
        var (code, err) = TestCli.RunCapturingErrors(ImageCommand.Create(), ["image", "--checkpoint", checkpoint,
            "--config", Path.Combine(folder, "config.yaml"), "--image", Path.Combine(folder, "inputs", "image.png"), "--point", "40,40", .. outputs]);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(code == 0 ? lines.Length == 0 : lines.Length == 1, err);
        return (code, lines.FirstOrDefault() ?? "");
    }

    string Model => Path.Combine(folder, "model.pt");

    /// <summary>A checkpoint that cannot be read: a refusal that names the outputs came before the model was loaded.</summary>
    string Unreadable()
    {
        var p = P("fake.pt");
        File.WriteAllText(p, "not a checkpoint");
        return p;
    }

    string[] Entries() => Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    [Fact]
    public void AnExistingOutputIsReplacedOnlyWithForce()
    {
        File.WriteAllText(P("m.png"), "mine");
        var (code, line) = Run(Model, "--output", P("m.png"), "--save-tensors", P("t.safetensors"));
        Assert.Equal(1, code);
        Assert.Equal($"error: --output {P("m.png")} exists; refusing to overwrite it (give --force to replace it)", line);
        Assert.Equal("mine", File.ReadAllText(P("m.png")));
        Assert.Equal(["m.png"], Entries());

        Assert.Equal(0, Run(Model, "--output", P("m.png"), "--save-tensors", P("t.safetensors"), "--force").Code);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(P("m.png"))[..4]);
        Assert.Equal(["m.png", "t.safetensors"], Entries());
    }

    [Theory]
    [InlineData(false, "--overlay", "m.png")]
    [InlineData(true, "--overlay", "m-2.png")]
    [InlineData(false, "--save-tensors", "m.png")]
    public void TwoOutputsOnOnePathAreRefused(bool multimask, string other, string name)
    {
        string[] args = ["--output", P("m.png"), other, P(name), .. multimask ? new[] { "--multimask" } : []];
        var (code, line) = Run(Unreadable(), args);
        Assert.Equal(1, code);
        Assert.Contains($"--output and {other} are the same path ({P(name)})", line);
        Assert.Equal(["fake.pt"], Entries());
    }

    [Fact]
    public void ASymbolicLinkOrFifoIsNeverReplacedEvenWithForce()
    {
        File.WriteAllText(P("real.png"), "keep");
        File.CreateSymbolicLink(P("link.png"), P("real.png"));
        StagedOutputsTests.MakeFifo(P("pipe.png"));
        foreach (var (name, kind) in new[] { ("link.png", "a symbolic link"), ("pipe.png", "a FIFO (named pipe)") })
        {
            var (code, line) = Run(Unreadable(), "--overlay", P(name), "--force");
            Assert.Equal(1, code);
            Assert.Equal($"error: --overlay {P(name)} exists and is {kind}; refusing to replace it (give a new name)", line);
        }
        Assert.Equal("keep", File.ReadAllText(P("real.png")));
        Assert.Equal(["fake.pt", "link.png", "pipe.png", "real.png"], Entries());
    }

    [Fact]
    public void AnUnwritableFolderIsFoundBeforeTheModel()
    {
        var (code, line) = Run(Unreadable(), "--output", "/proc/sam2-mask.png");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --output /proc/sam2-mask.png: cannot write in the folder /proc", line);
        var (code2, line2) = Run(Unreadable(), "--output", Path.Combine(P("fake.pt"), "m.png"));
        Assert.Equal(1, code2);
        Assert.Contains($"{P("fake.pt")} is a file, not a folder", line2);
        Assert.Equal(["fake.pt"], Entries());
    }
}
