using System.CommandLine;

namespace SmVL.Experiments;

/// <summary>One CLI verb (one file per verb under Verbs/).</summary>
public interface IVerb
{
    string Name { get; }
    string Summary { get; }
    /// <summary>Everything the verb accepts (<see cref="Opt"/>); anything else is a usage error.</summary>
    IReadOnlyList<Symbol> Options { get; }
    /// <param name="cancel">set by Ctrl+C / SIGTERM: long work stops at its next safe point</param>
    Task<int> RunAsync(Args args, CancellationToken cancel);
}

/// <summary>A usage error: printed without a stack trace, exit code 2.</summary>
public sealed class CliException(string message) : Exception(message);
