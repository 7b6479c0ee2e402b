using TorchSharp;
using Xunit;

namespace SmVL.Tests;

public class DevicesTests
{
    [Fact]
    public void TorchSharpLoadsAndComputes()
    {
        using var a = torch.arange(6, dtype: torch.float32);
        Assert.Equal(15.0f, a.sum().item<float>());
    }
}
