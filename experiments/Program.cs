using System.Reflection;
using SmVL.Experiments;

// The SmVL command line: `smvl <verb> [options]`. Each verb is one file under Verbs/ implementing
// IVerb; they are discovered here so adding a verb never touches this file.
var verbs = typeof(IVerb).Assembly.GetTypes()
    .Where(t => typeof(IVerb).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
    .Select(t => (IVerb)Activator.CreateInstance(t)!)
    .OrderBy(v => v.Name)
    .ToDictionary(v => v.Name);

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine("usage: smvl <verb> [options]\n");
    foreach (var v in verbs.Values) Console.WriteLine($"  {v.Name,-14} {v.Summary}");
    return args.Length == 0 ? 2 : 0;
}
if (!verbs.TryGetValue(args[0], out var verb))
{
    Console.Error.WriteLine($"smvl: unknown verb '{args[0]}'. Known: {string.Join(", ", verbs.Keys)}");
    return 2;
}
try
{
    return await verb.RunAsync(new Args(args.Skip(1).ToArray()));
}
catch (CliException e)
{
    Console.Error.WriteLine($"smvl {verb.Name}: {e.Message}");
    return 2;
}
