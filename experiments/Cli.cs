using System.CommandLine;
using System.Text.Json;
using SmVL.Checkpoints;
using SmVL.Processing;
using SmVL.Training;

namespace SmVL.Experiments;

/// <summary>
/// The command line over the verbs: System.CommandLine parses (per-verb --help, --version,
/// undeclared options and bad values rejected), then one verb runs. Exit codes: 0 done, 1 a
/// failure (one line naming the file, tensor or flag, never a stack trace), 2 a usage error,
/// 130 interrupted (training stops at a step boundary and says how to resume).
/// </summary>
public static class Cli
{
    /// <summary>Every verb (one file per verb under Verbs/), found by reflection.</summary>
    public static IReadOnlyList<IVerb> Verbs { get; } = typeof(IVerb).Assembly.GetTypes()
        .Where(t => typeof(IVerb).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
        .Select(t => (IVerb)Activator.CreateInstance(t)!)
        .OrderBy(v => v.Name)
        .ToList();

    public static async Task<int> RunAsync(string[] argv, CancellationToken cancel, TextWriter? output = null, TextWriter? error = null)
    {
        output ??= Console.Out;
        error ??= Console.Error;
        var root = new RootCommand("SmVL: the Qwen3-SmVL model-stitching experiment in .NET (TorchSharp)");
        foreach (var verb in Verbs)
        {
            var command = Command(verb);
            command.SetAction((parse, _) => Run(verb, new Args(parse, command), cancel, error));
            root.Subcommands.Add(command);
        }
        var parsed = root.Parse(argv);
        if (parsed.Errors.Count > 0)
        {
            string where = parsed.CommandResult.Command == root ? "smvl" : $"smvl {parsed.CommandResult.Command.Name}";
            foreach (var e in parsed.Errors) await error.WriteLineAsync($"{where}: {e.Message}");
            await error.WriteLineAsync($"({where} --help lists what it accepts)");
            return 2;
        }
        return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null, Output = output, Error = error });
    }

    /// <summary>Parses <paramref name="argv"/> for one verb and runs it; usage errors throw <see cref="CliException"/> (for tests and callers in code).</summary>
    public static Task<int> Invoke(IVerb verb, string[] argv, CancellationToken cancel = default)
    {
        var command = Command(verb);
        var parsed = command.Parse(argv);
        if (parsed.Errors.Count > 0) throw new CliException(string.Join("; ", parsed.Errors.Select(e => e.Message)));
        return verb.RunAsync(new Args(parsed, command), cancel);
    }

    private static Command Command(IVerb verb)
    {
        var command = new Command(verb.Name, verb.Summary);
        foreach (var symbol in verb.Options)
            if (symbol is Option o) command.Options.Add(o); else command.Arguments.Add((Argument)symbol);
        return command;
    }

    private static async Task<int> Run(IVerb verb, Args args, CancellationToken cancel, TextWriter error)
    {
        try { return await verb.RunAsync(args, cancel); }
        catch (CliException e) { return await Fail(e.Message, 2); }
        catch (OperationCanceledException e) when (cancel.IsCancellationRequested) { return await Fail(e.Message, 130); }
        catch (Exception e) when (e is CheckpointException or TrainingDivergedException or ImageDecodeException or JsonException
                                     or InvalidDataException or FileNotFoundException or DirectoryNotFoundException or IOException
                                     or UnauthorizedAccessException)
        {
            return await Fail(e.Message, 1);
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("SMVL_TRACE") is null)
        {
            return await Fail($"{e.GetType().Name}: {e.Message} (a bug: SMVL_TRACE=1 prints the stack trace for a report)", 1);
        }

        async Task<int> Fail(string message, int code)
        {
            await error.WriteLineAsync($"smvl {verb.Name}: {message}");
            return code;
        }
    }
}
