using System.CommandLine;
using TorchSharp;

namespace SmVL.Experiments.Verbs;

/// <summary>`smvl env`: what this machine gives TorchSharp (version, device, threads).</summary>
public sealed class EnvVerb : IVerb
{
    public string Name => "env";
    public string Summary => "print TorchSharp/libtorch versions, device and threads";

    public IReadOnlyList<Symbol> Options { get; } = [];

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        Console.WriteLine($"libtorch   {torch.__version__}");
        Console.WriteLine($"TorchSharp {typeof(torch).Assembly.GetName().Version}");
        Console.WriteLine($"device     {SmVL.Devices.Default}");
        Console.WriteLine($"threads    {torch.get_num_threads()}");
        return Task.FromResult(0);
    }
}
