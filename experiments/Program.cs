using System.Runtime.InteropServices;
using SmVL.Experiments;

// The SmVL command line: `smvl <verb> [options]` (Cli.cs; one file per verb under Verbs/).
SmVL.NativeAllocator.Enable();
using var interrupt = new CancellationTokenSource();
// First Ctrl+C (or SIGTERM): stop at the next safe point; a second Ctrl+C ends the process at once.
Console.CancelKeyPress += (_, e) =>
{
    if (interrupt.IsCancellationRequested) return;
    e.Cancel = true;
    Console.Error.WriteLine("\nsmvl: stopping at the next step boundary (Ctrl+C again to quit at once)");
    interrupt.Cancel();
};
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; interrupt.Cancel(); });
return await Cli.RunAsync(args, interrupt.Token);
