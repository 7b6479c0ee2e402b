using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace SmVL.Experiments;

/// <summary>
/// A verb's parsed command line (System.CommandLine). Verbs declare their options with
/// <see cref="Opt"/>; parsing has already rejected undeclared options, missing values, values of
/// the wrong type and values outside the declared range, so the accessors only read.
/// </summary>
public sealed class Args(ParseResult parse, Command command)
{
    private Option Find(string key) => command.Options.FirstOrDefault(o => o.Name == "--" + key)
        ?? throw new InvalidOperationException($"smvl {command.Name}: option --{key} is read but not declared");

    /// <summary>Positional words (the verb's one <see cref="Opt.Rest"/> argument).</summary>
    public IReadOnlyList<string> Positional => command.Arguments.FirstOrDefault() is Argument<string[]> rest ? parse.GetValue(rest) ?? [] : [];

    public bool Has(string key) => parse.GetResult(Find(key)) is { Implicit: false };
    public bool Flag(string key) => Has(key) && parse.GetValue((Option<bool>)Find(key));
    public string? Get(string key) => Has(key) ? parse.GetValue((Option<string>)Find(key)) : null;
    public string Require(string key) => Get(key) ?? throw new CliException($"missing --{key}");
    public IReadOnlyList<string> All(string key) => Has(key) ? parse.GetValue((Option<string[]>)Find(key)) ?? [] : [];
    public int Int(string key, int fallback) => Has(key) ? parse.GetValue((Option<int>)Find(key)) : fallback;
    public long? Long(string key) => Has(key) ? parse.GetValue((Option<long>)Find(key)) : null;
    public double Double(string key, double fallback) => Has(key) ? parse.GetValue((Option<double>)Find(key)) : fallback;
}

/// <summary>Option declarations with their help text and range checks (checked at parse time).</summary>
public static class Opt
{
    public static Option<string> Text(string name, string help, bool required = false, params string[] oneOf)
    {
        var o = new Option<string>("--" + name) { Description = help, Required = required };
        if (oneOf.Length > 0) o.AcceptOnlyFromAmong(oneOf);
        return o;
    }

    public static Option<string[]> Many(string name, string help, bool required = false) =>
        new("--" + name) { Description = help + " (repeat the option for more)", Required = required, Arity = ArgumentArity.OneOrMore };

    public static Option<bool> Flag(string name, string help) => new("--" + name) { Description = help };

    public static Option<int> Int(string name, string help, int min = int.MinValue) =>
        Checked(new Option<int>("--" + name) { Description = help }, s => int.TryParse(s, CultureInfo.InvariantCulture, out var v) ? v : null, min);

    public static Option<long> Long(string name, string help, long min = long.MinValue) =>
        Checked(new Option<long>("--" + name) { Description = help }, s => long.TryParse(s, CultureInfo.InvariantCulture, out var v) ? v : null, min);

    /// <summary>A finite number: greater than <paramref name="above"/>, at least <paramref name="min"/>, at most <paramref name="max"/> where given.</summary>
    public static Option<double> Number(string name, string help, double? above = null, double? max = null, double? min = null)
    {
        var o = new Option<double>("--" + name) { Description = help };
        o.Validators.Add(r =>
        {
            if (r.Tokens.Count == 0 || !double.TryParse(r.Tokens[^1].Value, CultureInfo.InvariantCulture, out var v)) return;   // the type error is reported by the parser
            if (!double.IsFinite(v) || v <= above || v < min || v > max)
                r.AddError($"--{name} must be a finite number{(above is { } a ? $" > {a}" : "")}{(min is { } n ? $" ≥ {n}" : "")}{(max is { } m ? $" ≤ {m}" : "")}, got {r.Tokens[^1].Value}");
        });
        return o;
    }

    /// <summary>The verb's positional words.</summary>
    public static Argument<string[]> Rest(string name, string help) => new(name) { Description = help, Arity = ArgumentArity.ZeroOrMore };

    private static Option<T> Checked<T>(Option<T> o, Func<string, T?> parse, T min) where T : struct, IComparable<T>
    {
        o.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && parse(r.Tokens[^1].Value) is { } v && v.CompareTo(min) < 0)
                r.AddError($"{o.Name} must be at least {min}, got {r.Tokens[^1].Value}");
        });
        return o;
    }
}
