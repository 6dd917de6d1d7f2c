using Sam2Sharp.Cli.Commands;
using Xunit;
using TorchSharp;
using static TorchSharp.torch;

namespace Sam2Sharp.Tests;

/// <summary><c>--device</c>: names parsed, an unavailable device refused in one line before the model loads.</summary>
public class DeviceFlagTests
{
    [Fact]
    public void DeviceNamesParseAndCudaIsCheckedAgainstThisMachine()
    {
        Assert.Equal(DeviceType.CPU, Sam2ModelOptions.ParseDevice(" CPU ").type);
        Assert.Contains("expected cpu, cuda or cuda:N", Assert.Throws<Sam2Exception>(() => Sam2ModelOptions.ParseDevice("tpu")).Message);
        Assert.Contains("expected cpu, cuda or cuda:N", Assert.Throws<Sam2Exception>(() => Sam2ModelOptions.ParseDevice("cuda:-1")).Message);
        if (cuda.is_available())
            Assert.Equal(DeviceType.CUDA, Sam2ModelOptions.ParseDevice("cuda").type);
        else
            Assert.Contains("no CUDA device is available", Assert.Throws<Sam2Exception>(() => Sam2ModelOptions.ParseDevice("cuda:0")).Message);
    }

    [Fact]
    public void ImageCommandRefusesAnUnknownDeviceInOneLine()
    {
        var folder = Golden.Folders().First();
        string dir = TestCli.TempDir("sam2-device-"), output = Path.Combine(dir, "mask.png");
        try
        {
            var (rc, err) = TestCli.RunCapturingErrors(ImageCommand.Create(),
                ["image", "--checkpoint", Path.Combine(folder, "model.pt"), "--config", Path.Combine(folder, "config.yaml"),
                 "--image", Directory.EnumerateFiles(Path.Combine(folder, "inputs"), "*.png").Order().First(), "--point", "10,10", "--output", output, "--device", "gpu7"]);
            Assert.Equal(1, rc);
            Assert.Equal("error: device 'gpu7': expected cpu, cuda or cuda:N", err.Trim());
            Assert.False(File.Exists(output));
        }
        finally { Directory.Delete(dir, true); }
    }
}
