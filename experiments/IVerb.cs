namespace SmVL.Experiments;

/// <summary>One CLI verb (one file per verb under Verbs/).</summary>
public interface IVerb
{
    string Name { get; }
    string Summary { get; }
    Task<int> RunAsync(Args args);
}

/// <summary>A usage error: printed without a stack trace, exit code 2.</summary>
public sealed class CliException(string message) : Exception(message);
