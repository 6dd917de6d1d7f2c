using TorchSharp;
using Xunit;

namespace Sam2Sharp.Tests;

public class SmokeTests
{
    [Fact]
    public void TorchStartsAndGoldenFoldersAreFound()
    {
        Assert.Equal(4f, torch.ones(2, 2).sum().item<float>());
        Assert.NotEmpty(Golden.Folders());
    }
}
