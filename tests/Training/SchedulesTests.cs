using SmVL.Training;
using Xunit;

namespace SmVL.Tests.Training;

/// <summary>HF's get_cosine/linear_schedule_with_warmup values, computed by hand.</summary>
public class SchedulesTests
{
    [Theory]
    [InlineData(0, 0.0)]
    [InlineData(5, 5e-5)]          // warmup: 5/10
    [InlineData(10, 1e-4)]         // peak
    [InlineData(40, 7.5e-5)]       // progress 30/90 = 1/3: ½(1 + cos π/3) = 0.75
    [InlineData(55, 5e-5)]         // progress ½: ½(1 + cos π/2) = 0.5
    [InlineData(70, 2.5e-5)]       // progress 2/3: ½(1 + cos 2π/3) = 0.25
    [InlineData(100, 0.0)]
    [InlineData(120, 1.1697777844051098e-5)] // past the end HF does not clamp progress: ½(1 + cos(11π/9)) = ½(1 − 0.766044443) (the trainer never goes there)
    public void CosineWithWarmup(long step, double expected) =>
        Assert.Equal(expected, Schedules.Cosine(step, warmup: 10, total: 100, peak: 1e-4), 1e-15);

    [Theory]
    [InlineData(0, 0.0)]
    [InlineData(25, 5e-5)]
    [InlineData(50, 1e-4)]
    [InlineData(125, 5e-5)]                  // (200 − 125) / 150
    [InlineData(199, 1e-4 / 150)]            // the cocoqa chart's last lr: 6.6667e-7
    [InlineData(200, 0.0)]
    public void LinearWithWarmup(long step, double expected) =>
        Assert.Equal(expected, Schedules.Linear(step, warmup: 50, total: 200, peak: 1e-4), 1e-15);

    [Fact]
    public void WarmupFromRatioIsCeiled()
    {
        Assert.Equal(192, new TrainOptions { Steps = 1920, WarmupRatio = 0.1 }.Warmup);
        Assert.Equal(45, new TrainOptions { Steps = 1500, WarmupRatio = 0.03 }.Warmup);
        Assert.Equal(1, new TrainOptions { Steps = 5, WarmupRatio = 0.1 }.Warmup);       // ceil(0.5)
        Assert.Equal(50, new TrainOptions { Steps = 200, WarmupRatio = 0.1, WarmupSteps = 50 }.Warmup);
        var full = Schedules.Create("cosine", 192, 1920, 1e-4);
        Assert.Equal(1e-4, full(192), 1e-15);
        Assert.Equal(5e-5, full(192 + 864), 1e-15);
        Assert.Equal(1e-4, Schedules.Create("constant", 0, 10, 1e-4)(7));
        Assert.Throws<ArgumentException>(() => Schedules.Create("step", 0, 10, 1e-4));
    }
}
