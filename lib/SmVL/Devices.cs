using TorchSharp;

namespace SmVL;

/// <summary>The device chosen at run time: CUDA when libtorch has it, else CPU. SMVL_DEVICE overrides.</summary>
public static class Devices
{
    public static torch.Device Default => Environment.GetEnvironmentVariable("SMVL_DEVICE") is { Length: > 0 } d
        ? torch.device(d)
        : torch.cuda.is_available() ? torch.CUDA : torch.CPU;
}
