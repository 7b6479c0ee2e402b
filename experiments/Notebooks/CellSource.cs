using System.Text.RegularExpressions;

namespace SmVL.Experiments.Notebooks;

public abstract record Reference;
/// <summary><c>#r "nuget: Id, Version"</c>; a missing version means the newest the registry serves.</summary>
public sealed record NuGetReference(string Id, string? Version) : Reference
{
    public override string ToString() => Version is null ? Id : $"{Id}, {Version}";
}
/// <summary><c>#r "path.dll"</c>, already made absolute against the notebook's directory.</summary>
public sealed record FileReference(string Path) : Reference;

/// <summary>
/// A code cell's source with the dotnet-interactive directives taken out: <c>#r</c> and <c>#i</c>
/// lines (the runner resolves them itself, anywhere in the cell, as dotnet-interactive does) and
/// <c>#!</c> magics. Removed lines become blank so compiler line numbers still match the cell.
/// </summary>
public sealed record CellSource(string Code, IReadOnlyList<Reference> References, IReadOnlyList<string> NuGetSources)
{
    private static readonly Regex Directive = new(@"^\s*#(r|i)\s+""(?<arg>[^""]*)""\s*(//.*)?$", RegexOptions.Compiled);
    private static readonly Regex Magic = new(@"^\s*#!(?<name>\S+)", RegexOptions.Compiled);
    private static readonly HashSet<string> CSharpSelectors = new(StringComparer.OrdinalIgnoreCase) { "csharp", "c#" };
    private static readonly HashSet<string> OtherLanguages = new(StringComparer.OrdinalIgnoreCase)
        { "fsharp", "f#", "pwsh", "powershell", "javascript", "js", "html", "markdown", "md", "sql", "kql", "mermaid", "value", "http" };
    // Magics that only inform or time; dropping them does not change what the cell computes.
    private static readonly HashSet<string> Harmless = new(StringComparer.OrdinalIgnoreCase) { "time", "about", "lsmagic", "who", "whos" };

    /// <exception cref="NotSupportedException">a magic the runner cannot honour, or a non-C# language selector</exception>
    public static CellSource Parse(string source, string notebookDirectory)
    {
        var lines = source.Replace("\r\n", "\n").Split('\n');
        var refs = new List<Reference>();
        var sources = new List<string>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (Magic.Match(lines[i]) is { Success: true } magic)
            {
                string name = magic.Groups["name"].Value;
                if (OtherLanguages.Contains(name))
                    throw new NotSupportedException($"line {i + 1}: #!{name} switches the cell to another language; only C# runs here");
                if (!CSharpSelectors.Contains(name) && !Harmless.Contains(name))
                    throw new NotSupportedException($"line {i + 1}: magic command #!{name} is not supported by the headless runner");
                lines[i] = "";
            }
            else if (Directive.Match(lines[i]) is { Success: true } d)
            {
                string arg = d.Groups["arg"].Value.Trim();
                bool nuget = arg.StartsWith("nuget:", StringComparison.OrdinalIgnoreCase);
                string rest = nuget ? arg["nuget:".Length..].Trim() : arg;
                if (d.Groups[1].Value == "i")
                {
                    if (!nuget) throw new NotSupportedException($"line {i + 1}: #i only takes \"nuget: <source>\"");
                    sources.Add(rest);
                }
                else if (nuget)
                {
                    var parts = rest.Split(',', 2, StringSplitOptions.TrimEntries);
                    if (parts[0].Length == 0) throw new NotSupportedException($"line {i + 1}: #r \"nuget:\" names no package");
                    refs.Add(new NuGetReference(parts[0], parts.Length > 1 && parts[1].Length > 0 ? parts[1] : null));
                }
                else refs.Add(new FileReference(Path.GetFullPath(Path.Combine(notebookDirectory, rest))));
                lines[i] = "";
            }
        }
        return new CellSource(string.Join('\n', lines), refs, sources);
    }
}
