namespace SmVL.Processing;

/// <summary>
/// JavaScript run after @huggingface/jinja's index.cjs, in the same global scope (the bundle's
/// top-level classes and functions are globals there). It builds the render context with Python's
/// types and makes the engine print values the way Python jinja2 + transformers does, where
/// @huggingface/jinja 0.5.11 differs (each difference is proven by a probe in
/// tests/fixtures/templates/reference.json):
/// <list type="bullet">
/// <item>the context arrives as tagged JSON, so 1.0 stays a float (plain JSON.parse makes it an
/// int) and object keys keep their order (JS objects move integer-like keys such as "2" first);</item>
/// <item>floats print as Python's repr (1e+16, 1e-05, 1.0) in output and in tojson (JS gives
/// 10000000000000000.0, 0.00001 and 1);</item>
/// <item>true/false/none print as True/False/None, lists and dicts as Python's repr;</item>
/// <item>tojson is json.dumps as transformers binds it: ", "/": " separators, "," when indented,
/// indent=0 still breaks lines, sort_keys by code point, ensure_ascii as \uXXXX pairs;</item>
/// <item>an output expression that is None prints "None" (the bundle prints nothing);</item>
/// <item>a for loop over a string iterates its characters (the bundle throws; the SmVL template
/// does this for a user message whose string content is a tool response);</item>
/// <item>strip/lstrip/rstrip honour their characters argument, e.g. .strip('\n');</item>
/// <item>capitalize lowercases the rest ("uSER" → "User"; SmolVLM2's template capitalizes roles);</item>
/// <item>strftime_now formats through .NET with Python's C-locale names.</item>
/// </list>
/// <item>Python's type rules where the bundle is lenient: str + non-str raises, attribute or item
/// access on an undefined value raises, ~ and the string filters (trim, upper, string, ...) take
/// any value through Python's str();</item>
/// <item>% takes the divisor's sign, * repeats strings and lists, dict items are tuples, a dict is
/// iterable, and the common str methods the bundle lacks (find, count, rjust, isdigit, ...) exist;</item>
/// <item>== and != compare as Python does (no JavaScript coercion: "" != false);</item>
/// <item>integers beyond 2^53 print with all their digits (arithmetic on them is approximate).</item>
/// </summary>
internal static class ChatTemplatePolyfill
{
    /// <summary>The script (ChatTemplatePolyfill.js, embedded in the assembly).</summary>
    public static string Script { get; } = EmbeddedText.Read("ChatTemplatePolyfill.js");
}
