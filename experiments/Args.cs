namespace SmVL.Experiments;

/// <summary>
/// Minimal `--key value` / `--flag` parser. Options may repeat (`--image a --image b`); anything
/// not starting with `--` is positional.
/// </summary>
public sealed class Args
{
    private readonly Dictionary<string, List<string>> _options = new();
    private readonly HashSet<string> _used = new();
    public List<string> Positional { get; } = new();

    public Args(string[] argv)
    {
        for (int i = 0; i < argv.Length; i++)
        {
            if (!argv[i].StartsWith("--")) { Positional.Add(argv[i]); continue; }
            string key = argv[i][2..];
            string? value = null;
            int eq = key.IndexOf('=');
            if (eq >= 0) { value = key[(eq + 1)..]; key = key[..eq]; }
            else if (i + 1 < argv.Length && !argv[i + 1].StartsWith("--")) value = argv[++i];
            if (!_options.TryGetValue(key, out var list)) _options[key] = list = new();
            list.Add(value ?? "true");
        }
    }

    public bool Has(string key) { _used.Add(key); return _options.ContainsKey(key); }
    public bool Flag(string key) => Has(key) && _options[key][^1] != "false";
    public string? Get(string key) => Has(key) ? _options[key][^1] : null;
    public string Require(string key) => Get(key) ?? throw new CliException($"missing --{key}");
    public IReadOnlyList<string> All(string key) => Has(key) ? _options[key] : Array.Empty<string>();
    public int Int(string key, int fallback) => Get(key) is { } s ? int.TryParse(s, out var v) ? v : throw new CliException($"--{key} expects an integer, got '{s}'") : fallback;
    public long? Long(string key) => Get(key) is { } s ? long.TryParse(s, out var v) ? v : throw new CliException($"--{key} expects an integer, got '{s}'") : null;
    public double Double(string key, double fallback) => Get(key) is { } s ? double.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : throw new CliException($"--{key} expects a number, got '{s}'") : fallback;
}
